//! What the server and the client agree on: components, input, message, rules, and the one
//! plugin that registers them in the same order on both sides.

use std::f32::consts::TAU;

use bevy::prelude::*;
use serde::{Deserialize, Serialize};
use skirmish_net::prelude::*;

/// This game's netcode identity: its own id, so Skirmish clients and tokens are refused.
pub const PROTOCOL: GameProtocol = GameProtocol {
    id: 0x4745_4D53_0000_0001, // "GEMS"
    version: 2,
};

/// Half the side of the square field.
pub const FIELD_HALF: f32 = 500.0;
/// Ship speed at full thrust, units per second.
pub const SPEED: f32 = 200.0;
/// Turn rate, radians per second.
pub const TURN_RATE: f32 = 3.0;
/// How close a ship must come to pick a gem up.
pub const PICKUP_RADIUS: f32 = 20.0;

/// A ship: where it is and where it points. Replicated quantized (1/8 unit, 1024 steps per
/// turn), predicted for its pilot, interpolated for everyone else.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq)]
pub struct Ship {
    /// Position on the field.
    pub at: Vec2,
    /// Heading in radians.
    pub heading: f32,
}

/// Who flies a ship (netcode client id). Replicated.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[require(Ship, Haul)]
pub struct Pilot(pub u64);

/// A gem waiting to be collected, where it lies. Replicated (it never moves: sent once).
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gem {
    /// Position on the field, x.
    pub x: f32,
    /// Position on the field, y.
    pub y: f32,
}

impl Gem {
    /// Where it lies.
    pub fn at(&self) -> Vec2 {
        Vec2::new(self.x, self.y)
    }
}

/// Gems a pilot collected. Replicated.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Haul(pub u32);

/// The input: turn (1 turns left, counter-clockwise; -1 right) and thrust.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Helm {
    /// Turn rate, -1 (right) to 1 (left).
    pub turn: f32,
    /// Whether the engine pushes.
    pub thrust: bool,
}

impl NetInput for Helm {
    fn sanitized(self) -> Self {
        let turn = if self.turn.is_finite() {
            self.turn.clamp(-1.0, 1.0)
        } else {
            0.0
        };
        Self { turn, ..self }
    }
}

/// Server to clients: `pilot` collected a gem and now has `haul`.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collected {
    /// The pilot's client id.
    pub pilot: u64,
    /// Their haul after this gem.
    pub haul: u32,
}

/// The one rule both sides run: a ship under a helm for `dt` seconds.
pub fn steer(ship: Ship, helm: Helm, dt: f32) -> Ship {
    let helm = helm.sanitized();
    let heading = (ship.heading + helm.turn * TURN_RATE * dt).rem_euclid(TAU);
    let speed = if helm.thrust { SPEED } else { 0.0 };
    let at = (ship.at + Vec2::from_angle(heading) * speed * dt)
        .clamp(Vec2::splat(-FIELD_HALF), Vec2::splat(FIELD_HALF));
    // On the wire grid, so the prediction and the server agree exactly.
    Ship::dequantize(Ship { at, heading }.quantize())
}

const STEPS_PER_UNIT: f32 = 8.0;
const HEADING_STEPS: u32 = 1024;

impl Quantize for Ship {
    const FIELDS: usize = 3;
    const WRAP: [u32; 4] = [0, 0, HEADING_STEPS, 0];

    fn quantize(&self) -> Quantized {
        let at = (self.at * STEPS_PER_UNIT).round();
        let turns = (self.heading / TAU).rem_euclid(1.0);
        let heading = (turns * HEADING_STEPS as f32).round() as i32 % HEADING_STEPS as i32;
        // `as` saturates and maps NaN to 0: no value can panic here.
        [at.x as i32, at.y as i32, heading, 0]
    }

    fn dequantize(q: Quantized) -> Self {
        Self {
            at: Vec2::new(q[0] as f32, q[1] as f32) / STEPS_PER_UNIT,
            heading: q[2] as f32 / HEADING_STEPS as f32 * TAU,
        }
    }
}

impl Blend for Ship {
    fn lerp(&self, to: &Self, t: f32) -> Self {
        // The short way round.
        let turn = (to.heading - self.heading + TAU / 2.0).rem_euclid(TAU) - TAU / 2.0;
        Self {
            at: self.at.lerp(to.at, t),
            heading: (self.heading + turn * t).rem_euclid(TAU),
        }
    }

    fn distance(&self, other: &Self) -> f32 {
        self.at.distance(other.at)
    }

    fn offset_by(&self, a: &Self, b: &Self) -> Self {
        Self {
            at: self.at + a.at - b.at,
            heading: (self.heading + a.heading - b.heading).rem_euclid(TAU),
        }
    }
}

/// Registers the protocol: both apps add it first.
pub struct GemsPlugin;

impl Plugin for GemsPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(PROTOCOL)
            .add_input::<Helm>()
            .replicate_quantized::<Ship>()
            .predict()
            .interpolate()
            .replicate::<Pilot>()
            .replicate::<Gem>()
            .replicate::<Haul>()
            .add_server_message::<Collected>();
    }
}
