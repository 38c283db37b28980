//! The server's record of the replicated world: every replicated entity's net id, dense index,
//! rooms, place and last values (encoded bytes, or quantized integers with a short history), and
//! what changed and is not recorded yet.

use std::collections::VecDeque;

use bevy::ecs::change_detection::Tick;
use bevy::prelude::*;

use crate::registry::{NetId, Quantized, ScanCache};
use crate::server::interest;
use crate::snapshot_format::KindSet;

/// Baselines older than this many ticks are not used: such entities are sent absolute. It is
/// also how much value history the server (and the client) keeps.
pub const HISTORY_TICKS: u32 = 64;

/// Marks an entity found in a client's hysteresis band, in the dense index of its relevance
/// candidate (dense indices stay far below it).
pub(super) const IN_BAND: u32 = 1 << 31;

/// The replicated world as clients see it: every replicated entity's id and encoded components,
/// with the tick each last changed.
#[derive(Resource, Debug, Default)]
pub struct ReplicationState {
    /// By dense index.
    pub(super) records: Vec<Option<EntityRecord>>,
    /// Every replicated entity's net id and dense index, in id order, for the snapshot builders
    /// to walk.
    pub(super) in_order: Vec<(NetId, u32)>,
    /// Per dense index: the tick any of the entity's components last changed, as recorded (with
    /// spatial interest, the tick the change was recorded; compact, so the builders skip what a
    /// client already has without touching the record).
    pub(super) last_changed: Vec<u32>,
    /// The same by entity index, walked in the order the world stores entities (no hashing).
    pub(super) by_index: Vec<Option<(Entity, u32)>>,
    /// Per dense index, compact: its rooms.
    pub(super) rooms_of: Vec<u64>,
    /// Per dense index: its entity.
    pub(super) entity_of: Vec<Entity>,
    /// Per dense index: the kinds that changed (or went) and are not recorded yet.
    pub(super) dirty: Vec<KindSet>,
    /// Per dense index: whether it is in `dirty_list`.
    listed: Vec<bool>,
    /// Dense indices with changes not recorded yet (and a few without, pruned each tick).
    pub(super) dirty_list: Vec<u32>,
    /// Per dense index: whether a client needs its changes now (scratch, all `false` between
    /// uses).
    pub(super) wanted: Vec<bool>,
    /// Per kind: its change scan's query.
    pub(super) scans: Vec<ScanCache>,
    /// The scans for new replicated entities and for rooms.
    pub(super) spawn_scan: ScanCache,
    pub(super) rooms_scan: ScanCache,
    pub(super) scratch_entities: Vec<Entity>,
    pub(super) scratch_dense: Vec<u32>,
    pub(super) scratch_sorted: Vec<u32>,
    pub(super) scratch_values: Vec<(Entity, Quantized)>,
    pub(super) scratch_bytes: Vec<u8>,
    /// Entities whose place changed at the last collection: dense index, net id, place (`None`:
    /// it has none, or is gone).
    pub(crate) moved: Vec<(u32, NetId, Option<Vec2>)>,
    /// The oldest tick a baseline is expected at: the clients' oldest newest acknowledgement.
    pub(super) history_horizon: Option<u32>,
    /// Dense indices of the entities that changed at the last collection.
    pub(super) changed_now: Vec<u32>,
    /// Where replicated entities are, for interest management (see [`crate::server::interest`]).
    pub(crate) space: interest::Space,
    /// Per archetype: the registered kinds it has, in order (worked out once, for spawns).
    pub(super) archetypes:
        bevy::platform::collections::HashMap<bevy::ecs::archetype::ArchetypeId, Vec<u8>>,
    /// The registry size `archetypes` was worked out for.
    pub(super) archetype_kinds_for: usize,
    /// How each registry kind travels: 0 fields means serde bytes; the kind of its rate.
    pub(super) kinds: Vec<(usize, [u32; 4], Option<u8>)>,
    /// The tick rate rates are per second of (`None`: the default).
    pub(super) tick_rate: Option<u16>,
    /// Entities that stopped being replicated during the last collection (id, dense index).
    pub(super) despawned: Vec<(NetId, u32)>,
    next_net_id: u32,
    pub(super) last_run: Option<Tick>,
    /// Dense indices (0..n, reused after despawn) index per-client arrays instead of hash maps.
    pub(super) free_dense: Vec<u32>,
    pub(super) dense_len: u32,
}

impl ReplicationState {
    /// The tick rate rates are per second of.
    pub(super) fn rate(&self) -> u16 {
        self.tick_rate.unwrap_or(crate::tick::DEFAULT_TICK_RATE)
    }

    /// Tells the collection the oldest tick clients' baselines are expected at (the oldest of
    /// their newest acknowledgements): value history older than that is let go, and the rare
    /// entity with an older baseline is sent whole.
    pub(crate) fn set_history_horizon(&mut self, tick: Option<u32>) {
        self.history_horizon = tick;
    }

    /// Sets the tick rate that rates (see
    /// [`replicate_quantized_with_rate`](crate::registry::AppReplicateExt::replicate_quantized_with_rate))
    /// are per second of: the server's.
    pub fn set_tick_rate(&mut self, tick_rate: u16) {
        self.tick_rate = Some(tick_rate.max(1));
    }

    /// The network id of a replicated entity, once it has been collected.
    pub fn net_id(&self, entity: Entity) -> Option<NetId> {
        self.record_of(entity).map(|record| record.net_id)
    }

    /// Where a replicated entity was at the last collection, when space is registered and it
    /// has a place.
    pub fn location(&self, entity: Entity) -> Option<Vec2> {
        self.record_of(entity)?.location
    }

    pub(crate) fn dense_of(&self, entity: Entity) -> Option<u32> {
        let (known, dense) = (*self.by_index.get(entity.index_u32() as usize)?)?;
        (known == entity).then_some(dense)
    }

    fn record_of(&self, entity: Entity) -> Option<&EntityRecord> {
        self.record(self.dense_of(entity)?)
    }

    pub(crate) fn record(&self, dense: u32) -> Option<&EntityRecord> {
        self.records.get(dense as usize)?.as_ref()
    }

    /// Number of replicated entities.
    pub fn len(&self) -> usize {
        self.in_order.len()
    }

    /// Whether no entity is replicated.
    pub fn is_empty(&self) -> bool {
        self.in_order.is_empty()
    }

    /// Entities whose changes are not recorded yet: with spatial interest, those that changed
    /// while no client could see them (their values are read when one can).
    pub fn pending_changes(&self) -> usize {
        self.dirty_list
            .iter()
            .filter(|&&dense| self.is_dirty(dense))
            .count()
    }

    /// A record for a newly replicated entity: its net id and dense index.
    pub(super) fn add_record(&mut self, entity: Entity) -> u32 {
        let net_id = NetId(self.next_net_id);
        self.next_net_id = self.next_net_id.wrapping_add(1);
        // (Relevance marks candidates in the top bit of their dense index.)
        debug_assert!(
            self.dense_len < IN_BAND,
            "fewer than 2^31 replicated entities"
        );
        let dense = self.free_dense.pop().unwrap_or_else(|| {
            self.dense_len += 1;
            self.dense_len - 1
        });
        let at = dense as usize;
        if self.records.len() <= at {
            let len = at + 1;
            self.records.resize_with(len, || None);
            self.rooms_of.resize(len, u64::MAX);
            self.last_changed.resize(len, 0);
            self.entity_of.resize(len, Entity::PLACEHOLDER);
            self.dirty.resize(len, KindSet::default());
            self.listed.resize(len, false);
        }
        self.records[at] = Some(EntityRecord {
            net_id,
            slots: Vec::new(),
            location: None,
        });
        // Ids only grow (until they wrap after 4 billion spawns): almost always a push.
        let place = self.in_order.partition_point(|&(id, _)| id < net_id);
        self.in_order.insert(place, (net_id, dense));
        let index = entity.index_u32() as usize;
        if self.by_index.len() <= index {
            self.by_index.resize(index + 1, None);
        }
        self.by_index[index] = Some((entity, dense));
        self.entity_of[at] = entity;
        self.rooms_of[at] = u64::MAX;
        self.last_changed[at] = 0;
        self.dirty[at] = KindSet::default();
        dense
    }

    /// Notes that `kind` of `dense` changed (or went), to be recorded by [`Self::record_all`].
    pub(super) fn mark_dirty(&mut self, dense: u32, kind: u8) {
        let at = dense as usize;
        self.dirty[at].insert(kind);
        if !self.listed[at] {
            self.listed[at] = true;
            self.dirty_list.push(dense);
        }
    }

    /// Drops what no longer has changes to record from the dirty list.
    pub(super) fn prune_dirty_list(&mut self) {
        let (dirty, listed) = (&self.dirty, &mut self.listed);
        self.dirty_list.retain(|&dense| {
            let keep = !dirty[dense as usize].is_empty();
            listed[dense as usize] = keep;
            keep
        });
    }

    /// Whether `dense` is in the dirty list (between a collection and the recording after it:
    /// whether it has changes not recorded yet; compact, for the per-client walks).
    pub(super) fn is_pending(&self, dense: u32) -> bool {
        self.listed.get(dense as usize).copied().unwrap_or(false)
    }

    /// Whether `dense` has changes not recorded yet.
    pub(crate) fn is_dirty(&self, dense: u32) -> bool {
        self.dirty
            .get(dense as usize)
            .is_some_and(|dirty| !dirty.is_empty())
    }
}

#[derive(Debug)]
pub(crate) struct EntityRecord {
    pub(crate) net_id: NetId,
    /// Sorted by kind.
    pub(super) slots: Vec<Slot>,
    /// Where it is, when space is registered and it has a place.
    pub(crate) location: Option<Vec2>,
}

impl EntityRecord {
    /// Records the value of `kind` at `tick` (nothing if equal on the wire); whether it changed.
    pub(super) fn set(&mut self, kind: u8, value: SlotValue, tick: u32, horizon: u32) -> bool {
        let quantized = match value {
            SlotValue::Quantized(quantized) => Some(quantized),
            _ => None,
        };
        match self.slots.binary_search_by_key(&kind, |slot| slot.kind) {
            // Written but equal on the wire: nothing for clients.
            Ok(index) if self.slots[index].value == value => return false,
            Ok(index) => {
                let slot = &mut self.slots[index];
                slot.value = value;
                slot.changed_at = tick;
                if quantized.is_some() {
                    slot.record(tick, quantized, horizon);
                }
            }
            Err(index) => {
                let mut slot = Slot {
                    kind,
                    changed_at: tick,
                    created_at: tick,
                    value,
                    history: History::new(),
                };
                if quantized.is_some() {
                    slot.record(tick, quantized, horizon);
                }
                self.slots.insert(index, slot);
            }
        }
        true
    }
}

#[derive(Debug)]
pub(super) struct Slot {
    pub(super) kind: u8,
    pub(super) changed_at: u32,
    /// First tick the component had a value (for "absent at the baseline").
    created_at: u32,
    pub(super) value: SlotValue,
    /// Quantized kinds only: `(tick, value)` at each change, `None` for a removal.
    pub(super) history: History,
}

/// A slot's value history: `(tick, value)` at each change, oldest first.
pub(super) type History = VecDeque<(u32, Option<Quantized>)>;

#[derive(Debug, PartialEq)]
pub(super) enum SlotValue {
    Removed,
    Bytes(Vec<u8>),
    Quantized(Quantized),
}

impl Slot {
    /// The quantized value at `tick`: `Some(Some(q))` present, `Some(None)` absent, `None` if the
    /// history no longer reaches back that far.
    pub(super) fn value_at(&self, tick: u32) -> Option<Option<Quantized>> {
        if tick < self.created_at {
            return Some(None);
        }
        self.history
            .iter()
            .rev()
            .find(|(at, _)| *at <= tick)
            .map(|(_, value)| *value)
    }

    /// Records the value of `tick`, keeping what a baseline at or after `horizon` may need.
    pub(super) fn record(&mut self, tick: u32, value: Option<Quantized>, horizon: u32) {
        self.history.push_back((tick, value));
        let horizon = horizon.max(tick.saturating_sub(HISTORY_TICKS));
        // Entries older than the newest one at or before the horizon are needed by nobody.
        while self.history.len() > 1 && self.history[1].0 <= horizon {
            self.history.pop_front();
        }
    }
}
