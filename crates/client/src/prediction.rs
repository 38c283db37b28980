//! Prediction and reconciliation of the local player.
//!
//! Every tick the client applies its own input at once with the shared movement code
//! ([`step_player`]) instead of waiting a round trip for the server. When a snapshot arrives, it
//! rewinds to the server's authoritative position (which includes our inputs up to the
//! snapshot's `last_input`) and replays the inputs the server has not simulated yet. Any
//! difference is a correction: it is counted in [`NetStats`] and hidden
//! by a visual offset that decays over [`PredictionSettings::smoothing`].

use std::time::Duration;

use bevy::prelude::*;
use skirmish_shared::prelude::*;
use skirmish_shared::simulation::step_player;

use crate::net::{ClientSession, ClientSystems, LocalPlayer, SnapshotApplied};
use crate::stats::NetStats;

/// Corrections smaller than this (world units) are rounding, not mispredictions.
pub const CORRECTION_EPSILON: f32 = 1e-3;

/// How predictions are corrected.
#[derive(Resource, Debug, Clone, Copy)]
pub struct PredictionSettings {
    /// Time over which a correction's visual offset decays to about a third.
    pub smoothing: Duration,
}

impl Default for PredictionSettings {
    fn default() -> Self {
        Self {
            smoothing: Duration::from_millis(100),
        }
    }
}

/// The locally predicted state of the local player.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq)]
pub struct Predicted {
    /// Where the local player is, assuming the server simulates our inputs as we did.
    pub position: Vec2,
    /// Visual offset left by the last corrections; render at `position + offset`.
    pub offset: Vec2,
}

impl Predicted {
    /// Where to draw the local player.
    pub fn rendered(&self) -> Vec2 {
        self.position + self.offset
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<PredictionSettings>()
        .add_systems(
            PreUpdate,
            (start_prediction, reconcile)
                .chain()
                .in_set(ClientSystems::Receive)
                .after(crate::net::mark_local_player),
        )
        .add_systems(
            FixedUpdate,
            predict
                .in_set(SimulationSystems::Simulate)
                .after(ClientSystems::SendInput),
        )
        .add_systems(Update, decay_offset);
}

fn start_prediction(
    mut commands: Commands,
    players: Query<(Entity, &Position), (With<LocalPlayer>, Without<Predicted>)>,
) {
    for (entity, position) in &players {
        commands.entity(entity).insert(Predicted {
            position: position.0,
            offset: Vec2::ZERO,
        });
    }
}

/// Applies this tick's input (just recorded by `send_input`) to the prediction.
fn predict(
    time: Res<Time<Fixed>>,
    session: Res<ClientSession>,
    mut predicted: Query<(&mut Predicted, Option<&Health>), With<LocalPlayer>>,
) {
    let Some(frame) = session.input_sent_this_tick() else {
        return;
    };
    for (mut predicted, health) in &mut predicted {
        if health.is_some_and(|health| !health.is_alive()) {
            continue; // The dead do not move (the server agrees).
        }
        predicted.position = step_player(predicted.position, frame.movement, time.delta_secs());
    }
}

/// On a new snapshot: rewind to the server's position and replay unacknowledged inputs.
fn reconcile(
    mut applied: MessageReader<SnapshotApplied>,
    time: Res<Time<Fixed>>,
    session: Res<ClientSession>,
    mut stats: ResMut<NetStats>,
    mut players: Query<(&Position, &mut Predicted, Option<&Health>), With<LocalPlayer>>,
) {
    let Some(latest) = applied.read().last() else {
        return;
    };
    let dt = time.timestep().as_secs_f32();
    for (server_position, mut predicted, health) in &mut players {
        let mut replayed = server_position.0;
        if health.is_none_or(|health| health.is_alive()) {
            for frame in session.inputs_after(latest.last_input) {
                replayed = step_player(replayed, frame.movement, dt);
            }
        }
        let error = predicted.position - replayed;
        let size = error.length();
        if size > CORRECTION_EPSILON {
            stats.record_correction(size);
            predicted.offset += error;
        }
        predicted.position = replayed;
    }
}

/// Fades correction offsets so the player glides instead of snapping.
fn decay_offset(
    time: Res<Time>,
    settings: Res<PredictionSettings>,
    mut predicted: Query<&mut Predicted>,
) {
    let tau = settings.smoothing.as_secs_f32().max(1e-3);
    let keep = (-time.delta_secs() / tau).exp();
    for mut predicted in &mut predicted {
        if predicted.offset == Vec2::ZERO {
            continue;
        }
        predicted.offset *= keep;
        if predicted.offset.length_squared() < 1e-6 {
            predicted.offset = Vec2::ZERO;
        }
    }
}
