//! The local player's movement, predicted with the shared rules ([`step_player`]) so it answers
//! the keys at once; everyone else's interpolated. Both are `skirmish-net`'s, registered here for
//! [`Position`].

use bevy::prelude::*;
use skirmish_net::client::{AppPredictionExt, Predicted, PredictedInput, PredictionStep};
use skirmish_shared::prelude::*;
use skirmish_shared::simulation::step_player;

pub(super) fn plugin(app: &mut App) {
    app.predict::<Position>()
        .interpolate::<Position>()
        .add_systems(PredictionStep, move_predicted);
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
