//! Writing each client's snapshot payload: every entity it lacks, in id order, from this tick's
//! shared encodings where it can, within the budget, then the pending despawns; for many clients
//! on several threads.

use super::budget::SNAPSHOT_BUDGET_BYTES;
use super::client_state::{
    ClientReplication, IN_FLIGHT_SNAPSHOTS, MAX_CARRIED_DESPAWNS, NOT_CARRIED, SentSnapshot,
};
use super::client_table::{ClientEntity, EntityTable, NOT_SENT, UNACKED};
use super::fan_out;
use super::relevance::RelevanceScratch;
use super::tick_cache::SnapshotCache;
use super::world_record::ReplicationState;
use crate::bits::BitWriter;
use crate::registry::NetId;
use crate::snapshot_format::{EntityHeader, write_end, write_header, write_id_step};

/// Builds the snapshot payload of every client in `clients` for `tick`, on the threads of
/// `pool` when given (each client's bytes are the same either way), else on this thread.
pub fn build_payloads(
    clients: &mut [&mut ClientReplication],
    state: &ReplicationState,
    cache: &mut SnapshotCache,
    tick: u32,
    pool: Option<&bevy::tasks::TaskPool>,
) -> Vec<Vec<u8>> {
    cache.prepare_on(state, tick, pool);
    let cache = &*cache;
    let (first, rest) = fan_out::split_mut(clients, fan_out::shares(pool, clients.len() > 1));
    let (mut payloads, others) = fan_out::run(pool, first, rest, |part| {
        let mut scratch = BitWriter::new();
        part.iter_mut()
            .map(|client| client.build(state, cache, tick, &mut scratch))
            .collect::<Vec<_>>()
    });
    payloads.extend(others.into_iter().flatten());
    payloads
}

impl ClientReplication {
    /// Builds this client's snapshot payload for `tick` and remembers what it carries. (For many
    /// clients, `build_payloads` shares the work and can use several threads.)
    pub fn build_payload(
        &mut self,
        state: &ReplicationState,
        cache: &mut SnapshotCache,
        tick: u32,
    ) -> Vec<u8> {
        cache.prepare(state, tick);
        let mut scratch = std::mem::take(&mut cache.scratch);
        let payload = self.build(state, cache, tick, &mut scratch);
        cache.scratch = scratch;
        payload
    }

    /// The body of [`Self::build_payload`], with the cache prepared for `tick`.
    fn build(
        &mut self,
        state: &ReplicationState,
        cache: &SnapshotCache,
        tick: u32,
        scratch: &mut BitWriter,
    ) -> Vec<u8> {
        // (Always prepared by the callers; without it, every entity is encoded on its own.)
        let prepared = cache.filled_for == Some(tick);
        self.settle_acks();
        self.first_sent.get_or_insert(tick);
        self.newest_sent = Some(tick);
        let already_pending = self.pending_despawns.len();
        for &(net_id, dense) in &state.despawned {
            if let Some(entity) = self.entities.get_mut(dense, net_id)
                && entity.baseline != NOT_SENT
            {
                entity.baseline = NOT_SENT;
                self.pending_despawns.push((net_id, NOT_CARRIED));
            }
        }
        if self.pending_despawns.len() > already_pending {
            self.pending_despawns
                .sort_unstable_by_key(|&(net_id, _)| net_id);
        }

        let kinds = state.kinds.len();
        if self.relevance_for != Some(tick) {
            self.update_relevance(state, tick, &mut RelevanceScratch::default());
        }

        // Usually everything fits: one pass writes entities in id order (cheap id steps) from
        // the shared encodings, listing what it carries.
        let budget_bits = SNAPSHOT_BUDGET_BYTES * 8;
        let mut carried = self.spare.pop().unwrap_or_default();
        // About as large as the last one: one allocation, not one per doubling.
        let mut writer = BitWriter::with_capacity(self.last_payload_bytes + 64);
        let mut previous_id = u32::MAX;
        let mut previous_header: Option<EntityHeader> = None;
        let mut over_budget = false;
        let count = match &self.entities {
            EntityTable::Dense(_) => state.in_order.len(),
            EntityTable::Relevant(relevant) => relevant.len(),
        };
        for index in 0..count {
            let (net_id, dense, baseline) = match &mut self.entities {
                EntityTable::Dense(_) => {
                    let (net_id, dense) = state.in_order[index];
                    (net_id, dense, self.entities.slot(dense, net_id).acked())
                }
                EntityTable::Relevant(relevant) => {
                    let (dense, entity) = relevant[index];
                    (entity.net_id, dense, entity.acked())
                }
            };
            let encoded = match baseline {
                // The usual case, a client that has the previous tick: what changed since is in
                // this tick's encodings, and an entity without one is as the client has it.
                Some(baseline) if prepared && baseline.checked_add(1) == Some(tick) => {
                    match cache.this_tick(dense, tick) {
                        Some(encoded) => encoded,
                        None => continue,
                    }
                }
                // Nothing changed since its baseline: the client has it all.
                Some(baseline)
                    if state
                        .last_changed
                        .get(dense as usize)
                        .is_some_and(|changed| *changed <= baseline) =>
                {
                    continue;
                }
                _ => match cache.encode(state, dense, baseline, tick, scratch) {
                    Some(encoded) => encoded,
                    None => continue, // Gone.
                },
            };
            let (Some(header), bits) = encoded else {
                continue; // Nothing new for this client.
            };
            carried.push((dense, net_id));
            if over_budget {
                continue; // Listed as a candidate for the selection below.
            }
            write_id_step(&mut writer, previous_id, net_id.0);
            write_header(&mut writer, &header, previous_header.as_ref(), kinds);
            writer.append_bits(bits);
            previous_id = net_id.0;
            previous_header = Some(header);
            over_budget = writer.bit_len() > budget_bits;
        }

        if over_budget {
            self.select_by_priority(state, cache, tick, &mut carried, scratch);
            writer.clear();
            previous_id = u32::MAX;
            previous_header = None;
            for &(dense, net_id) in &carried {
                let baseline = self
                    .entities
                    .get(dense, net_id)
                    .and_then(ClientEntity::acked);
                let Some((Some(header), bits)) =
                    cache.encode(state, dense, baseline, tick, scratch)
                else {
                    continue; // (A candidate always has something to send.)
                };
                write_id_step(&mut writer, previous_id, net_id.0);
                write_header(&mut writer, &header, previous_header.as_ref(), kinds);
                writer.append_bits(bits);
                previous_id = net_id.0;
                previous_header = Some(header);
            }
        }
        let mut respawned = false;
        // (Every carried entity has its entry: made above.)
        if !over_budget {
            self.waiting.clear(); // Everything with news went out.
        }
        self.entities.each_of(&carried, |client_entity| {
            if client_entity.baseline == NOT_SENT {
                client_entity.baseline = UNACKED;
                client_entity.since = tick;
                respawned = true;
            }
        });
        // An entity sent whole that still has a despawn pending (it left this client and came
        // back before the despawn was acknowledged): the spawn replaces the despawn, which must
        // not follow it in the same snapshot.
        if respawned && !self.pending_despawns.is_empty() {
            let mut sent: Vec<NetId> = carried.iter().map(|(_, net_id)| *net_id).collect();
            sent.sort_unstable();
            self.pending_despawns
                .retain(|(net_id, _)| sent.binary_search(net_id).is_err());
        }
        write_end(&mut writer);

        // Despawns start riding while fewer than the most a snapshot carries do.
        let mut carrying = self
            .pending_despawns
            .iter()
            .filter(|(_, first)| *first != NOT_CARRIED)
            .count();
        for (_, first) in &mut self.pending_despawns {
            if carrying == MAX_CARRIED_DESPAWNS {
                break;
            }
            if *first == NOT_CARRIED {
                *first = tick;
                carrying += 1;
            }
        }
        writer.write_varint(carrying as u32);
        let mut previous_id = u32::MAX;
        for (net_id, _) in self
            .pending_despawns
            .iter()
            .filter(|(_, first)| *first != NOT_CARRIED)
        {
            write_id_step(&mut writer, previous_id, net_id.0);
            previous_id = net_id.0;
        }

        if self.in_flight.len() == IN_FLIGHT_SNAPSHOTS
            && let Some(mut old) = self.in_flight.pop_front()
        {
            old.entities.clear();
            self.spare.push(old.entities);
        }
        self.in_flight.push_back(SentSnapshot {
            tick,
            entities: carried,
        });
        let payload = writer.finish();
        self.last_payload_bytes = payload.len();
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::{Drift, Heading, Place, test_registry};
    use super::*;
    use crate::registry::Replicated;
    use crate::server::replication::collect_into;
    use bevy::prelude::*;

    #[test]
    fn parallel_and_single_threaded_snapshots_are_byte_identical() {
        let mut app = App::new();
        app.add_plugins(test_registry);
        let world = app.world_mut();
        let mut rng = fastrand::Rng::with_seed(9);
        for i in 0..600 {
            let at = Vec2::new(rng.f32() * 800.0, rng.f32() * 800.0);
            let mut entity = world.spawn((Replicated, Place(at), Heading(0.0)));
            if i % 3 == 0 {
                entity.insert(Drift(Vec2::X));
            }
        }
        let mut state = ReplicationState::default();
        let (mut cache_one, mut cache_many) = (SnapshotCache::default(), SnapshotCache::default());
        let mut one: Vec<ClientReplication> =
            (0..7).map(|_| ClientReplication::default()).collect();
        let mut many: Vec<ClientReplication> =
            (0..7).map(|_| ClientReplication::default()).collect();
        let pool = bevy::tasks::TaskPoolBuilder::new().num_threads(2).build();
        for tick in 1..120u32 {
            let world = app.world_mut();
            world.increment_change_tick();
            let mut bodies = world.query::<(&mut Place, &mut Heading)>();
            for (index, (mut place, mut heading)) in bodies.iter_mut(world).enumerate() {
                if (index as u32 + tick).is_multiple_of(4) {
                    place.0.x += 1.5;
                    heading.0 += 0.01;
                }
            }
            world.increment_change_tick();
            collect_into(&mut state, world, tick);
            // Each client acknowledges differently: every tick, late, or seldom.
            for (index, (a, b)) in one.iter_mut().zip(many.iter_mut()).enumerate() {
                let lag = index as u32;
                if tick > lag && (tick - lag).is_multiple_of(index as u32 + 1) {
                    a.acknowledge(tick - lag - 1);
                    b.acknowledge(tick - lag - 1);
                }
            }
            let mut refs: Vec<&mut ClientReplication> = one.iter_mut().collect();
            let single = build_payloads(&mut refs, &state, &mut cache_one, tick, None);
            let mut refs: Vec<&mut ClientReplication> = many.iter_mut().collect();
            let parallel = build_payloads(&mut refs, &state, &mut cache_many, tick, Some(&pool));
            assert_eq!(
                single, parallel,
                "tick {tick}: the threads changed the bytes"
            );
        }
    }
}
