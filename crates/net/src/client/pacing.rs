//! The client's pace: its simulation clock runs a little faster or slower as the server advises,
//! and inputs the server has simulated are forgotten.

use std::time::Duration;

use bevy::prelude::*;

use super::session::{ClientSession, ConnectionStatus};
use super::{InputHistory, NetStats};
use crate::input::NetInput;

/// The server will never need inputs it already simulated replayed; a new connection starts
/// with none.
pub(super) fn forget_simulated_inputs<I: NetInput>(
    session: Res<ClientSession>,
    status: Res<ConnectionStatus>,
    mut history: ResMut<InputHistory<I>>,
) {
    if !matches!(
        *status,
        ConnectionStatus::Connected | ConnectionStatus::Connecting { .. }
    ) {
        history.clear();
        return;
    }
    if session.is_changed()
        && let Some(acked) = session.last_input_ack
    {
        history.acknowledge(acked);
    }
}

/// Runs the simulation clock a little faster or slower, as the server advises, so our inputs
/// arrive just ahead of when the server needs them.
pub(super) fn pace_clock(
    session: Res<ClientSession>,
    status: Res<ConnectionStatus>,
    mut fixed: ResMut<Time<Fixed>>,
    mut stats: ResMut<NetStats>,
) {
    if !session.is_changed() && !status.is_changed() {
        return;
    }
    let rate = if status.is_connected() {
        crate::input::clock_rate(session.clock_advice)
    } else {
        1.0
    };
    let timestep = Duration::from_secs_f64(session.tick_secs() / f64::from(rate));
    if fixed.timestep() != timestep {
        fixed.set_timestep(timestep);
    }
    stats.clock_rate = rate;
    stats.input_buffer_ticks = session.input_buffer;
}
