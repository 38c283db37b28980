//! Per-client input jitter buffers: every server tick consumes exactly one client tick of input,
//! in order. A missing frame repeats the previous input (the client's prediction does the same
//! guess); frames that arrive after their tick was consumed are dropped.

use std::collections::BTreeMap;

use bevy::prelude::*;
use skirmish_shared::prelude::*;

use crate::connection::ConnectedClients;

/// Ticks of input held back before the first one is consumed, absorbing network jitter.
pub const JITTER_BUFFER_TICKS: u32 = 2;

/// If the client runs this many ticks ahead of what the server consumes (its clock is faster, or
/// a burst arrived), the buffer skips forward to keep input latency bounded.
const MAX_LEAD_TICKS: u32 = 8;

/// Most frames held per client; more (a flood) are dropped.
const MAX_BUFFERED: usize = 32;

/// Inputs received from one client and not yet simulated.
#[derive(Debug, Default)]
pub struct InputBuffer {
    frames: BTreeMap<u32, InputFrame>,
    /// The client tick consumed on the next server tick.
    next: Option<u32>,
    /// The input most recently simulated (repeated when a frame is missing).
    last: InputFrame,
    /// Client tick of the input most recently simulated.
    last_consumed: Option<u32>,
    /// Ticks simulated with a repeated input because the frame had not arrived.
    pub missing: u64,
    /// Frames dropped because they arrived too late, were duplicates or overflowed the buffer.
    pub dropped: u64,
}

impl InputBuffer {
    /// Adds a received frame (sanitized here).
    pub fn push(&mut self, frame: InputFrame) {
        // Ticks near the end of the range are nonsense (a client ticks at 60 Hz from 0) and would
        // leave no room to count on from.
        if frame.tick > u32::MAX - 1024
            || self.next.is_some_and(|next| frame.tick < next)
            || self.frames.contains_key(&frame.tick)
        {
            self.dropped += 1;
            return;
        }
        if self.next.is_none() {
            self.next = Some(frame.tick.saturating_sub(JITTER_BUFFER_TICKS));
        }
        if self.frames.len() >= MAX_BUFFERED {
            self.dropped += 1;
            return;
        }
        self.frames.insert(frame.tick, frame.sanitized());
    }

    /// The input for this server tick.
    pub fn pop(&mut self) -> InputFrame {
        let Some(mut next) = self.next else {
            return InputFrame::default();
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
                InputFrame {
                    tick: next,
                    ..self.last
                }
            }
        };
        while self
            .frames
            .first_key_value()
            .is_some_and(|(tick, _)| *tick <= next)
        {
            self.frames.pop_first();
        }
        self.last = frame;
        self.last_consumed = Some(next);
        self.next = Some(next.saturating_add(1));
        frame
    }

    /// Client tick of the input most recently simulated: the client replays its inputs after it.
    pub fn last_consumed(&self) -> Option<u32> {
        self.last_consumed
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(FixedUpdate, apply_inputs.in_set(SimulationSystems::Input));
}

/// Feeds one buffered input per client into its player's [`PlayerInput`].
fn apply_inputs(mut clients: ResMut<ConnectedClients>, mut inputs: Query<&mut PlayerInput>) {
    for info in clients.values_mut() {
        let frame = info.inputs.pop();
        if let Ok(mut input) = inputs.get_mut(info.player) {
            input.0 = frame;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tick: u32, x: f32) -> InputFrame {
        InputFrame {
            tick,
            movement: Vec2::new(x, 0.0),
            ..default()
        }
    }

    #[test]
    fn consumes_one_tick_at_a_time_in_order() {
        let mut buffer = InputBuffer::default();
        for tick in 10..15 {
            buffer.push(frame(tick, tick as f32 / 100.0));
        }
        // The buffer starts JITTER_BUFFER_TICKS behind the first frame it saw.
        assert_eq!(buffer.pop().tick, 8);
        assert_eq!(buffer.pop().tick, 9);
        for tick in 10..15 {
            let popped = buffer.pop();
            assert_eq!(popped.tick, tick);
            assert_eq!(popped.movement.x, tick as f32 / 100.0);
        }
        assert_eq!(buffer.last_consumed(), Some(14));
    }

    #[test]
    fn missing_frames_repeat_the_last_input_and_late_ones_are_dropped() {
        let mut buffer = InputBuffer::default();
        buffer.push(frame(2, 1.0));
        assert_eq!(buffer.pop().tick, 0);
        assert_eq!(buffer.pop().tick, 1);
        assert_eq!(buffer.pop().movement.x, 1.0);
        // Tick 3 is missing: the last input repeats.
        let repeated = buffer.pop();
        assert_eq!((repeated.tick, repeated.movement.x), (3, 1.0));
        assert_eq!(buffer.missing, 3, "ticks 0, 1 and 3 had no frame");
        // Tick 3 arriving now is too late.
        buffer.push(frame(3, -1.0));
        assert_eq!(buffer.dropped, 1);
        buffer.push(frame(4, 0.5));
        assert_eq!(buffer.pop().movement.x, 0.5);
    }

    #[test]
    fn far_ahead_client_is_caught_up() {
        let mut buffer = InputBuffer::default();
        buffer.push(frame(100, 0.0));
        buffer.pop();
        for tick in 101..120 {
            buffer.push(frame(tick, 0.0));
        }
        let popped = buffer.pop();
        assert_eq!(
            popped.tick,
            119 - JITTER_BUFFER_TICKS,
            "skips ahead to bound input latency"
        );
    }

    #[test]
    fn absurd_ticks_are_ignored_without_overflow() {
        let mut buffer = InputBuffer::default();
        buffer.push(frame(u32::MAX, 1.0));
        buffer.push(frame(u32::MAX - 1, 1.0));
        assert_eq!(buffer.dropped, 2);
        buffer.push(frame(u32::MAX - 1024, 1.0));
        for _ in 0..2000 {
            buffer.pop();
        }
        assert!(buffer.last_consumed().is_some());
    }

    #[test]
    fn flood_is_bounded_and_sanitized() {
        let mut buffer = InputBuffer::default();
        for tick in 0..1000 {
            buffer.push(InputFrame {
                tick,
                movement: Vec2::new(f32::NAN, 1e30),
                ..default()
            });
        }
        assert!(buffer.frames.len() <= MAX_BUFFERED);
        assert!(buffer.dropped >= 1000 - MAX_BUFFERED as u64);
        assert!(
            buffer
                .frames
                .values()
                .all(|frame| frame.movement == Vec2::ZERO)
        );
    }
}
