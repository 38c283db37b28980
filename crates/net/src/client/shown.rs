//! [`Shown`]: where to draw a replicated component, whichever way this client follows it.

use bevy::ecs::query::QueryData;

use super::{Interpolated, Predicted};
use crate::blend::Blend;

/// Query data for what to draw of a replicated `C`: its prediction on an entity this client
/// controls, its interpolation on one it follows, else the value as the last snapshot set it.
///
/// ```
/// # use bevy::prelude::*;
/// # use skirmish_net::prelude::*;
/// # #[derive(Component, Clone, Copy, PartialEq, Debug, Default)]
/// # struct Spot(Vec2);
/// # skirmish_net::blend_newtype!(Spot);
/// fn place(mut sprites: Query<(Shown<Spot>, &mut Transform)>) {
///     for (position, mut transform) in &mut sprites {
///         transform.translation = position.get().0.extend(0.0);
///     }
/// }
/// ```
#[derive(QueryData)]
pub struct Shown<C: Blend> {
    value: &'static C,
    predicted: Option<&'static Predicted<C>>,
    interpolated: Option<&'static Interpolated<C>>,
}

impl<C: Blend> ShownItem<'_, '_, C> {
    /// The value to draw this frame.
    pub fn get(&self) -> &C {
        match (self.predicted, self.interpolated) {
            (Some(predicted), _) => predicted.shown(),
            (None, Some(interpolated)) => interpolated.shown(),
            (None, None) => self.value,
        }
    }

    /// Whether this client predicts it (an entity it controls).
    pub fn is_predicted(&self) -> bool {
        self.predicted.is_some()
    }
}
