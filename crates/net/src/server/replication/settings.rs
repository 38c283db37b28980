//! The replication settings a game can insert as resources: how long a silent client is kept
//! ([`AckTimeout`]), how often snapshots go out ([`SnapshotInterval`]) and whether they are built
//! on several threads ([`ParallelSnapshots`]).

use std::time::Duration;

use bevy::prelude::*;

/// The default [`AckTimeout`]: as long as netcode's own timeout for unsecure clients, so an honest
/// client whose process stalls is not sent away any sooner than netcode would drop it.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client may go without acknowledging any snapshot (counted in simulation ticks from
/// its newest ack, or from its first snapshot if it never acknowledged one) before it is sent
/// away with [`ServerMessage::Goodbye`](crate::protocol::ServerMessage::Goodbye) ("no snapshot
/// acknowledged for N s").
///
/// Honest clients acknowledge every snapshot they apply, even an empty one, with every input
/// message (each fixed tick), so their newest ack is one round trip plus a snapshot interval old.
/// A client that stops acknowledging (an attacker, or a link with several seconds of round trip)
/// would otherwise make the server keep every despawn for it. Insert this resource to change it;
/// [`DEFAULT_ACK_TIMEOUT`] otherwise.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckTimeout(pub Duration);

impl Default for AckTimeout {
    fn default() -> Self {
        Self(DEFAULT_ACK_TIMEOUT)
    }
}

/// Snapshots go out every `n`-th tick (1 = every tick). Set from
/// [`ListenConfig::snapshot_rate`](crate::server::ListenConfig::snapshot_rate).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInterval(pub u32);

/// Whether snapshots are built on the compute task pool's threads (default) or on the tick's
/// thread. The bytes are the same either way.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParallelSnapshots(pub bool);

impl Default for ParallelSnapshots {
    fn default() -> Self {
        Self(true)
    }
}

impl ParallelSnapshots {
    /// The compute task pool when snapshots are parallel and it exists.
    pub(super) fn pool(self) -> Option<&'static bevy::tasks::TaskPool> {
        self.0
            .then(bevy::tasks::ComputeTaskPool::try_get)
            .flatten()
            .map(|pool| &**pool)
    }
}
