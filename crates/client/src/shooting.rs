//! The local player's shots, predicted: a projectile appears in the frame of the click, flies
//! with the shared numbers, and is matched to the server's projectile when that arrives (no
//! double, no jump); a shot the server refused (cooldown, death) disappears.

use bevy::prelude::*;
use skirmish_net::client::{
    ClientSession, ClientSystems, InputHistory, Predicted, PredictedSpawn, SpawnMatched,
};
use skirmish_shared::game::{
    FIRE_COOLDOWN_TICKS, PLAYER_RADIUS, PROJECTILE_LIFETIME_TICKS, PROJECTILE_RADIUS,
    PROJECTILE_SPEED,
};
use skirmish_shared::prelude::*;

use crate::net::LocalPlayer;

pub(super) fn plugin(app: &mut App) {
    app.add_observer(hand_over_flight).add_systems(
        FixedUpdate,
        (fire_predicted, fly_locally)
            .chain()
            .after(ClientSystems::SendInput),
    );
}

/// A projectile this client flies itself: its own shots, from the click until they end.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct LocalFlight {
    /// Where it is now.
    pub position: Vec2,
    /// Units per second.
    pub velocity: Vec2,
    /// The client tick it fizzles at.
    pub expires: u32,
    /// Whether it ended (hit a wall, left the arena or fizzled): no longer shown.
    pub ended: bool,
}

/// Spawns the local player's projectile for this tick's input, as the server will.
fn fire_predicted(
    mut commands: Commands,
    history: Res<InputHistory<InputFrame>>,
    session: Res<ClientSession>,
    mut ready_at: Local<u32>,
    players: Query<(&Predicted<Position>, &Health), With<LocalPlayer>>,
) {
    let (Some(input), Some(tick)) = (history.sent_this_tick(), history.tick_sent_this_tick())
    else {
        return;
    };
    let Ok((predicted, health)) = players.single() else {
        return;
    };
    if !input.fire || input.aim == Vec2::ZERO || !health.is_alive() || tick < *ready_at {
        return;
    }
    *ready_at = tick.saturating_add(FIRE_COOLDOWN_TICKS);
    let muzzle = predicted.value.0 + input.aim * (PLAYER_RADIUS + PROJECTILE_RADIUS + 1.0);
    commands.spawn((
        Name::new("Predicted projectile"),
        PredictedSpawn { key: tick },
        Projectile {
            owner: session.client_id,
        },
        Position(muzzle),
        LocalFlight {
            position: muzzle,
            velocity: input.aim * PROJECTILE_SPEED,
            expires: tick.saturating_add(PROJECTILE_LIFETIME_TICKS),
            ended: false,
        },
    ));
}

/// Moves own projectiles by the shared numbers; ends them where the server would.
fn fly_locally(
    mut commands: Commands,
    session: Res<ClientSession>,
    arena: Res<Arena>,
    history: Res<InputHistory<InputFrame>>,
    mut flights: Query<(Entity, &mut LocalFlight, Has<PredictedSpawn>)>,
) {
    let dt = session.tick_secs() as f32;
    let tick = history.tick_sent_this_tick();
    for (entity, mut flight, local) in &mut flights {
        if flight.ended {
            continue;
        }
        let velocity = flight.velocity;
        flight.position += velocity * dt;
        let ended = tick.is_some_and(|tick| tick >= flight.expires)
            || arena.stops(flight.position, PROJECTILE_RADIUS);
        if ended {
            if local {
                commands.entity(entity).try_despawn();
            } else {
                // The server's: it goes when the server says; until then, not shown.
                flight.ended = true;
            }
        }
    }
}

/// The server's projectile arrived: it goes on flying from where ours is, ours goes.
fn hand_over_flight(
    matched: On<SpawnMatched>,
    mut commands: Commands,
    flights: Query<&LocalFlight>,
) {
    if let Ok(flight) = flights.get(matched.local) {
        commands.entity(matched.server).insert(*flight);
    }
}
