//! The byte budget of one client's snapshot, and which entities go first when not everything
//! fits: those left out longest.

use super::client_state::ClientReplication;
use super::client_table::ClientEntity;
use super::tick_cache::SnapshotCache;
use super::world_record::ReplicationState;
use crate::bits::BitWriter;
use crate::registry::NetId;

/// Most snapshot payload bytes sent to one client per tick. When more is pending, entities that
/// were left out longest go first (their priority grows with each snapshot in a row they miss).
pub const SNAPSHOT_BUDGET_BYTES: usize = 8 * 1024;

impl ClientReplication {
    /// Not everything in `candidates` fits the budget: keeps the entities that waited longest
    /// (in id order); the others gain priority for the next snapshot.
    pub(super) fn select_by_priority(
        &mut self,
        state: &ReplicationState,
        cache: &SnapshotCache,
        tick: u32,
        candidates: &mut Vec<(u32, NetId)>,
        scratch: &mut BitWriter,
    ) {
        let header_bits = 16 + state.kinds.len();
        let waiting = std::mem::take(&mut self.waiting);
        let mut waited = waiting.iter().peekable();
        let mut sized: Vec<(u32, usize, u32, NetId)> = candidates
            .iter()
            .map(|&(dense, net_id)| {
                // (Both in id order.)
                while waited.next_if(|(id, _)| *id < (net_id, dense)).is_some() {}
                let priority = waited
                    .next_if(|(id, _)| *id == (net_id, dense))
                    .map_or(0, |(_, waited)| *waited);
                let baseline = self
                    .entities
                    .get(dense, net_id)
                    .and_then(ClientEntity::acked);
                let Some((_, bits)) = cache.encode(state, dense, baseline, tick, scratch) else {
                    return (0, 0, dense, net_id);
                };
                (priority, bits.bit_len() + header_bits, dense, net_id)
            })
            .collect();
        // Highest priority first; the same priority in id order (a stable sort).
        sized.sort_by_key(|&(priority, ..)| std::cmp::Reverse(priority));
        let mut used = 0;
        let keep = sized
            .iter()
            .take_while(|(_, bits, _, _)| {
                used += bits;
                used <= SNAPSHOT_BUDGET_BYTES * 8
            })
            .count()
            .max(1);
        self.waiting = waiting;
        self.waiting.clear();
        self.waiting.extend(
            sized[keep..]
                .iter()
                .map(|&(priority, _, dense, net_id)| ((net_id, dense), priority.saturating_add(1))),
        );
        self.waiting.sort_unstable_by_key(|(id, _)| *id);
        candidates.clear();
        candidates.extend(
            sized[..keep]
                .iter()
                .map(|&(_, _, dense, net_id)| (dense, net_id)),
        );
        candidates.sort_unstable_by_key(|&(_, net_id)| net_id);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::{Drift, Heading, Place, test_registry};
    use super::*;
    use crate::registry::Replicated;
    use crate::server::replication::collect_into;
    use bevy::platform::collections::HashSet;
    use bevy::prelude::*;

    #[test]
    fn over_budget_worlds_arrive_in_turns_without_starving_anyone() {
        let mut app = App::new();
        app.add_plugins(test_registry);
        let world = app.world_mut();
        let count = 3000;
        for i in 0..count {
            let i = i as f32;
            world.spawn((
                Replicated,
                Place(Vec2::new(i * 0.3 - 450.0, 500.0 - i * 0.33)),
                Drift(Vec2::new(i, -i)),
                Heading(i),
            ));
        }
        let mut state = ReplicationState::default();
        let mut cache = SnapshotCache::default();
        let mut client = ClientReplication::default();
        let mut seen = HashSet::new();
        let mut snapshots = 0;
        for tick in 0..30 {
            world.increment_change_tick();
            collect_into(&mut state, world, tick);
            if tick > 0 {
                client.acknowledge(tick - 1);
            }
            let payload = client.build_payload(&state, &mut cache, tick);
            assert!(
                payload.len() <= SNAPSHOT_BUDGET_BYTES + 64,
                "a snapshot stays within the budget ({} bytes)",
                payload.len()
            );
            let carried = &client.in_flight.back().unwrap().entities;
            seen.extend(carried.iter().map(|(_, net_id)| *net_id));
            snapshots += 1;
            if seen.len() == count {
                break;
            }
        }
        assert_eq!(seen.len(), count, "every entity reached the client");
        assert!(snapshots > 2, "{count} entities cannot fit in one snapshot");
        assert!(
            snapshots < 15,
            "the initial sync took {snapshots} snapshots"
        );
    }
}
