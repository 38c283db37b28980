//! The authoritative app: a ship for every client that joins (gone when it leaves), helms
//! applied each tick, gems scattered and collected.

use bevy::prelude::*;
use skirmish_net::prelude::*;

use crate::shared::{
    Collected, FIELD_HALF, Gem, GemsPlugin, Haul, Helm, PICKUP_RADIUS, Pilot, Ship, steer,
};

/// Gems on the field at once.
pub const GEMS: usize = 8;

/// The game's server rules, simulated `tick_rate` times a second.
pub struct GemsServerPlugin {
    /// Simulation ticks per second.
    pub tick_rate: u16,
}

impl Default for GemsServerPlugin {
    fn default() -> Self {
        Self { tick_rate: 30 }
    }
}

impl Plugin for GemsServerPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((GemsPlugin, NetServerPlugin::new(self.tick_rate)))
            .insert_resource(Scatter(fastrand::Rng::with_seed(0x5EED)))
            .add_observer(launch_ship)
            .add_systems(
                FixedUpdate,
                (
                    fly_ships.after(ServerSystems::Inputs),
                    (collect_gems, scatter_gems).chain(),
                )
                    .chain()
                    .in_set(SimulationSystems::Simulate),
            );
    }
}

/// A ship for a client that joined, controlled by it (so it leaves with it).
fn launch_ship(joined: On<ClientJoined>, mut commands: Commands) {
    commands.spawn((
        Replicated,
        Pilot(joined.client_id),
        ControlledBy(joined.client),
    ));
}

/// Every ship flies by its client's helm for this tick.
fn fly_ships(
    time: Res<Time>,
    helms: Query<&ClientInput<Helm>>,
    mut ships: Query<(&ControlledBy, &mut Ship)>,
) {
    for (controlled_by, mut ship) in &mut ships {
        if let Ok(helm) = helms.get(controlled_by.0) {
            // An unchanged ship costs no byte: its quantized value is compared, not sent.
            *ship = steer(*ship, helm.0, time.delta_secs());
        }
    }
}

/// Ships that touch a gem take it; everyone hears.
fn collect_gems(
    mut commands: Commands,
    gems: Query<(Entity, &Gem)>,
    mut pilots: Query<(&Pilot, &Ship, &mut Haul)>,
    mut collected: MessageWriter<ToClients<Collected>>,
) {
    for (entity, gem) in &gems {
        let taker = pilots
            .iter_mut()
            .find(|(_, ship, _)| ship.at.distance(gem.at()) <= PICKUP_RADIUS);
        if let Some((pilot, _, mut haul)) = taker {
            haul.0 += 1;
            commands.entity(entity).despawn();
            collected.write(ToClients {
                to: SendTo::All,
                message: Collected {
                    pilot: pilot.0,
                    haul: haul.0,
                },
            });
        }
    }
}

/// Where the next gems fall: seeded, so a run is reproducible.
#[derive(Resource)]
struct Scatter(fastrand::Rng);

/// Keeps [`GEMS`] gems on the field.
fn scatter_gems(mut commands: Commands, gems: Query<(), With<Gem>>, mut scatter: ResMut<Scatter>) {
    for _ in gems.iter().count()..GEMS {
        let at = Vec2::new(scatter.0.f32(), scatter.0.f32()) * 2.0 * FIELD_HALF - FIELD_HALF;
        commands.spawn((Replicated, Gem { x: at.x, y: at.y }));
    }
}
