//! Recording changes: reading the current values of the components marked as changed into the
//! world record, split by dense index between threads when there are many.

use bevy::prelude::*;

use super::fan_out::{self, PARALLEL_RECORDS};
use super::world_record::{EntityRecord, ReplicationState, SlotValue};
use crate::registry::{Encoding, ReplicationRegistry};
use crate::snapshot_format::KindSet;

impl ReplicationState {
    /// Records the changes of every entity in `todo`, on the threads of `pool` when given and
    /// worth it (each thread takes a range of dense indices).
    pub(super) fn record_all(
        &mut self,
        context: &RecordContext,
        todo: &[u32],
        pool: Option<&bevy::tasks::TaskPool>,
    ) {
        if todo.is_empty() {
            return; // Nothing to record.
        }
        let shares = fan_out::shares(pool, todo.len() >= PARALLEL_RECORDS);
        let changed_now = std::mem::take(&mut self.changed_now);
        let scratch = std::mem::take(&mut self.scratch_bytes);
        let mut sorted = std::mem::take(&mut self.scratch_sorted);
        // Shared out, the dense indices are split where each thread gets as many entities to
        // record; on one thread they are recorded in `todo`'s order.
        let order = if shares > 1 {
            sorted.clear();
            sorted.extend_from_slice(todo);
            sorted.sort_unstable();
            &sorted[..]
        } else {
            todo
        };
        let mut chunks = order.chunks(order.len().div_ceil(shares)).peekable();
        let mut rest = Some(self.records_mut());
        let mut parts = std::iter::from_fn(|| {
            let chunk = chunks.next()?;
            let records = rest.take()?;
            // Each part ends where the next chunk's first entity begins.
            Some(match chunks.peek() {
                Some(next) => {
                    let (part, others) = records.split_at(next[0] as usize);
                    rest = Some(others);
                    (part, chunk)
                }
                None => (records, chunk),
            })
        });
        let (part, chunk) = parts.next().expect("something to record");
        // This thread records the first share with the state's buffers, the others with their own.
        let first = (part, chunk, scratch, changed_now);
        let others = parts.map(|(part, chunk)| (part, chunk, Vec::new(), Vec::new()));
        let ((mut changed_now, scratch), found) = fan_out::run(
            pool,
            first,
            others,
            |(mut part, chunk, mut scratch, mut changed)| {
                for &dense in chunk {
                    part.record(context, dense, &mut scratch, &mut changed);
                }
                (changed, scratch)
            },
        );
        changed_now.extend(found.into_iter().flat_map(|(changed, _)| changed));
        self.scratch_sorted = sorted;
        self.changed_now = changed_now;
        self.scratch_bytes = scratch;
    }

    /// The per-dense arrays changes are recorded into.
    fn records_mut(&mut self) -> RecordsMut<'_> {
        RecordsMut {
            offset: 0,
            records: &mut self.records,
            dirty: &mut self.dirty,
            last_changed: &mut self.last_changed,
            entity_of: &self.entity_of,
        }
    }
}

/// What recording a change reads.
pub(super) struct RecordContext<'a> {
    pub(super) registry: &'a ReplicationRegistry,
    pub(super) world: &'a World,
    pub(super) tick: u32,
    pub(super) horizon: u32,
}

/// The per-dense arrays for dense indices `offset..offset + len`, so several threads can record
/// changes of different entities at once.
struct RecordsMut<'a> {
    offset: usize,
    records: &'a mut [Option<EntityRecord>],
    dirty: &'a mut [KindSet],
    last_changed: &'a mut [u32],
    entity_of: &'a [Entity],
}

impl RecordsMut<'_> {
    /// Splits off the part from dense index `at` on.
    fn split_at(self, at: usize) -> (Self, Self) {
        let local = at.saturating_sub(self.offset).min(self.records.len());
        let (records, records_rest) = self.records.split_at_mut(local);
        let (dirty, dirty_rest) = self.dirty.split_at_mut(local);
        let (last_changed, last_changed_rest) = self.last_changed.split_at_mut(local);
        let (entity_of, entity_of_rest) = self.entity_of.split_at(local);
        (
            Self {
                offset: self.offset,
                records,
                dirty,
                last_changed,
                entity_of,
            },
            Self {
                offset: self.offset + local,
                records: records_rest,
                dirty: dirty_rest,
                last_changed: last_changed_rest,
                entity_of: entity_of_rest,
            },
        )
    }

    /// Records the current values of the components of `dense` marked as changed, as of the
    /// context's tick, listing it in `changed_now` if it changed then.
    fn record(
        &mut self,
        context: &RecordContext,
        dense: u32,
        scratch: &mut Vec<u8>,
        changed_now: &mut Vec<u32>,
    ) {
        let RecordContext {
            registry,
            world,
            tick,
            horizon,
        } = *context;
        let at = (dense as usize).wrapping_sub(self.offset);
        let (Some(dirty), Some(Some(record))) = (self.dirty.get_mut(at), self.records.get_mut(at))
        else {
            return; // Not in this part, or gone.
        };
        let dirty = std::mem::take(dirty);
        // (Nothing marked, or no longer in the world: the record and its tick stand.)
        if dirty.is_empty() {
            return;
        }
        let Ok(entity_ref) = world.get_entity(self.entity_of[at]) else {
            return;
        };
        for kind in dirty.iter() {
            let Some(rule) = registry.get(kind) else {
                continue;
            };
            let index = record.slots.binary_search_by_key(&kind, |slot| slot.kind);
            if !entity_ref.contains_id(rule.component_id) {
                // Gone: a removal, if clients may still have it.
                if let Ok(index) = index {
                    let slot = &mut record.slots[index];
                    if slot.value != SlotValue::Removed {
                        slot.value = SlotValue::Removed;
                        slot.changed_at = tick;
                        if !slot.history.is_empty() {
                            slot.record(tick, None, horizon);
                        }
                    }
                }
                continue;
            }
            match rule.encoding {
                Encoding::Serde { serialize, .. } => {
                    scratch.clear();
                    if !serialize(&entity_ref, scratch) {
                        continue;
                    }
                    // Written but equal on the wire: no allocation, nothing for clients.
                    if let Ok(index) = index
                        && matches!(&record.slots[index].value, SlotValue::Bytes(old) if old == scratch)
                    {
                        continue;
                    }
                    record.set(kind, SlotValue::Bytes(scratch.clone()), tick, horizon);
                }
                Encoding::Quantized { quantize, .. } => {
                    if let Some(quantized) = quantize(&entity_ref) {
                        record.set(kind, SlotValue::Quantized(quantized), tick, horizon);
                    }
                }
            }
        }
        let changed = record
            .slots
            .iter()
            .map(|slot| slot.changed_at)
            .max()
            .unwrap_or(tick);
        // (Listed once a tick, also when the change scan already recorded a change.)
        if changed == tick && self.last_changed[at] != tick {
            changed_now.push(dense);
        }
        self.last_changed[at] = changed;
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::{Place, interest_server};
    use crate::registry::Replicated;
    use crate::server::replication::{
        ClientReplication, SnapshotCache, build_payloads, collect_into, resolve_relevance,
    };
    use bevy::prelude::*;

    /// Every count of changes is shared out whole between many threads, also when some threads
    /// get no share (2049 changes on 64 threads: 62 shares of 33, the last of 3).
    #[test]
    fn every_change_is_recorded_whatever_the_threads() {
        use crate::server::interest::InterestView;

        let many = bevy::tasks::TaskPoolBuilder::new().num_threads(64).build();
        for count in [2048, 2049, 2080, 2100, 2200] {
            let (mut app, mut state) = interest_server(1000.0, 0.0);
            for index in 0..count {
                app.world_mut()
                    .spawn((Replicated, Place(Vec2::new(index as f32, 0.0))));
            }
            let mut client = ClientReplication {
                interest: Some(InterestView {
                    center: Some(Vec2::ZERO),
                    radius: 1e6,
                    rooms: u64::MAX,
                    ..default()
                }),
                ..default()
            };
            let mut cache = SnapshotCache::default();
            for tick in 1..4u32 {
                let world = app.world_mut();
                world.increment_change_tick();
                for mut place in world.query::<&mut Place>().iter_mut(world) {
                    place.0.y += 1.0;
                }
                world.increment_change_tick();
                collect_into(&mut state, world, tick);
                let mut refs = vec![&mut client];
                resolve_relevance(&mut refs, &mut state, world, tick, Some(&many));
                assert_eq!(state.pending_changes(), 0, "{count} changes, tick {tick}");
                build_payloads(&mut refs, &state, &mut cache, tick, Some(&many));
            }
        }
    }
}
