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

/// A value with arithmetic, blended linearly: what [`blend_newtype!`](crate::blend_newtype) needs
/// of the field of a one-field component.
pub trait Linear: Copy {
    /// `self + (to - self) * t`.
    fn lerp_to(self, to: Self, t: f32) -> Self;
    /// The length of `self - other`.
    fn distance_to(self, other: Self) -> f32;
    /// `self + a - b`.
    fn offset(self, a: Self, b: Self) -> Self;
}

macro_rules! linear_vectors {
    ($($ty:ty),+) => {
        $(impl Linear for $ty {
            fn lerp_to(self, to: Self, t: f32) -> Self {
                self.lerp(to, t)
            }
            fn distance_to(self, other: Self) -> f32 {
                self.distance(other)
            }
            fn offset(self, a: Self, b: Self) -> Self {
                self + a - b
            }
        })+
    };
}

linear_vectors!(Vec2, Vec3, Vec3A, Vec4);

impl Linear for f32 {
    fn lerp_to(self, to: Self, t: f32) -> Self {
        self + (to - self) * t
    }
    fn distance_to(self, other: Self) -> f32 {
        (self - other).abs()
    }
    fn offset(self, a: Self, b: Self) -> Self {
        self + a - b
    }
}

/// Implements [`Blend`] for one-field components (`struct Spot(Vec2)`) whose field is
/// [`Linear`] (`f32`, `Vec2`, `Vec3`, `Vec3A`, `Vec4`): blended in a straight line, a
/// correction's size the distance.
///
/// ```
/// # use bevy::prelude::*;
/// #[derive(Component, Clone, Copy, PartialEq, Debug)]
/// struct Spot(Vec2);
/// skirmish_net::blend_newtype!(Spot);
/// ```
#[macro_export]
macro_rules! blend_newtype {
    ($($ty:ty),+ $(,)?) => {
        $(impl $crate::blend::Blend for $ty {
            fn lerp(&self, to: &Self, t: f32) -> Self {
                Self($crate::blend::Linear::lerp_to(self.0, to.0, t))
            }
            fn distance(&self, other: &Self) -> f32 {
                $crate::blend::Linear::distance_to(self.0, other.0)
            }
            fn offset_by(&self, a: &Self, b: &Self) -> Self {
                Self($crate::blend::Linear::offset(self.0, a.0, b.0))
            }
        })+
    };
}

/// The value at (fractional) `tick` among `samples` (oldest first, ticks increasing): the oldest
/// or newest at or beyond the ends, else blended between the two around it. `None` when empty.
pub fn sample_clamped<C: Blend>(
    samples: &std::collections::VecDeque<(u32, C)>,
    tick: f64,
) -> Option<C> {
    let ((first_tick, first), (last_tick, last)) = (samples.front()?, samples.back()?);
    if tick <= f64::from(*first_tick) {
        return Some(first.clone());
    }
    if tick >= f64::from(*last_tick) {
        return Some(last.clone());
    }
    // First sample after `tick`; the one before it is at or before `tick`.
    let index = samples.partition_point(|(at, _)| f64::from(*at) <= tick);
    let (tick_a, a) = &samples[index - 1];
    let (tick_b, b) = &samples[index];
    let t = (tick - f64::from(*tick_a)) / f64::from(tick_b - tick_a);
    Some(a.lerp(b, t as f32))
}

/// A value to blend in tests: one number.
#[cfg(test)]
#[derive(Component, Debug, Clone, PartialEq)]
pub(crate) struct TestValue(pub f32);

#[cfg(test)]
crate::blend_newtype!(TestValue);
