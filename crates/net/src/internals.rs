//! The server's replication pipeline step by step, for benchmarks and seed generators that
//! drive it without sockets (feature `internals`; not a stable API). A server app runs the same
//! steps each tick through [`NetServerPlugin`](crate::server::NetServerPlugin).
//!
//! One tick: [`set_history_horizon`], then [`collect_into`]; with spatial interest,
//! [`set_view`] for each client and [`resolve_relevance`]; then [`build_payloads`], whose
//! payloads go out in [`Snapshot`](crate::protocol::Snapshot)s.

pub use crate::server::interest::InterestView;
pub use crate::server::replication::{
    SnapshotCache, build_payloads, collect_into, resolve_relevance,
};
use crate::server::{ClientReplication, ReplicationState};

/// Tells the collection the oldest tick clients' baselines are expected at (the oldest of their
/// newest acknowledgements): older value history is let go.
pub fn set_history_horizon(state: &mut ReplicationState, tick: Option<u32>) {
    state.set_history_horizon(tick);
}

/// Sets what `client` may see at the next snapshots (`None`: everything), as the server's
/// interest step does from its `ClientInterest`.
pub fn set_view(client: &mut ClientReplication, view: Option<InterestView>) {
    client.interest = view;
}
