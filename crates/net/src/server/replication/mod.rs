//! Server-side replication: find what changed in the world this tick, then send each client a
//! snapshot holding everything it has not acknowledged yet, delta-coded and bit-packed.
//!
//! Changes are found by walking each replicated component's change ticks (a few nanoseconds per
//! entity, nothing per entity that rests), and each is recorded once per tick (encoded bytes, or
//! quantized integers with a short history); with spatial interest, only once a client can see
//! the entity. Per client and per entity, the server remembers the newest acknowledged snapshot
//! that carried the entity (its baseline); a snapshot carries each entity's components changed
//! since that baseline, quantized ones as differences from their value at the baseline. Entities
//! whose spawn is not acknowledged (or whose baseline is older than [`HISTORY_TICKS`]) go
//! absolute, and despawns are repeated until acknowledged. So a lost snapshot is repaired by the
//! next one, an entity at rest costs nothing, and a late joiner starts with the full world.
//!
//! What the server keeps per client is bounded whatever the client acknowledges: each pending
//! despawn is stored once, with the tick of the first snapshot that carried it (every later
//! snapshot carries it too, so any acknowledged snapshot from that tick on delivered it), at most
//! [`IN_FLIGHT_SNAPSHOTS`] snapshots are remembered, and a client whose newest acknowledgement is
//! older than [`AckTimeout`] is told why and sent away.
//!
//! The work is split by job:
//!
//! - `settings`: the resources a game can insert ([`AckTimeout`], [`SnapshotInterval`],
//!   [`ParallelSnapshots`]);
//! - `world_record`: the server's record of the replicated world and its value history
//!   ([`ReplicationState`]);
//! - `change_scan`: finding what changed since the last collection (`collect_into`);
//! - `recording`: reading changed values into the record, on several threads when many;
//! - `relevance`: which entities each client gets, and recording what they need
//!   (`resolve_relevance`);
//! - `entity_encoding`: one entity's header and component bits against a baseline;
//! - `tick_cache`: this tick's encodings, shared by every client (`SnapshotCache`);
//! - `client_table`: a client's per-entity acknowledgement table;
//! - `client_state`: what the server keeps per client and its acknowledgements
//!   ([`ClientReplication`]);
//! - `budget`: the per-snapshot byte budget and priority;
//! - `snapshot_builder`: writing each client's payload (`build_payloads`);
//! - `views`: each client's interest view, resolved from its [`ClientInterest`](interest::ClientInterest);
//! - `fan_out`: when and how work is split between threads (every such split runs through it);
//! - `systems`: the systems that run it all each tick.

mod budget;
mod change_scan;
mod client_state;
mod client_table;
mod entity_encoding;
mod fan_out;
mod recording;
mod relevance;
mod settings;
mod snapshot_builder;
mod systems;
#[cfg(test)]
mod test_fixtures;
mod tick_cache;
mod views;
mod world_record;

use bevy::prelude::*;

use crate::server::ServerSystems;
use crate::server::clients::ConnectedClient;
use crate::server::interest;
use crate::tick::SimulationTick;

pub use budget::SNAPSHOT_BUDGET_BYTES;
#[cfg(any(test, feature = "internals"))]
pub use change_scan::collect_into;
pub use client_state::{
    ClientReplication, IN_FLIGHT_SNAPSHOTS, MAX_CARRIED_DESPAWNS, ReplicationFootprint,
};
#[cfg(any(test, feature = "internals"))]
pub use relevance::resolve_relevance;
pub use settings::{AckTimeout, DEFAULT_ACK_TIMEOUT, ParallelSnapshots, SnapshotInterval};
#[cfg(any(test, feature = "internals"))]
pub use snapshot_builder::build_payloads;
pub(crate) use systems::collect_changes;
pub use tick_cache::SnapshotCache;
pub use world_record::{HISTORY_TICKS, ReplicationState};

pub(super) fn plugin(app: &mut App) {
    app.register_required_components::<ConnectedClient, ClientReplication>();
    app.init_resource::<ReplicationState>()
        .init_resource::<SnapshotCache>()
        .init_resource::<ParallelSnapshots>()
        .init_resource::<AckTimeout>()
        .add_systems(
            PostUpdate,
            (
                systems::send_away_silent_clients,
                (
                    systems::collect_changes,
                    views::resolve_views.in_set(interest::InterestSystems),
                    systems::resolve_interest,
                    systems::send_snapshots,
                )
                    .chain()
                    .run_if(resource_changed::<SimulationTick>)
                    .run_if(systems::snapshot_due),
            )
                .chain()
                .in_set(ServerSystems::Send),
        );
}
