//! Blending component values: what prediction and interpolation need of a component. Shared code
//! implements it next to the component (both apps register the component; only the client
//! blends it).

use bevy::prelude::*;

/// A component value that can be blended: interpolated between snapshots, extrapolated a little,
/// and offset while a correction fades.
pub trait Blend: Component + Clone {
    /// The value a fraction `t` of the way from `self` to `to` (`t` may exceed 1 to extrapolate).
    fn lerp(&self, to: &Self, t: f32) -> Self;
    /// How far apart two values are (world units for a position): the size of a correction.
    fn distance(&self, other: &Self) -> f32;
    /// `self + (a - b)`: this value carrying the difference between `a` and `b`.
    fn offset_by(&self, a: &Self, b: &Self) -> Self;
}
