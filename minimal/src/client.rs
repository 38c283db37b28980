//! The client's rules, with or without a window: its own ship predicted, everyone else's
//! interpolated, the pickups logged, and a bot pilot for headless clients. The helm is written
//! into [`LocalInput<Helm>`] by whatever drives it: the keyboard (`window`), the bot, a test.

use bevy::prelude::*;
use skirmish_net::prelude::*;

use crate::shared::{Collected, Gem, GemsPlugin, Helm, Ship, steer};

/// The pickups this client heard of, newest last.
#[derive(Resource, Debug, Default)]
pub struct PickupLog(pub Vec<Collected>);

/// The game's client side.
pub struct GemsClientPlugin;

impl Plugin for GemsClientPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((GemsPlugin, NetClientPlugin))
            .init_resource::<PickupLog>()
            .add_systems(PredictionStep, fly_own_ship)
            .add_systems(
                PreUpdate,
                log_pickups
                    .after(ClientSystems::Receive)
                    .before(ClientSystems::Reconcile),
            );
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

/// The helm that turns `ship` towards `target` and thrusts once roughly facing it.
pub fn helm_towards(ship: Ship, target: Vec2) -> Helm {
    use std::f32::consts::{PI, TAU};
    let wanted = (target - ship.at).to_angle();
    let turn = (wanted - ship.heading + PI).rem_euclid(TAU) - PI;
    Helm {
        turn: (turn * 4.0).clamp(-1.0, 1.0),
        thrust: turn.abs() < 0.5,
    }
}

/// A bot pilot: flies its own ship to the nearest gem (headless clients of `gems bots`).
pub struct BotPilotPlugin;

impl Plugin for BotPilotPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, fly_to_nearest_gem);
    }
}

fn fly_to_nearest_gem(
    ships: Query<&Predicted<Ship>, With<Controlled>>,
    gems: Query<&Gem>,
    mut helm: ResMut<LocalInput<Helm>>,
) {
    let Ok(ship) = ships.single() else {
        return;
    };
    let nearest = gems.iter().map(Gem::at).min_by(|a, b| {
        a.distance(ship.value.at)
            .total_cmp(&b.distance(ship.value.at))
    });
    helm.0 = nearest.map_or_else(Helm::default, |gem| helm_towards(ship.value, gem));
}
