//! The game's input type and the server's per-client input buffer.
//!
//! A game's input is any serde type implementing [`NetInput`]: the client sends one per tick (with
//! the previous few, so a lost packet costs nothing), the server feeds one per tick to the entity
//! the client controls, in order. A missing frame repeats the previous input (the client's
//! prediction makes the same guess); frames that arrive after their tick was consumed are dropped.

use std::collections::BTreeMap;
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

/// Ticks of input held back before the first one is consumed, absorbing network jitter.
pub const JITTER_BUFFER_TICKS: u32 = 2;

/// If the client runs this many ticks ahead of what the server consumes (its clock is faster, or
/// a burst arrived), the buffer skips forward to keep input latency bounded.
const MAX_LEAD_TICKS: u32 = 8;

/// Most frames held per client; more (a flood) are dropped.
const MAX_BUFFERED: usize = 32;

/// Inputs received from one client and not yet simulated: a component of the server's client
/// entities.
#[derive(Component, Debug)]
pub struct InputBuffer<I: NetInput> {
    frames: BTreeMap<u32, I>,
    /// The client tick consumed on the next server tick.
    next: Option<u32>,
    /// The input most recently simulated (repeated when a frame is missing).
    last: I,
    /// Client tick of the input most recently simulated.
    last_consumed: Option<u32>,
    /// Ticks simulated with a repeated input because the frame had not arrived.
    pub missing: u64,
    /// Frames dropped because they arrived too late, were duplicates or overflowed the buffer.
    pub dropped: u64,
}

impl<I: NetInput> Default for InputBuffer<I> {
    fn default() -> Self {
        Self {
            frames: BTreeMap::new(),
            next: None,
            last: I::default(),
            last_consumed: None,
            missing: 0,
            dropped: 0,
        }
    }
}

impl<I: NetInput> InputBuffer<I> {
    /// Adds the frame a client sent for its tick `tick` (sanitized here).
    pub fn push(&mut self, tick: u32, frame: I) {
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
        self.frames.insert(tick, frame.sanitized());
    }

    /// The input for this server tick.
    pub fn pop(&mut self) -> I {
        let Some(mut next) = self.next else {
            return I::default();
        };
        if let Some(&newest) = self.frames.keys().next_back()
            && newest > next.saturating_add(MAX_LEAD_TICKS)
        {
            next = newest - JITTER_BUFFER_TICKS;
        }
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
        frame
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
            "skips ahead to bound input latency"
        );
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
        assert!(buffer.frames.values().all(|frame| frame.0 == 0.0));
    }
}
