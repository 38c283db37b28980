//! Network statistics the client measures: round trip, loss, traffic, snapshot rate and
//! prediction corrections. The F3 overlay shows them; tests and bots read them.

use std::time::Duration;

use bevy::prelude::*;
use bevy_renet::RenetClient;

use crate::client::ClientSession;
use crate::client::replica::ServerEntityMap;
use crate::client::transport::ClientTransport;

/// Rates are computed over windows of this length.
const WINDOW: Duration = Duration::from_secs(1);

/// What the client measured about its connection.
#[derive(Resource, Debug, Default, Clone)]
pub struct NetStats {
    /// Smoothed round-trip time, in milliseconds (from renet's acks).
    pub rtt_ms: f32,
    /// Fraction of packets lost, as renet estimates it.
    pub packet_loss: f32,
    /// Bytes received per second (UDP payload, last window).
    pub bytes_in_per_s: f32,
    /// Bytes sent per second (UDP payload, last window).
    pub bytes_out_per_s: f32,
    /// Snapshots applied per second (last window).
    pub snapshots_per_s: f32,
    /// Replicated entities present locally (those relevant to us).
    pub entities: usize,
    /// Entities the server replicates in all, as it last said.
    pub server_entities: Option<u32>,
    /// Prediction corrections since connecting.
    pub corrections: u64,
    /// Of them, those larger than one unit (a visible misprediction, not rounding).
    pub large_corrections: u64,
    /// Size of the latest correction (in the units of the predicted component's
    /// [`Blend::distance`](crate::client::Blend::distance), world units for positions).
    pub last_correction: f32,
    /// Largest correction since connecting, in world units.
    pub max_correction: f32,
    /// The input lead the server's jitter buffer aims for with us, in ticks.
    pub input_buffer_ticks: f32,
    /// How fast our simulation clock runs relative to the server's, as it advises (1: same).
    pub clock_rate: f32,
    window_elapsed: Duration,
    window_start: (u64, u64, u64),
}

impl NetStats {
    /// Counts one prediction correction of `size` world units.
    pub fn record_correction(&mut self, size: f32) {
        self.corrections += 1;
        if size > 1.0 {
            self.large_corrections += 1;
        }
        self.last_correction = size;
        self.max_correction = self.max_correction.max(size);
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<NetStats>()
        .add_systems(Last, update_stats);
}

fn update_stats(
    time: Res<Time<Real>>,
    client: Option<Res<RenetClient>>,
    transport: Option<Res<ClientTransport>>,
    session: Res<ClientSession>,
    map: Res<ServerEntityMap>,
    mut stats: ResMut<NetStats>,
) {
    stats.entities = map.len();
    stats.server_entities = session.server_entities;
    if let Some(client) = &client {
        stats.rtt_ms = (client.rtt() * 1000.0) as f32;
        stats.packet_loss = client.packet_loss() as f32;
    }
    let Some(transport) = transport else {
        return;
    };
    let counters = transport.counters();
    let now = (
        counters.bytes_received,
        counters.bytes_sent,
        session.snapshots_applied,
    );
    stats.window_elapsed += time.delta();
    if stats.window_elapsed >= WINDOW {
        let secs = stats.window_elapsed.as_secs_f32();
        let (bytes_in, bytes_out, snapshots) = stats.window_start;
        stats.bytes_in_per_s = now.0.saturating_sub(bytes_in) as f32 / secs;
        stats.bytes_out_per_s = now.1.saturating_sub(bytes_out) as f32 / secs;
        stats.snapshots_per_s = now.2.saturating_sub(snapshots) as f32 / secs;
        stats.window_start = now;
        stats.window_elapsed = Duration::ZERO;
    }
}
