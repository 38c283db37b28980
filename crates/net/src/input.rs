//! The game's input type and the server's per-client input buffer.
//!
//! A game's input is any serde type implementing [`NetInput`]: the client sends one per tick (with
//! the previous few, so a lost packet costs nothing), the server feeds one per tick to the entity
//! the client controls, in order. A missing frame repeats the previous input (the client's
//! prediction makes the same guess); frames that arrive after their tick was consumed are dropped.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;

use bevy::prelude::*;
use serde::{Serialize, de::DeserializeOwned};

/// A game's per-tick input, as the client samples it and the server applies it.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use skirmish_net::input::NetInput;
///
/// #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
/// struct Steering {
///     turn: f32,
///     boost: bool,
/// }
///
/// impl NetInput for Steering {
///     fn sanitized(self) -> Self {
///         let turn = if self.turn.is_finite() { self.turn.clamp(-1.0, 1.0) } else { 0.0 };
///         Self { turn, ..self }
///     }
/// }
/// ```
pub trait NetInput:
    Serialize + DeserializeOwned + Clone + Default + PartialEq + Debug + Send + Sync + 'static
{
    /// Makes an input safe to simulate (clamp lengths, replace NaN): the server applies it to
    /// everything a client sends, and the client to what it predicts with, so both agree.
    fn sanitized(self) -> Self {
        self
    }
}

/// A game without input of its own (spectators, a lobby): the unit input.
impl NetInput for () {}

/// Registers the game's input type with the rest of its protocol: call it once, in the shared
/// plugin both apps add. The server then buffers every client's frames into
/// [`ClientInput<I>`](crate::server::ClientInput); the client sends its
/// [`LocalInput<I>`](crate::client::LocalInput) every tick and predicts with it.
pub trait AppInputExt {
    /// Makes `I` the game's input (part of the protocol fingerprint).
    ///
    /// # Panics
    ///
    /// If another input type was registered already: a game has one.
    fn add_input<I: NetInput>(&mut self) -> &mut Self;
}

impl AppInputExt for App {
    fn add_input<I: NetInput>(&mut self) -> &mut Self {
        let name = std::any::type_name::<I>();
        let mut registry = self
            .world_mut()
            .get_resource_or_init::<crate::registry::ReplicationRegistry>();
        if let Some(existing) = registry.input_type() {
            assert!(
                existing == name,
                "the input type is {existing}; {name} cannot be a second one"
            );
            return self;
        }
        registry.set_input_type(name);
        crate::side::on_side(
            self,
            crate::server::install_input::<I>,
            crate::client::install_input::<I>,
        );
        self
    }
}

/// Registers the unit input when the game registered none (a side plugin's `finish`): a game
/// without input still needs its clients' messages received and its acks sent.
pub(crate) fn default_to_no_input(app: &mut App) {
    let registered = app
        .world()
        .get_resource::<crate::registry::ReplicationRegistry>()
        .is_some_and(|registry| registry.input_type().is_some());
    if !registered {
        app.add_input::<()>();
    }
}

/// Ticks of input held back before the first one is consumed, until the buffer has measured
/// the client's jitter.
pub const JITTER_BUFFER_TICKS: u32 = 2;

/// The least input lead the buffer aims for: one tick of margin when arrivals are perfectly
/// regular.
pub const MIN_BUFFER_TICKS: f32 = 1.0;

/// The most input lead the buffer aims for, however jittery the client: beyond this, added
/// input delay hurts more than an occasional repeated input.
pub const MAX_BUFFER_TICKS: f32 = 10.0;

/// If the client runs this many ticks ahead of what the server consumes (its clock raced, or a
/// burst arrived after a stall), the buffer skips forward to keep input latency bounded.
const MAX_LEAD_TICKS: u32 = 16;

/// Most frames held per client; more (a flood) are dropped.
const MAX_BUFFERED: usize = 32;

/// Ticks the jitter is measured over (2 s at 60 Hz).
const JITTER_WINDOW: usize = 120;

/// Inputs received from one client and not yet simulated: a component of the server's client
/// entities. It sizes itself to the client's arrival jitter: every tick it measures how far ahead
/// of consumption the newest frame received is (the lead), aims for an average lead of half its
/// spread over the last 2 s plus [`MIN_BUFFER_TICKS`] (so even the latest arrival is in time),
/// and advises the client to run its clock a little faster or slower to get there
/// ([`InputPacing`]).
#[derive(Component, Debug)]
pub struct InputBuffer<I: NetInput> {
    frames: BTreeMap<u32, (I, Option<f64>)>,
    /// The client tick consumed on the next server tick.
    next: Option<u32>,
    /// The input most recently simulated (repeated when a frame is missing), with its view.
    last: (I, Option<f64>),
    /// Client tick of the input most recently simulated.
    last_consumed: Option<u32>,
    /// The newest client tick received.
    newest: Option<u32>,
    /// Recent leads, one per tick, newest last.
    leads: VecDeque<i32>,
    /// Smoothed lead, in ticks.
    average_lead: f32,
    /// Ticks simulated with a repeated input because the frame had not arrived.
    pub missing: u64,
    /// Frames dropped because they arrived too late, were duplicates or overflowed the buffer.
    pub dropped: u64,
}

/// What the input buffer measured of a client's arrivals, and what it advises.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct InputPacing {
    /// The lead the buffer aims for, in ticks: the measured jitter plus a margin.
    pub target: f32,
    /// The smoothed lead at arrival, in ticks.
    pub average_lead: f32,
    /// Ticks the client should move its inputs earlier (positive: run faster) or later.
    pub advice: f32,
}

/// How fast a client runs its simulation clock, relative to the server's tick rate, given the
/// server's latest [`InputPacing::advice`]: up to 6% faster or slower, gently, so a correction
/// of a few ticks takes about a second and never shows as a jump.
pub fn clock_rate(advice: f32) -> f32 {
    if !advice.is_finite() {
        return 1.0;
    }
    1.0 + (advice * 0.02).clamp(-0.06, 0.06)
}

impl<I: NetInput> Default for InputBuffer<I> {
    fn default() -> Self {
        Self {
            frames: BTreeMap::new(),
            next: None,
            last: (I::default(), None),
            last_consumed: None,
            newest: None,
            leads: VecDeque::with_capacity(JITTER_WINDOW),
            average_lead: JITTER_BUFFER_TICKS as f32,
            missing: 0,
            dropped: 0,
        }
    }
}

impl<I: NetInput> InputBuffer<I> {
    /// Adds the frame a client sent for its tick `tick` (sanitized here).
    pub fn push(&mut self, tick: u32, frame: I) {
        self.push_with_view(tick, frame, None);
    }

    /// Adds a frame with the server tick (fractional) the client was showing when it sampled
    /// it: what lag compensation rewinds to.
    pub fn push_with_view(&mut self, tick: u32, frame: I, view: Option<f64>) {
        // Ticks near the end of the range are nonsense (a client ticks at 60 Hz from 0) and would
        // leave no room to count on from.
        if tick > u32::MAX - 1024
            || self.next.is_some_and(|next| tick < next)
            || self.frames.contains_key(&tick)
        {
            self.dropped += 1;
            return;
        }
        if self.next.is_none() {
            self.next = Some(tick.saturating_sub(JITTER_BUFFER_TICKS));
        }
        if self.frames.len() >= MAX_BUFFERED {
            self.dropped += 1;
            return;
        }
        let view = view.filter(|view| view.is_finite() && *view >= 0.0);
        self.frames.insert(tick, (frame.sanitized(), view));
    }

    /// Records that a message with frames up to client tick `newest` arrived.
    pub fn arrived(&mut self, newest: u32) {
        if newest <= u32::MAX - 1024 {
            self.newest = Some(self.newest.map_or(newest, |known| known.max(newest)));
        }
    }

    /// One lead sample, taken as a tick consumes `next`.
    fn sample_lead(&mut self, next: u32) {
        let Some(newest) = self.newest else {
            return;
        };
        let lead = (i64::from(newest) - i64::from(next)).clamp(-64, 64) as i32;
        if self.leads.len() == JITTER_WINDOW {
            self.leads.pop_front();
        }
        self.leads.push_back(lead);
        self.average_lead += (lead as f32 - self.average_lead) * 0.05;
    }

    /// What the buffer measured and advises.
    pub fn pacing(&self) -> InputPacing {
        let (Some(min), Some(max)) = (self.leads.iter().min(), self.leads.iter().max()) else {
            return InputPacing {
                target: JITTER_BUFFER_TICKS as f32,
                average_lead: self.average_lead,
                advice: 0.0,
            };
        };
        // Arrivals spread over `max - min` ticks, one of which is only the rounding of a clock
        // that drifts between whole ticks: half the rest (plus the margin) above the average
        // keeps even the latest arrival in time.
        let jitter = (max - min - 1).max(0) as f32;
        let target = (jitter * 0.5 + MIN_BUFFER_TICKS).clamp(MIN_BUFFER_TICKS, MAX_BUFFER_TICKS);
        InputPacing {
            target,
            average_lead: self.average_lead,
            advice: target - self.average_lead,
        }
    }

    /// The input for this server tick.
    pub fn pop(&mut self) -> I {
        let Some(mut next) = self.next else {
            return I::default();
        };
        if let Some(&newest) = self.frames.keys().next_back()
            && newest > next.saturating_add(MAX_LEAD_TICKS)
        {
            let keep = self.pacing().target.ceil() as u32;
            next = newest - keep.min(MAX_LEAD_TICKS);
            // A jump, not a lead: measure afresh from here.
            self.leads.clear();
            self.average_lead = keep as f32;
        }
        self.sample_lead(next);
        let frame = match self.frames.remove(&next) {
            Some(frame) => frame,
            None => {
                self.missing += 1;
                self.last.clone()
            }
        };
        while self
            .frames
            .first_key_value()
            .is_some_and(|(tick, _)| *tick <= next)
        {
            self.frames.pop_first();
        }
        self.last = frame.clone();
        self.last_consumed = Some(next);
        self.next = Some(next.saturating_add(1));
        frame.0
    }

    /// The server tick the client was showing when it sampled the input most recently
    /// simulated, if it said.
    pub fn last_view(&self) -> Option<f64> {
        self.last.1
    }

    /// Client tick of the input most recently simulated: the client replays its inputs after it.
    pub fn last_consumed(&self) -> Option<u32> {
        self.last_consumed
    }

    /// Frames held, not yet simulated.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
    struct Axis(f32);

    impl NetInput for Axis {
        fn sanitized(self) -> Self {
            Self(if self.0.is_finite() {
                self.0.clamp(-1.0, 1.0)
            } else {
                0.0
            })
        }
    }

    /// Pops one input, with the client tick it was consumed for.
    fn pop(buffer: &mut InputBuffer<Axis>) -> (u32, f32) {
        let input = buffer.pop();
        (buffer.last_consumed().unwrap(), input.0)
    }

    #[test]
    fn consumes_one_tick_at_a_time_in_order() {
        let mut buffer = InputBuffer::default();
        for tick in 10..15 {
            buffer.push(tick, Axis(tick as f32 / 100.0));
        }
        // The buffer starts JITTER_BUFFER_TICKS behind the first frame it saw.
        assert_eq!(pop(&mut buffer).0, 8);
        assert_eq!(pop(&mut buffer).0, 9);
        for tick in 10..15 {
            assert_eq!(pop(&mut buffer), (tick, tick as f32 / 100.0));
        }
        assert_eq!(buffer.last_consumed(), Some(14));
    }

    #[test]
    fn missing_frames_repeat_the_last_input_and_late_ones_are_dropped() {
        let mut buffer = InputBuffer::default();
        buffer.push(2, Axis(1.0));
        assert_eq!(pop(&mut buffer).0, 0);
        assert_eq!(pop(&mut buffer).0, 1);
        assert_eq!(pop(&mut buffer).1, 1.0);
        // Tick 3 is missing: the last input repeats.
        assert_eq!(pop(&mut buffer), (3, 1.0));
        assert_eq!(buffer.missing, 3, "ticks 0, 1 and 3 had no frame");
        // Tick 3 arriving now is too late.
        buffer.push(3, Axis(-1.0));
        assert_eq!(buffer.dropped, 1);
        buffer.push(4, Axis(0.5));
        assert_eq!(pop(&mut buffer).1, 0.5);
    }

    #[test]
    fn far_ahead_client_is_caught_up() {
        let mut buffer = InputBuffer::default();
        buffer.push(100, Axis(0.0));
        buffer.pop();
        for tick in 101..120 {
            buffer.push(tick, Axis(0.0));
        }
        assert_eq!(
            pop(&mut buffer).0,
            119 - JITTER_BUFFER_TICKS,
            "skips ahead to bound input latency (to the target lead)"
        );
    }

    /// A client whose clock follows the server's advice ([`clock_rate`]), seen `delay` server
    /// ticks late, and whose frames leave `every` client ticks at a time.
    struct Client {
        tick: u32,
        phase: f32,
        every: u32,
        delay: VecDeque<f32>,
    }

    /// Runs `ticks` server ticks of `client` against `buffer`. Returns the target lead.
    fn run(buffer: &mut InputBuffer<Axis>, client: &mut Client, ticks: u32) -> f32 {
        for _ in 0..ticks {
            client.delay.push_back(buffer.pacing().advice);
            let advice = client.delay.pop_front().unwrap_or(0.0);
            client.phase += clock_rate(advice);
            while client.phase >= 1.0 {
                client.phase -= 1.0;
                client.tick += 1;
                if client.tick.is_multiple_of(client.every) {
                    for tick in client.tick + 1 - client.every..=client.tick {
                        buffer.push(tick, Axis(0.5));
                    }
                    buffer.arrived(client.tick);
                }
            }
            buffer.pop();
        }
        buffer.pacing().target
    }

    #[test]
    fn the_buffer_grows_under_jitter_and_shrinks_back() {
        let mut buffer = InputBuffer::default();
        // A round trip of 6 ticks (100 ms) before the client hears the advice.
        let mut client = Client {
            tick: 10,
            phase: 0.0,
            every: 1,
            delay: VecDeque::from(vec![0.0; 6]),
        };
        let steady = run(&mut buffer, &mut client, 600);
        assert_eq!(
            steady, MIN_BUFFER_TICKS,
            "regular arrivals need the margin only"
        );
        let missing = buffer.missing;
        run(&mut buffer, &mut client, 300);
        assert_eq!(buffer.missing, missing, "and are all in time");
        let lead = buffer.pacing().average_lead;
        assert!(
            (lead - steady).abs() < 0.5,
            "the client settled at the target: {lead}"
        );

        // An uneven client: its frames arrive four at a time.
        client.every = 4;
        let bursty = run(&mut buffer, &mut client, 900);
        assert!(
            bursty >= 2.0,
            "bursts of 4 ticks need a deeper buffer, got {bursty}"
        );
        let missing = buffer.missing;
        run(&mut buffer, &mut client, 300);
        assert_eq!(
            buffer.missing, missing,
            "once sized, the bursty client's inputs are all in time"
        );

        client.every = 1;
        let calm = run(&mut buffer, &mut client, 900);
        assert_eq!(calm, MIN_BUFFER_TICKS, "and back once the jitter is gone");
        let lead = buffer.pacing().average_lead;
        assert!(
            (lead - calm).abs() < 0.5,
            "the client came back to the target: {lead}"
        );
    }

    #[test]
    fn a_client_behind_its_target_is_told_to_run_faster() {
        // A client whose frames arrive only just in time (lead 0) is advised to send earlier.
        let mut late = InputBuffer::default();
        late.push(0, Axis(0.0));
        late.next = Some(0);
        for tick in 1..300u32 {
            late.pop();
            late.push(tick, Axis(0.0));
            late.arrived(tick);
        }
        assert!(late.pacing().advice > 0.5, "{:?}", late.pacing());
        // One far ahead is advised to slow down.
        let mut early = InputBuffer::default();
        for tick in 0..12u32 {
            early.push(tick, Axis(0.0));
            early.arrived(tick);
        }
        early.next = Some(0);
        for tick in 12..300u32 {
            early.pop();
            early.push(tick, Axis(0.0));
            early.arrived(tick);
        }
        assert!(early.pacing().advice < -5.0, "{:?}", early.pacing());
    }

    #[test]
    fn absurd_ticks_are_ignored_without_overflow() {
        let mut buffer = InputBuffer::default();
        buffer.push(u32::MAX, Axis(1.0));
        buffer.push(u32::MAX - 1, Axis(1.0));
        assert_eq!(buffer.dropped, 2);
        buffer.push(u32::MAX - 1024, Axis(1.0));
        for _ in 0..2000 {
            buffer.pop();
        }
        assert!(buffer.last_consumed().is_some());
    }

    #[test]
    fn flood_is_bounded_and_sanitized() {
        let mut buffer = InputBuffer::default();
        for tick in 0..1000 {
            buffer.push(tick, Axis(f32::NAN));
        }
        assert!(buffer.frames.len() <= MAX_BUFFERED);
        assert!(buffer.dropped >= 1000 - MAX_BUFFERED as u64);
        assert!(buffer.frames.values().all(|frame| frame.0.0 == 0.0));
    }
}
