//! Lag compensation: the server keeps a short history of registered components (where hittable
//! things were, tick by tick), so a client's action can be judged against what that client saw.
//!
//! A client shows everything it does not control in the past: interpolated, one round trip plus
//! the interpolation delay behind the server. Each input carries how far behind the snapshot it
//! acknowledges the client was showing the world; the server cuts that to
//! [`LagCompensation::view_behind_ack`] and keeps the result as [`ConnectedClient::view`].
//! [`LagCompensation::rewind_ticks`] turns it into how far back to look, bounded by
//! [`LagCompensation::max_rewind`] and by what the client's measured latency allows, so nobody
//! can claim an older view to shoot around a corner. The game then asks
//! [`History::at`] where a target was.
//!
//! ```
//! use bevy::prelude::*;
//! use skirmish_net::prelude::*;
//! use skirmish_net::server::lag_compensation::{AppLagCompensationExt, History};
//!
//! #[derive(Component, Clone)]
//! struct Spot(Vec2);
//! skirmish_net::blend_newtype!(Spot);
//!
//! let mut app = App::new();
//! app.lag_compensate::<Spot>();
//! // In a hit test: `history.at(now - rewind)` is where the target was when the shooter saw it.
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use bevy::prelude::*;

use crate::blend::Blend;
use crate::registry::Replicated;
use crate::server::clients::ConnectedClient;
use crate::tick::{SimulationSystems, SimulationTick};

/// The default [`LagCompensation::max_rewind`].
pub const DEFAULT_MAX_REWIND: Duration = Duration::from_millis(250);

/// The default [`LagCompensation::view_behind_ack`]: the clients' default interpolation delay
/// (50 ms) and half as much again.
pub const DEFAULT_VIEW_BEHIND_ACK: Duration = Duration::from_millis(75);

/// How far back the server looks for a client's actions.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct LagCompensation {
    /// Whether actions are judged against what the client saw (`false`: against the present).
    pub enabled: bool,
    /// The furthest back any action is judged, whatever the client's latency.
    pub max_rewind: Duration,
    /// What a client's view may lag behind the server beyond its measured round trip and input
    /// buffer: its interpolation delay, plus margin.
    pub view_slack: Duration,
    /// The furthest a client's view may be behind the snapshot its input acknowledges: an honest
    /// client shows the world about its interpolation delay behind the newest snapshot it holds
    /// (50 ms by default, about 35 ms measured), so an older claim is cut to this. Raise it with
    /// the clients' [`InterpolationSettings::delay`](crate::client::InterpolationSettings).
    /// A client that delays its acks to look further behind pays for it in stale baselines.
    pub view_behind_ack: Duration,
}

impl Default for LagCompensation {
    fn default() -> Self {
        Self {
            enabled: true,
            max_rewind: DEFAULT_MAX_REWIND,
            view_slack: Duration::from_millis(100),
            view_behind_ack: DEFAULT_VIEW_BEHIND_ACK,
        }
    }
}

impl LagCompensation {
    /// How many ticks (fractional) before `now` the input `client` sent for this tick should be
    /// judged at: what it says it saw, never more than its measured latency allows (round trip,
    /// input buffer, [`Self::view_slack`]) nor [`Self::max_rewind`]. Without a view, the
    /// latency-based estimate. 0 when disabled.
    pub fn rewind_ticks(&self, now: u32, tick_rate: u16, client: &ConnectedClient) -> f64 {
        if !self.enabled {
            return 0.0;
        }
        let tick_secs = 1.0 / f64::from(tick_rate.max(1));
        let latency = client.rtt.as_secs_f64() / tick_secs + f64::from(client.pacing.target);
        let allowed = (latency + self.view_slack.as_secs_f64() / tick_secs)
            .min(self.max_rewind.as_secs_f64() / tick_secs);
        let claimed = client.view.map_or(latency, |view| f64::from(now) - view);
        claimed.clamp(0.0, allowed.max(0.0))
    }

    fn keep_ticks(&self, tick_rate: u16) -> usize {
        (self.max_rewind.as_secs_f64() * f64::from(tick_rate.max(1))).ceil() as usize + 2
    }
}

/// Where an entity's `C` was at the end of each recent tick, oldest first.
#[derive(Component, Debug, Clone)]
pub struct History<C: Blend> {
    samples: VecDeque<(u32, C)>,
}

impl<C: Blend> History<C> {
    /// The value at (fractional) tick `tick`, blended between the two ticks around it; the oldest
    /// or newest kept when `tick` is outside the history.
    pub fn at(&self, tick: f64) -> Option<C> {
        crate::blend::sample_clamped(&self.samples, tick)
    }

    /// The newest tick recorded.
    pub fn newest_tick(&self) -> Option<u32> {
        self.samples.back().map(|(tick, _)| *tick)
    }
}

/// Registers lag-compensated components on the server.
pub trait AppLagCompensationExt {
    /// Keeps a [`History<C>`] of every replicated entity's `C`, long enough for
    /// [`LagCompensation::max_rewind`].
    fn lag_compensate<C: Blend>(&mut self) -> &mut Self;
}

impl AppLagCompensationExt for App {
    fn lag_compensate<C: Blend>(&mut self) -> &mut Self {
        self.init_resource::<LagCompensation>()
            .add_systems(FixedUpdate, record::<C>.after(SimulationSystems::Simulate))
    }
}

/// Records every replicated `C` as it is at the end of this tick.
fn record<C: Blend>(
    mut commands: Commands,
    tick: Res<SimulationTick>,
    settings: Res<LagCompensation>,
    rate: Option<Res<crate::server::TickRate>>,
    mut entities: Query<(Entity, &C, Option<&mut History<C>>), With<Replicated>>,
) {
    let keep = settings.keep_ticks(rate.map_or(crate::tick::DEFAULT_TICK_RATE, |rate| rate.0));
    for (entity, value, history) in &mut entities {
        match history {
            Some(mut history) => {
                if history.samples.back().is_some_and(|(at, _)| *at >= tick.0) {
                    continue;
                }
                if history.samples.len() >= keep {
                    history.samples.pop_front();
                }
                history.samples.push_back((tick.0, value.clone()));
            }
            None => {
                let mut samples = VecDeque::with_capacity(keep);
                samples.push_back((tick.0, value.clone()));
                commands.entity(entity).insert(History { samples });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputPacing;

    fn client(rtt_ms: u64, view: Option<f64>) -> ConnectedClient {
        ConnectedClient {
            client_id: 1,
            last_input: None,
            rtt: Duration::from_millis(rtt_ms),
            pacing: InputPacing {
                target: 1.0,
                average_lead: 1.0,
                advice: 0.0,
            },
            view,
        }
    }

    #[test]
    fn the_rewind_is_what_the_client_saw_within_what_its_latency_allows() {
        let settings = LagCompensation::default();
        // 100 ms round trip at 60 Hz: 6 ticks, plus 1 of buffer, plus 6 of slack: 13 allowed.
        let honest = client(100, Some(990.0));
        assert_eq!(settings.rewind_ticks(1000, 60, &honest), 10.0);
        // Claiming an older view than the latency allows: cut to the latency's bound.
        let greedy = client(100, Some(900.0));
        assert_eq!(settings.rewind_ticks(1000, 60, &greedy), 13.0);
        // A view in the future is no rewind.
        assert_eq!(
            settings.rewind_ticks(1000, 60, &client(100, Some(1010.0))),
            0.0
        );
        // However slow the link, never past the maximum (250 ms: 15 ticks).
        assert_eq!(
            settings.rewind_ticks(1000, 60, &client(900, Some(900.0))),
            15.0
        );
        // Without a view, the latency's estimate.
        assert_eq!(settings.rewind_ticks(1000, 60, &client(100, None)), 7.0);
        let off = LagCompensation {
            enabled: false,
            ..default()
        };
        assert_eq!(off.rewind_ticks(1000, 60, &honest), 0.0);
    }

    use crate::blend::TestValue as X;

    #[test]
    fn the_history_answers_between_ticks_and_stays_short() {
        let mut app = App::new();
        app.add_plugins(crate::tick::TickPlugin)
            .insert_resource(Time::<Fixed>::from_hz(60.0))
            .lag_compensate::<X>();
        let entity = app.world_mut().spawn((Replicated, X(0.0))).id();
        for step in 1..=100u32 {
            // The tick plugin advances the tick as the fixed step starts.
            app.world_mut().resource_mut::<SimulationTick>().0 = step - 1;
            app.world_mut().get_mut::<X>(entity).unwrap().0 = step as f32 * 10.0;
            app.world_mut().run_schedule(FixedUpdate);
        }
        let history = app.world().get::<History<X>>(entity).unwrap();
        assert_eq!(history.newest_tick(), Some(100));
        assert!(history.samples.len() <= 17, "{}", history.samples.len());
        assert_eq!(history.at(95.5), Some(X(955.0)));
        assert_eq!(
            history.at(1.0),
            history.samples.front().map(|s| s.1.clone())
        );
    }
}
