//! Interpolation of what this client does not control: each registered component is shown as it
//! was `delay` ago, between two received snapshots, so entities move smoothly although snapshots
//! arrive unevenly and some are lost. When snapshots stop, motion is extrapolated for at most
//! [`InterpolationSettings::max_extrapolation`], then held. Register a component with
//! [`AppPredictionExt::interpolate`](crate::client::AppPredictionExt::interpolate).

use std::collections::VecDeque;
use std::time::Duration;

use bevy::prelude::*;

use crate::blend::Blend;
use crate::client::{ClientSession, ClientSystems, Controlled};
use crate::registry::{NetId, Teleported};

/// Interpolation tuning.
#[derive(Resource, Debug, Clone, Copy)]
pub struct InterpolationSettings {
    /// How far behind the newest snapshot entities are shown. Default: about two snapshot
    /// intervals at 60 Hz plus margin for jitter.
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

/// The clock interpolated entities are rendered at, in (fractional) server ticks. It only moves
/// forward, speeding up or slowing down gently to stay `delay` behind the newest snapshot.
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct InterpolationClock {
    /// The server tick being rendered now, or `None` before the first snapshot.
    pub render_tick: Option<f64>,
}

/// The recent values of one entity's `C` at snapshot ticks, and the one to show this frame.
#[derive(Component, Debug, Clone)]
pub struct Interpolated<C: Blend> {
    samples: VecDeque<(u32, C)>,
    shown: C,
    /// The entity's [`Teleported`] count at the newest sample.
    teleports: u8,
}

/// Samples older than this many ticks behind the newest are dropped.
const KEEP_TICKS: u32 = 120;

/// Per interpolated component: record its values at a just-applied snapshot tick.
#[derive(Resource, Default, Clone)]
struct Recorders(Vec<fn(&mut World, u32)>);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<InterpolationSettings>()
        .init_resource::<InterpolationClock>()
        .init_resource::<Recorders>()
        .add_systems(Update, advance_clock.in_set(ClientSystems::Interpolate));
}

pub(super) fn register<C: Blend>(app: &mut App) {
    app.world_mut()
        .get_resource_or_init::<Recorders>()
        .0
        .push(record::<C>);
    app.add_systems(
        Update,
        interpolate::<C>
            .in_set(ClientSystems::Interpolate)
            .after(advance_clock),
    );
}

/// Records every interpolated component at a just-applied snapshot tick. Called right after
/// each snapshot is applied, so every tick gets its sample.
pub(crate) fn record_samples(world: &mut World, tick: u32) {
    let recorders = world
        .get_resource::<Recorders>()
        .cloned()
        .unwrap_or_default();
    for record in recorders.0 {
        record(world, tick);
    }
}

fn record<C: Blend>(world: &mut World, tick: u32) {
    let mut query = world.query_filtered::<(
        Entity,
        &C,
        Option<&mut Interpolated<C>>,
        Option<&Teleported>,
    ), (With<NetId>, Without<Controlled>)>();
    let mut missing = Vec::new();
    for (entity, value, interpolated, teleported) in query.iter_mut(world) {
        let teleports = teleported.map_or(0, |teleported| teleported.0);
        match interpolated {
            Some(mut interpolated) => {
                if interpolated.teleports != teleports {
                    // A jump on the server: never blend across it.
                    interpolated.teleports = teleports;
                    interpolated.samples.clear();
                    interpolated.shown = value.clone();
                }
                interpolated.push(tick, value.clone());
            }
            None => missing.push((entity, value.clone(), teleports)),
        }
    }
    for (entity, value, teleports) in missing {
        let mut interpolated = Interpolated {
            samples: VecDeque::new(),
            shown: value.clone(),
            teleports,
        };
        interpolated.push(tick, value);
        world.entity_mut(entity).insert(interpolated);
    }
}

impl<C: Blend> Interpolated<C> {
    /// What to draw this frame.
    pub fn shown(&self) -> &C {
        &self.shown
    }

    /// The buffered `(server tick, value)` samples, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = &(u32, C)> + '_ {
        self.samples.iter()
    }

    fn push(&mut self, tick: u32, value: C) {
        if self.samples.back().is_some_and(|(last, _)| *last >= tick) {
            return;
        }
        self.samples.push_back((tick, value));
        while self
            .samples
            .front()
            .is_some_and(|(oldest, _)| oldest.saturating_add(KEEP_TICKS) < tick)
        {
            self.samples.pop_front();
        }
    }

    /// The value at fractional tick `at`, extrapolating at most `max_extra` ticks past the
    /// newest sample.
    pub fn sample(&self, at: f64, max_extra: f64) -> Option<C> {
        let len = self.samples.len();
        let (last_tick, last) = self.samples.back()?;
        if at > f64::from(*last_tick) && len >= 2 {
            // Past the newest sample: on along the last step, for at most `max_extra` ticks.
            let (prev_tick, prev) = &self.samples[len - 2];
            let ahead = (at - f64::from(*last_tick)).min(max_extra);
            let span = f64::from(last_tick - prev_tick);
            return Some(prev.lerp(last, (1.0 + ahead / span) as f32));
        }
        crate::blend::sample_clamped(&self.samples, at)
    }
}

/// Moves the render clock forward with real time, nudged toward `newest - delay`.
fn advance_clock(
    time: Res<Time<Real>>,
    settings: Res<InterpolationSettings>,
    session: Res<ClientSession>,
    mut clock: ResMut<InterpolationClock>,
) {
    let Some(newest) = session.last_snapshot_tick else {
        return;
    };
    let tick_secs = session.tick_secs().max(1e-6);
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

fn interpolate<C: Blend>(
    settings: Res<InterpolationSettings>,
    session: Res<ClientSession>,
    clock: Res<InterpolationClock>,
    mut query: Query<&mut Interpolated<C>>,
) {
    let Some(at) = clock.render_tick else {
        return;
    };
    let max_extra = settings.max_extrapolation.as_secs_f64() / session.tick_secs().max(1e-6);
    for mut interpolated in &mut query {
        if let Some(value) = interpolated.sample(at, max_extra) {
            interpolated.shown = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::blend::TestValue as X;

    #[test]
    fn samples_interpolate_and_extrapolate_with_a_cap() {
        let mut buffer = Interpolated {
            samples: VecDeque::new(),
            shown: X(0.0),
            teleports: 0,
        };
        buffer.push(10, X(0.0));
        buffer.push(12, X(20.0));
        buffer.push(11, X(99.0)); // out of order: ignored
        assert_eq!(buffer.sample(9.0, 6.0), Some(X(0.0)));
        assert_eq!(buffer.sample(11.0, 6.0), Some(X(10.0)));
        assert_eq!(buffer.sample(13.0, 6.0), Some(X(30.0)));
        assert_eq!(
            buffer.sample(100.0, 6.0),
            Some(X(80.0)),
            "extrapolation stops after max_extra ticks"
        );
    }
}
