//! The local player's movement, predicted with the shared rules ([`step_player`]) so it answers
//! the keys at once (the shared protocol declares [`Position`] predicted and interpolated).

use bevy::prelude::*;
use skirmish_net::client::{Predicted, PredictedInput, PredictionStep};
use skirmish_shared::prelude::*;
use skirmish_shared::simulation::step_player;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(PredictionStep, move_predicted);
}

/// One tick of movement for the predicted player; the dead do not move (the server agrees).
fn move_predicted(
    input: Res<PredictedInput<InputFrame>>,
    arena: Res<Arena>,
    mut players: Query<(&mut Predicted<Position>, Option<&Health>)>,
) {
    for (mut predicted, health) in &mut players {
        if health.is_some_and(|health| !health.is_alive()) {
            continue;
        }
        predicted.value.0 = step_player(&arena, predicted.value.0, input.input.movement, input.dt);
    }
}
