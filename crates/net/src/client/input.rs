//! Sending the local input: every fixed tick, [`LocalInput`] is sampled, kept for prediction
//! replay, and sent with the previous few frames and our newest snapshot ack.

use std::collections::VecDeque;

use bevy::prelude::*;
use bevy_renet::RenetClient;

use crate::channels::ClientChannel;
use crate::codec::encode;
use crate::input::NetInput;
use crate::protocol::{ClientMessage, INPUT_REDUNDANCY};
use crate::tick::SimulationTick;

use super::ClientSession;
use super::interpolation::InterpolationClock;

/// Inputs kept for replay after a snapshot (about 4 s at 60 Hz).
const INPUT_HISTORY: usize = 256;

/// What the local player wants to do right now. The game's input systems (keyboard, gamepad, a
/// bot, a test) write it; it is sampled and sent every fixed tick.
#[derive(Resource, Debug, Default, Clone, PartialEq, Deref, DerefMut)]
pub struct LocalInput<I: NetInput>(pub I);

/// The inputs sent and not yet simulated by the server, by client tick: what prediction replays
/// on top of each snapshot.
#[derive(Resource, Debug)]
pub struct InputHistory<I: NetInput> {
    frames: VecDeque<(u32, I)>,
    sent_this_tick: Option<(u32, I)>,
}

impl<I: NetInput> Default for InputHistory<I> {
    fn default() -> Self {
        Self {
            frames: VecDeque::new(),
            sent_this_tick: None,
        }
    }
}

impl<I: NetInput> InputHistory<I> {
    /// The input sampled and sent on the current fixed tick, if connected.
    pub fn sent_this_tick(&self) -> Option<&I> {
        self.sent_this_tick.as_ref().map(|(_, input)| input)
    }

    /// The client tick of the input sent on the current fixed tick: the key of what it spawns
    /// ([`PredictedSpawn`](crate::client::PredictedSpawn)).
    pub fn tick_sent_this_tick(&self) -> Option<u32> {
        self.sent_this_tick.as_ref().map(|(tick, _)| *tick)
    }

    /// Sent inputs newer than client tick `tick` (all of them for `None`), oldest first.
    pub fn after(&self, tick: Option<u32>) -> impl Iterator<Item = &I> {
        self.frames
            .iter()
            .filter(move |(at, _)| tick.is_none_or(|tick| *at > tick))
            .map(|(_, input)| input)
    }

    /// Forgets inputs the server simulated by client tick `acked`.
    pub(crate) fn acknowledge(&mut self, acked: u32) {
        while self.frames.front().is_some_and(|(at, _)| *at <= acked) {
            self.frames.pop_front();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.sent_this_tick = None;
    }
}

/// Samples [`LocalInput`] for this tick and sends it with the previous frames and our ack.
pub(super) fn send_input<I: NetInput>(
    input: Res<LocalInput<I>>,
    tick: Res<SimulationTick>,
    session: Res<ClientSession>,
    clock: Res<InterpolationClock>,
    mut history: ResMut<InputHistory<I>>,
    client: Option<ResMut<RenetClient>>,
) {
    history.sent_this_tick = None;
    let Some(mut client) = client else {
        return;
    };
    if !client.is_connected() {
        return;
    }
    let frame = input.0.clone().sanitized();
    if history.frames.len() == INPUT_HISTORY {
        history.frames.pop_front();
    }
    history.frames.push_back((tick.0, frame.clone()));
    history.sent_this_tick = Some((tick.0, frame));
    let skip = history.frames.len().saturating_sub(INPUT_REDUNDANCY);
    let message = ClientMessage::Input {
        ack: session.last_snapshot_tick,
        view_behind: view_behind(session.last_snapshot_tick, clock.render_tick),
        first_tick: history.frames[skip].0,
        frames: history
            .frames
            .iter()
            .skip(skip)
            .map(|(_, frame)| frame.clone())
            .collect(),
    };
    client.send_message(ClientChannel::Input, encode(&message));
}

/// How far behind the acknowledged snapshot `ack` the player sees everything it does not
/// control (`render_tick`), in 1/16 ticks; `None` without both.
fn view_behind(ack: Option<u32>, render_tick: Option<f64>) -> Option<u16> {
    let behind = f64::from(ack?) - render_tick.filter(|tick| tick.is_finite())?;
    Some((behind * 16.0).round().clamp(0.0, f64::from(u16::MAX)) as u16)
}
