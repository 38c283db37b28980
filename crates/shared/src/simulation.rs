//! The shared simulation: game rules that run identically on the server and, for prediction, on
//! the client, in `FixedUpdate` at the server tick rate.

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

/// Default simulation rate of the server, in ticks per second.
pub const DEFAULT_TICK_RATE: u16 = 60;

/// Half the side of the square arena, in world units: positions stay in `[-ARENA_HALF, ARENA_HALF]`.
pub const ARENA_HALF: f32 = 1000.0;

/// How fast a player moves at full input, in units per second.
pub const PLAYER_SPEED: f32 = 300.0;

/// Ordering of the shared simulation inside `FixedUpdate`.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimulationSystems {
    /// Runs first in `FixedUpdate`: advances [`SimulationTick`].
    Tick,
    /// Runs in `FixedUpdate` after `Tick`: feeds this tick's input into [`PlayerInput`]
    /// (server: from the client's buffer; client: from the local input).
    Input,
    /// Runs in `FixedUpdate` after `Input`: game rules (movement, ...).
    Simulate,
}

/// The number of `FixedUpdate` steps the simulation has run. On the server this is the tick every
/// snapshot is stamped with.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deref)]
pub struct SimulationTick(pub u32);

/// Position in the arena, in world units. Replicated.
#[derive(
    Component, Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize, Deref, DerefMut,
)]
pub struct Position(pub Vec2);

/// A player-controlled entity. Replicated.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[require(Position, PlayerInput)]
pub struct Player {
    /// The netcode client id of the client that controls this player.
    pub client_id: u64,
}

/// A player's display name, set by the server from what the client asked for. Replicated.
#[derive(Component, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerName(pub String);

/// The input a player applies on one simulation tick.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputFrame {
    /// The client's simulation tick this input was sampled on.
    pub tick: u32,
    /// Desired movement direction; its length is clamped to 1.
    pub movement: Vec2,
}

impl InputFrame {
    /// Makes an input frame safe to simulate: non-finite movement becomes zero and the movement
    /// length is clamped to 1. The server applies this to everything a client sends.
    pub fn sanitized(self) -> Self {
        Self {
            movement: clamp_movement(self.movement),
            ..self
        }
    }
}

/// The input currently driving an entity in the simulation. Not replicated: the server fills it
/// from the owning client's input messages.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq)]
pub struct PlayerInput(pub InputFrame);

/// Adds the shared simulation to an app (server or client).
pub(super) fn plugin(app: &mut App) {
    app.init_resource::<SimulationTick>()
        .configure_sets(
            FixedUpdate,
            (
                SimulationSystems::Tick,
                SimulationSystems::Input,
                SimulationSystems::Simulate,
            )
                .chain(),
        )
        .add_systems(FixedUpdate, advance_tick.in_set(SimulationSystems::Tick))
        .add_systems(
            FixedUpdate,
            move_players.in_set(SimulationSystems::Simulate),
        );
}

fn advance_tick(mut tick: ResMut<SimulationTick>) {
    tick.0 = tick.0.wrapping_add(1);
}

/// Moves every player by its current input, keeping it inside the arena.
pub fn move_players(time: Res<Time>, mut players: Query<(&mut Position, &PlayerInput)>) {
    let dt = time.delta_secs();
    for (mut position, input) in &mut players {
        let step = step_player(position.0, input.0.movement, dt);
        // Only write on a real move, so resting players are not flagged as changed.
        if step != position.0 {
            position.0 = step;
        }
    }
}

/// One movement step: the single source of truth for how a player moves.
pub fn step_player(position: Vec2, movement: Vec2, dt: f32) -> Vec2 {
    let movement = clamp_movement(movement);
    (position + movement * PLAYER_SPEED * dt)
        .clamp(Vec2::splat(-ARENA_HALF), Vec2::splat(ARENA_HALF))
}

/// A movement vector safe to simulate: zero if not finite, length at most 1 (also for values whose
/// squared length would overflow `f32`).
pub fn clamp_movement(movement: Vec2) -> Vec2 {
    if !movement.is_finite() {
        return Vec2::ZERO;
    }
    let largest = movement.abs().max_element();
    let scaled = if largest > 1.0 {
        movement / largest
    } else {
        movement
    };
    scaled.clamp_length_max(1.0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bevy::time::TimeUpdateStrategy;

    use super::*;

    fn create_test_app() -> App {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .add_plugins(plugin)
            .insert_resource(Time::<Fixed>::from_hz(60.0))
            .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
                1.0 / 60.0,
            )));
        app
    }

    #[test]
    fn player_moves_by_input_each_tick() {
        let mut app = create_test_app();
        let player = app
            .world_mut()
            .spawn((
                Player { client_id: 1 },
                PlayerInput(InputFrame {
                    tick: 0,
                    movement: Vec2::X,
                }),
            ))
            .id();
        // The first update only initialises time; the following ones each run one fixed step.
        for _ in 0..61 {
            app.update();
        }
        let ticks = app.world().resource::<SimulationTick>().0;
        assert!(
            ticks >= 59,
            "60 updates at 60 Hz should run ~60 ticks, ran {ticks}"
        );
        let x = app.world().get::<Position>(player).unwrap().x;
        let expected = PLAYER_SPEED * ticks as f32 / 60.0;
        assert!(
            (x - expected).abs() < 0.01,
            "a player holding right should move {expected} units in {ticks} ticks, moved {x}"
        );
    }

    #[test]
    fn movement_is_clamped_and_sanitized() {
        assert_eq!(
            step_player(Vec2::ZERO, Vec2::splat(f32::NAN), 1.0),
            Vec2::ZERO
        );
        assert_eq!(
            step_player(Vec2::ZERO, Vec2::new(1e30, 0.0), 0.1),
            Vec2::new(PLAYER_SPEED * 0.1, 0.0),
            "a huge input vector moves at most full speed"
        );
        assert_eq!(
            step_player(Vec2::splat(ARENA_HALF), Vec2::ONE, 1.0),
            Vec2::splat(ARENA_HALF),
            "players cannot leave the arena"
        );
        let frame = InputFrame {
            tick: 3,
            movement: Vec2::new(f32::INFINITY, 0.0),
        };
        assert_eq!(frame.sanitized().movement, Vec2::ZERO);
    }
}
