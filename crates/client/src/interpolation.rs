//! Interpolation of remote entities: they are shown where they were `delay` ago, between two
//! received snapshots, so they move smoothly even though snapshots arrive unevenly and some are
//! lost. When snapshots stop arriving, motion is extrapolated for at most
//! [`InterpolationSettings::max_extrapolation`], then held.

use std::collections::VecDeque;
use std::time::Duration;

use bevy::prelude::*;
use skirmish_shared::prelude::*;

use crate::net::{ClientSession, ClientSystems, LocalPlayer};

/// Interpolation tuning.
#[derive(Resource, Debug, Clone, Copy)]
pub struct InterpolationSettings {
    /// How far behind the newest snapshot remote entities are shown. Default: about two
    /// snapshot intervals at 60 Hz plus margin for jitter.
    pub delay: Duration,
    /// Longest time motion is extrapolated past the newest snapshot.
    pub max_extrapolation: Duration,
}

impl Default for InterpolationSettings {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(50),
            max_extrapolation: Duration::from_millis(100),
        }
    }
}

/// The clock remote entities are rendered at, in (fractional) server ticks. It only moves
/// forward, speeding up or slowing down gently to stay `delay` behind the newest snapshot.
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct InterpolationClock {
    /// The server tick being rendered now, or `None` before the first snapshot.
    pub render_tick: Option<f64>,
}

/// Positions of one remote entity at recent snapshot ticks.
#[derive(Component, Debug, Default, Clone)]
pub struct InterpolationBuffer {
    samples: VecDeque<(u32, Vec2)>,
}

/// Where a remote entity is drawn this frame.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq)]
pub struct Interpolated(pub Vec2);

/// Samples older than this many ticks behind the newest are dropped.
const KEEP_TICKS: u32 = 120;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<InterpolationSettings>()
        .init_resource::<InterpolationClock>()
        .add_systems(
            Update,
            (advance_clock, interpolate)
                .chain()
                .in_set(ClientSystems::Interpolate),
        );
}

/// Records every remote entity's position at a just-applied snapshot tick. Called by the
/// networking code right after applying each snapshot, so every tick gets its sample.
pub(crate) fn record_samples(world: &mut World, tick: u32) {
    let mut query = world.query_filtered::<
        (Entity, &Position, Option<&mut InterpolationBuffer>),
        (With<NetId>, Without<LocalPlayer>),
    >();
    let mut missing = Vec::new();
    for (entity, position, buffer) in query.iter_mut(world) {
        match buffer {
            Some(mut buffer) => buffer.push(tick, position.0),
            None => missing.push((entity, position.0)),
        }
    }
    for (entity, position) in missing {
        let mut buffer = InterpolationBuffer::default();
        buffer.push(tick, position);
        world
            .entity_mut(entity)
            .insert((buffer, Interpolated(position)));
    }
}

impl InterpolationBuffer {
    /// The buffered `(server tick, position)` samples, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = (u32, Vec2)> + '_ {
        self.samples.iter().copied()
    }

    fn push(&mut self, tick: u32, position: Vec2) {
        if self.samples.back().is_some_and(|(last, _)| *last >= tick) {
            return;
        }
        self.samples.push_back((tick, position));
        while self
            .samples
            .front()
            .is_some_and(|(oldest, _)| oldest + KEEP_TICKS < tick)
        {
            self.samples.pop_front();
        }
    }

    /// The position at fractional tick `at`, extrapolating at most `max_extra` ticks past the
    /// newest sample.
    pub fn sample(&self, at: f64, max_extra: f64) -> Option<Vec2> {
        let (&(first_tick, first), &(last_tick, last)) =
            (self.samples.front()?, self.samples.back()?);
        if at <= f64::from(first_tick) {
            return Some(first);
        }
        if at >= f64::from(last_tick) {
            let len = self.samples.len();
            if len < 2 {
                return Some(last);
            }
            let (prev_tick, prev) = self.samples[len - 2];
            let velocity = (last - prev) / (last_tick - prev_tick) as f32;
            let ahead = (at - f64::from(last_tick)).min(max_extra) as f32;
            return Some(last + velocity * ahead);
        }
        // First sample after `at`; the one before it is at or before `at`.
        let index = self
            .samples
            .partition_point(|(tick, _)| f64::from(*tick) <= at);
        let (tick_a, a) = self.samples[index - 1];
        let (tick_b, b) = self.samples[index];
        let t = (at - f64::from(tick_a)) / f64::from(tick_b - tick_a);
        Some(a.lerp(b, t as f32))
    }
}

/// Moves the render clock forward with real time, nudged toward `newest - delay`.
fn advance_clock(
    time: Res<Time<Real>>,
    fixed: Res<Time<Fixed>>,
    settings: Res<InterpolationSettings>,
    session: Res<ClientSession>,
    mut clock: ResMut<InterpolationClock>,
) {
    let Some(newest) = session.last_snapshot_tick else {
        return;
    };
    let tick_secs = fixed.timestep().as_secs_f64().max(1e-6);
    let target = f64::from(newest) - settings.delay.as_secs_f64() / tick_secs;
    let render = match clock.render_tick {
        // Far off (first snapshot, or back from a long stall): jump, but never backwards.
        Some(render) if (target - render).abs() < 30.0 => render,
        Some(render) => render.max(target),
        None => target,
    };
    // Up to 10% faster or slower than real time, proportional to the error; never backwards.
    let rate = (1.0 + (target - render) * 0.1).clamp(0.9, 1.1);
    let advanced = render + time.delta_secs_f64() / tick_secs * rate;
    clock.render_tick = Some(advanced.max(render));
}

fn interpolate(
    settings: Res<InterpolationSettings>,
    fixed: Res<Time<Fixed>>,
    clock: Res<InterpolationClock>,
    mut query: Query<(&InterpolationBuffer, &mut Interpolated)>,
) {
    let Some(at) = clock.render_tick else {
        return;
    };
    let max_extra = settings.max_extrapolation.as_secs_f64() / fixed.timestep().as_secs_f64();
    for (buffer, mut interpolated) in &mut query {
        if let Some(position) = buffer.sample(at, max_extra) {
            interpolated.0 = position;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_interpolate_and_extrapolate_with_a_cap() {
        let mut buffer = InterpolationBuffer::default();
        buffer.push(10, Vec2::new(0.0, 0.0));
        buffer.push(12, Vec2::new(20.0, 0.0));
        buffer.push(11, Vec2::new(99.0, 0.0)); // out of order: ignored
        assert_eq!(buffer.sample(9.0, 6.0), Some(Vec2::ZERO));
        assert_eq!(buffer.sample(11.0, 6.0), Some(Vec2::new(10.0, 0.0)));
        assert_eq!(buffer.sample(13.0, 6.0), Some(Vec2::new(30.0, 0.0)));
        assert_eq!(
            buffer.sample(100.0, 6.0),
            Some(Vec2::new(80.0, 0.0)),
            "extrapolation stops after max_extra ticks"
        );
    }
}
