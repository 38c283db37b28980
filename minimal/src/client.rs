//! A client app: its own ship predicted, everyone else's interpolated, the pickups logged. No
//! window here: one needs Bevy's `default_app` and 2D rendering features (the demo's client
//! manifest, `crates/client/Cargo.toml`, lists the ones a 2D game needs), `DefaultPlugins`, a
//! camera and a sprite per [`Ship`]. The helm is written into [`LocalInput<Helm>`] by whatever
//! drives it.

use std::net::SocketAddr;

use bevy::prelude::*;
use skirmish_net::prelude::*;

use crate::shared::{Collected, GemsPlugin, Helm, Pilot, Ship, steer};

/// The pickups this client heard of, newest last.
#[derive(Resource, Debug, Default)]
pub struct PickupLog(pub Vec<Collected>);

/// The game's client side.
pub struct GemsClientPlugin;

impl Plugin for GemsClientPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((GemsPlugin, NetClientPlugin::<Helm>::default()))
            .predict::<Ship>()
            .interpolate::<Ship>()
            .init_resource::<PickupLog>()
            .add_systems(PredictionStep, fly_own_ship)
            .add_systems(
                PreUpdate,
                (take_the_helm, log_pickups)
                    .after(ClientSystems::Receive)
                    .before(ClientSystems::Reconcile),
            );
    }
}

/// A headless client app connecting to `server` as `name`.
pub fn client_app(server: SocketAddr, name: &str) -> Result<App, ConnectError> {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, GemsClientPlugin));
    skirmish_net::client::connect(app.world_mut(), server, name)?;
    Ok(app)
}

/// Our own ship is the one whose pilot is us: predict it.
fn take_the_helm(
    mut commands: Commands,
    session: Res<ClientSession>,
    ships: Query<(Entity, &Pilot), Without<Controlled>>,
) {
    if !session.welcomed {
        return;
    }
    for (entity, pilot) in &ships {
        if pilot.0 == session.client_id {
            commands.entity(entity).insert(Controlled);
        }
    }
}

/// One tick of our ship under our helm, with the same rule the server runs.
fn fly_own_ship(input: Res<PredictedInput<Helm>>, mut ships: Query<&mut Predicted<Ship>>) {
    for mut ship in &mut ships {
        ship.value = steer(ship.value, input.input, input.dt);
    }
}

fn log_pickups(mut pickups: MessageReader<Collected>, mut log: ResMut<PickupLog>) {
    log.0.extend(pickups.read().copied());
}

/// Steers: what a player's keys (or a bot) would write every frame.
pub fn set_helm(app: &mut App, helm: Helm) {
    app.world_mut().resource_mut::<LocalInput<Helm>>().0 = helm;
}
