//! The shared simulation: game rules that run identically on the server and, for prediction, on
//! the client, in `FixedUpdate` at the server tick rate.

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

use crate::arena::Arena;
use crate::game::{Health, PLAYER_RADIUS};
use skirmish_net::input::NetInput;
use skirmish_net::registry::{Quantize, Quantized};
pub use skirmish_net::tick::{DEFAULT_TICK_RATE, SimulationSystems, SimulationTick};

/// How fast a player moves at full input, in units per second.
pub const PLAYER_SPEED: f32 = 300.0;

/// Quantization steps per world unit for [`Position`] and [`Velocity`]: positions are exact to
/// 1/16 unit on the wire (and in the simulation, which snaps to the same grid).
pub const POSITION_SCALE: f32 = 16.0;

/// Steps per full turn for [`Rotation`] on the wire (12 bits, about 0.09 degrees).
pub const ROTATION_STEPS: u32 = 4096;

/// Position in the arena, in world units. Replicated, quantized to 1/16 unit.
#[derive(
    Component, Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize, Deref, DerefMut,
)]
pub struct Position(pub Vec2);

/// Velocity in world units per second. Replicated, quantized to 1/16 unit/s.
#[derive(
    Component, Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize, Deref, DerefMut,
)]
pub struct Velocity(pub Vec2);

/// Facing angle in radians. Replicated with 12 bits per turn.
#[derive(
    Component, Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize, Deref, DerefMut,
)]
pub struct Rotation(pub f32);

/// Rounds a world-space vector to the wire grid (NaN becomes 0, huge values saturate).
fn quantize_vec2(value: Vec2) -> Quantized {
    let scale = |v: f32| (v * POSITION_SCALE).round() as i32;
    [scale(value.x), scale(value.y), 0, 0]
}

fn dequantize_vec2(quantized: Quantized) -> Vec2 {
    Vec2::new(quantized[0] as f32, quantized[1] as f32) / POSITION_SCALE
}

/// Snaps a position to the wire grid, so what the server simulates is exactly what it sends.
pub fn snap_to_grid(value: Vec2) -> Vec2 {
    dequantize_vec2(quantize_vec2(value))
}

impl Quantize for Position {
    const FIELDS: usize = 2;
    fn quantize(&self) -> Quantized {
        quantize_vec2(self.0)
    }
    fn dequantize(quantized: Quantized) -> Self {
        Self(dequantize_vec2(quantized))
    }
}

impl Quantize for Velocity {
    const FIELDS: usize = 2;
    fn quantize(&self) -> Quantized {
        quantize_vec2(self.0)
    }
    fn dequantize(quantized: Quantized) -> Self {
        Self(dequantize_vec2(quantized))
    }
}

impl Quantize for Rotation {
    const FIELDS: usize = 1;
    const WRAP: [u32; 4] = [ROTATION_STEPS, 0, 0, 0];
    fn quantize(&self) -> Quantized {
        let turns = self.0 / std::f32::consts::TAU;
        let steps = (turns * ROTATION_STEPS as f32).round() as i64;
        [steps.rem_euclid(i64::from(ROTATION_STEPS)) as i32, 0, 0, 0]
    }
    fn dequantize(quantized: Quantized) -> Self {
        let steps = quantized[0].rem_euclid(ROTATION_STEPS as i32);
        Self(steps as f32 / ROTATION_STEPS as f32 * std::f32::consts::TAU)
    }
}

impl skirmish_net::server::interest::Located for Position {
    fn location(&self) -> Vec2 {
        self.0
    }
}

skirmish_net::blend_newtype!(Position);

/// A player-controlled entity, human or bot: everything a player has comes with it. Replicated.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[require(
    Position,
    PlayerInput,
    Rotation,
    crate::game::Health,
    crate::game::Score,
    crate::game::Ping,
    skirmish_net::registry::Teleported
)]
pub struct Player {
    /// The netcode client id of the client that controls this player.
    pub client_id: u64,
}

/// A player's display name, set by the server from what the client asked for. Replicated.
#[derive(Component, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerName(pub String);

/// The input a player applies on one simulation tick: the demo's input type (see
/// [`NetInput`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputFrame {
    /// Desired movement direction; its length is clamped to 1.
    pub movement: Vec2,
    /// Aim direction (normalized by the server; zero means "not aiming").
    pub aim: Vec2,
    /// Whether the fire button is held.
    pub fire: bool,
}

impl NetInput for InputFrame {
    /// Non-finite movement becomes zero and the movement length is clamped to 1; the aim is a
    /// unit vector or zero.
    fn sanitized(self) -> Self {
        Self {
            movement: clamp_movement(self.movement),
            aim: clamp_movement(self.aim).normalize_or_zero(),
            ..self
        }
    }
}

/// The input currently driving an entity in the simulation. Not replicated: the server fills it
/// from the owning client's input messages.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq)]
pub struct PlayerInput(pub InputFrame);

/// Adds the shared simulation to an app (server or client), in the default [`Arena`] until the
/// app says otherwise (the server from its settings, the client from the server).
pub(super) fn plugin(app: &mut App) {
    if !app.is_plugin_added::<skirmish_net::tick::TickPlugin>() {
        app.add_plugins(skirmish_net::tick::TickPlugin);
    }
    app.init_resource::<Arena>().add_systems(
        FixedUpdate,
        move_players.in_set(SimulationSystems::Simulate),
    );
}

/// Moves every player by its current input, keeping it inside the arena.
pub fn move_players(
    time: Res<Time>,
    arena: Res<Arena>,
    mut players: Query<(&mut Position, &PlayerInput, Option<&Health>)>,
) {
    let dt = time.delta_secs();
    for (mut position, input, health) in &mut players {
        if health.is_some_and(|health| !health.is_alive()) {
            continue; // The dead wait for their respawn.
        }
        let step = step_player(&arena, position.0, input.0.movement, dt);
        // Only write on a real move, so resting players are not flagged as changed.
        if step != position.0 {
            position.0 = step;
        }
    }
}

/// One movement step in `arena`: the single source of truth for how a player moves.
pub fn step_player(arena: &Arena, position: Vec2, movement: Vec2, dt: f32) -> Vec2 {
    let movement = clamp_movement(movement);
    let moved = arena.slide(position, movement * PLAYER_SPEED * dt, PLAYER_RADIUS);
    snap_to_grid(moved)
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
                    movement: Vec2::X,
                    ..default()
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
            (x - expected).abs() <= ticks as f32 / POSITION_SCALE,
            "a player holding right should move {expected} units in {ticks} ticks, moved {x}"
        );
    }

    /// Holds `player` moving right for `ticks` fixed ticks (plus the first update).
    fn hold_right(app: &mut App, player: Entity, ticks: u32) -> Vec2 {
        app.world_mut()
            .get_mut::<PlayerInput>(player)
            .unwrap()
            .0
            .movement = Vec2::X;
        for _ in 0..=ticks {
            app.update();
        }
        app.world().get::<Position>(player).unwrap().0
    }

    #[test]
    fn a_player_walks_past_x_1000_only_in_a_larger_arena() {
        for (tiles, passes) in [(1, false), (2, true)] {
            let mut app = create_test_app();
            app.insert_resource(Arena::new(tiles));
            // On the line y = 0, clear of walls in both arenas (a tile border in the larger one).
            let player = app
                .world_mut()
                .spawn((Player { client_id: 1 }, Position(Vec2::new(900.0, 0.0))))
                .id();
            let at = hold_right(&mut app, player, 60);
            if passes {
                assert!(
                    at.x > 1100.0,
                    "in a {tiles}-tile arena a second of walking right from x=900 passes x=1000, \
                     reached {at}"
                );
            } else {
                assert_eq!(
                    at,
                    Vec2::new(1000.0, 0.0),
                    "in a {tiles}-tile arena the player stops at the edge, x=1000"
                );
            }
        }
    }

    #[test]
    fn movement_is_clamped_and_sanitized() {
        let arena = Arena::default();
        assert_eq!(
            step_player(&arena, Vec2::ZERO, Vec2::splat(f32::NAN), 1.0),
            Vec2::ZERO
        );
        assert_eq!(
            step_player(&arena, Vec2::ZERO, Vec2::new(1e30, 0.0), 0.1),
            snap_to_grid(Vec2::new(PLAYER_SPEED * 0.1, 0.0)),
            "a huge input vector moves at most full speed"
        );
        let corner = Vec2::splat(arena.half());
        assert_eq!(
            step_player(&arena, corner, Vec2::ONE, 1.0),
            corner,
            "players cannot leave the arena"
        );
        let frame = InputFrame {
            movement: Vec2::new(f32::INFINITY, 0.0),
            aim: Vec2::new(f32::NAN, 1.0),
            fire: true,
        };
        assert_eq!(frame.sanitized().movement, Vec2::ZERO);
        assert_eq!(frame.sanitized().aim, Vec2::ZERO, "a NaN aim is no aim");
        let huge = InputFrame {
            aim: Vec2::new(3e38, -3e38),
            ..frame
        };
        assert!((huge.sanitized().aim.length() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn quantization_round_trips_within_its_step() {
        let position = Position(Vec2::new(123.456, -987.654));
        let back = Position::dequantize(position.quantize());
        assert!((back.0 - position.0).abs().max_element() <= 0.5 / POSITION_SCALE);
        assert_eq!(
            Position::dequantize(back.quantize()),
            back,
            "grid values are exact"
        );
        let nan = Position(Vec2::new(f32::NAN, f32::INFINITY)).quantize();
        assert_eq!(nan[0], 0, "NaN quantizes to zero instead of panicking");
        for angle in [0.0, 1.0, -1.0, 3.0, 6.0, 100.0] {
            let back = Rotation::dequantize(Rotation(angle).quantize()).0;
            let diff = (back - angle).rem_euclid(std::f32::consts::TAU);
            let diff = diff.min(std::f32::consts::TAU - diff);
            assert!(
                diff <= std::f32::consts::PI / ROTATION_STEPS as f32 + 1e-4,
                "{angle} -> {back}"
            );
        }
        let any = Rotation::dequantize([i32::MIN, 0, 0, 0]).0;
        assert!((0.0..std::f32::consts::TAU).contains(&any));
    }
}
