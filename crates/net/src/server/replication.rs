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

use std::collections::VecDeque;
use std::time::Duration;

use bevy::ecs::change_detection::Tick;
use bevy::prelude::*;
use bevy_renet::RenetServer;

use crate::bits::{BitWriter, Bits};
use crate::channels::ServerChannel;
use crate::codec::{MAX_MESSAGE_BYTES, encode};
use crate::protocol::{ServerMessage, Snapshot};
use crate::replication::{
    Encoding, NetId, Quantized, Replicated, ReplicationRegistry, ReplicationRemovals, ScanCache,
    field_delta, predicted, scan_changed,
};
use crate::server::clients::{ConnectedClient, Farewells};
use crate::server::interest;
use crate::server::{ServerSystems, TickRate};
use crate::snapshot::{EntityHeader, KindSet, write_end, write_header, write_id_step};
use crate::tick::SimulationTick;

/// Most snapshot payload bytes sent to one client per tick. When more is pending, entities that
/// were left out longest go first (their priority grows with each snapshot in a row they miss).
pub const SNAPSHOT_BUDGET_BYTES: usize = 8 * 1024;

/// Baselines older than this many ticks are not used: such entities are sent absolute. It is
/// also how much value history the server (and the client) keeps.
pub const HISTORY_TICKS: u32 = 64;

/// Entities to record or encode below which one thread does it all: waking the others and
/// waiting for them costs about 50 µs on the development machine, more than they would save.
const PARALLEL_RECORDS: usize = 2048;

/// Snapshots remembered per client while waiting for their ack (about one second at 60 Hz). An
/// ack for an older snapshot still clears the despawns it delivered, but no longer advances
/// entity baselines.
pub const IN_FLIGHT_SNAPSHOTS: usize = 64;

/// The default [`AckTimeout`]: as long as netcode's own timeout for unsecure clients, so an honest
/// client whose process stalls is not sent away any sooner than netcode would drop it.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client may go without acknowledging any snapshot (counted in simulation ticks from
/// its newest ack, or from its first snapshot if it never acknowledged one) before it is sent
/// away with [`ServerMessage::Goodbye`] ("no snapshot acknowledged for N s").
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

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ReplicationState>()
        .init_resource::<SnapshotCache>()
        .init_resource::<ParallelSnapshots>()
        .init_resource::<AckTimeout>()
        .add_systems(
            PostUpdate,
            (
                send_away_silent_clients,
                (
                    collect_changes,
                    interest::resolve_views.in_set(interest::InterestSystems),
                    resolve_interest,
                    send_snapshots,
                )
                    .chain()
                    .run_if(resource_changed::<SimulationTick>)
                    .run_if(snapshot_due),
            )
                .chain()
                .in_set(ServerSystems::Send),
        );
}

/// Snapshots go out every `n`-th tick (1 = every tick). Set from
/// [`ListenConfig::snapshot_rate`](crate::server::ListenConfig::snapshot_rate).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInterval(pub u32);

fn snapshot_due(tick: Res<SimulationTick>, interval: Option<Res<SnapshotInterval>>) -> bool {
    interval.is_none_or(|interval| tick.0.is_multiple_of(interval.0.max(1)))
}

/// The replicated world as clients see it: every replicated entity's id and encoded components,
/// with the tick each last changed.
#[derive(Resource, Debug, Default)]
pub struct ReplicationState {
    /// By dense index.
    records: Vec<Option<EntityRecord>>,
    /// Every replicated entity's net id and dense index, in id order, for the snapshot builders
    /// to walk.
    in_order: Vec<(NetId, u32)>,
    /// Per dense index: the tick any of the entity's components last changed, as recorded (with
    /// spatial interest, the tick the change was recorded; compact, so the builders skip what a
    /// client already has without touching the record).
    last_changed: Vec<u32>,
    /// The same by entity index, walked in the order the world stores entities (no hashing).
    by_index: Vec<Option<(Entity, u32)>>,
    /// Per dense index, compact: its rooms.
    rooms_of: Vec<u64>,
    /// Per dense index: its entity.
    entity_of: Vec<Entity>,
    /// Per dense index: the kinds that changed (or went) and are not recorded yet.
    dirty: Vec<KindSet>,
    /// Per dense index: whether it is in `dirty_list`.
    listed: Vec<bool>,
    /// Dense indices with changes not recorded yet (and a few without, pruned each tick).
    dirty_list: Vec<u32>,
    /// Per dense index: whether a client needs its changes now (scratch, all `false` between
    /// uses).
    wanted: Vec<bool>,
    /// Per kind: its change scan's query.
    scans: Vec<ScanCache>,
    /// The scans for new replicated entities and for rooms.
    spawn_scan: ScanCache,
    rooms_scan: ScanCache,
    scratch_entities: Vec<Entity>,
    scratch_dense: Vec<u32>,
    scratch_sorted: Vec<u32>,
    scratch_values: Vec<(Entity, Quantized)>,
    scratch_bytes: Vec<u8>,
    /// Entities whose place changed at the last collection: dense index, net id, place (`None`:
    /// it has none, or is gone).
    pub(crate) moved: Vec<(u32, NetId, Option<Vec2>)>,
    /// The oldest tick a baseline is expected at: the clients' oldest newest acknowledgement.
    history_horizon: Option<u32>,
    /// Dense indices of the entities that changed at the last collection.
    changed_now: Vec<u32>,
    /// Where replicated entities are, for interest management (see [`crate::server::interest`]).
    pub(crate) space: interest::Space,
    /// Per archetype: the registered kinds it has, in order (worked out once, for spawns).
    archetypes: bevy::platform::collections::HashMap<bevy::ecs::archetype::ArchetypeId, Vec<u8>>,
    /// The registry size `archetypes` was worked out for.
    archetype_kinds_for: usize,
    /// How each registry kind travels: 0 fields means serde bytes; the kind of its rate.
    kinds: Vec<(usize, [u32; 4], Option<u8>)>,
    /// The tick rate rates are per second of (`None`: the default).
    tick_rate: Option<u16>,
    /// Entities that stopped being replicated during the last collection (id, dense index).
    despawned: Vec<(NetId, u32)>,
    next_net_id: u32,
    last_run: Option<Tick>,
    /// Dense indices (0..n, reused after despawn) index per-client arrays instead of hash maps.
    free_dense: Vec<u32>,
    dense_len: u32,
}

impl ReplicationState {
    /// The tick rate rates are per second of.
    fn rate(&self) -> u16 {
        self.tick_rate.unwrap_or(crate::tick::DEFAULT_TICK_RATE)
    }

    /// Tells the collection the oldest tick clients' baselines are expected at (the oldest of
    /// their newest acknowledgements): value history older than that is let go, and the rare
    /// entity with an older baseline is sent whole.
    pub fn set_history_horizon(&mut self, tick: Option<u32>) {
        self.history_horizon = tick;
    }

    /// Sets the tick rate that rates (see
    /// [`replicate_quantized_with_rate`](crate::replication::AppReplicateExt::replicate_quantized_with_rate))
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
}

#[derive(Debug)]
pub(crate) struct EntityRecord {
    pub(crate) net_id: NetId,
    /// Sorted by kind.
    slots: Vec<Slot>,
    /// Where it is, when space is registered and it has a place.
    pub(crate) location: Option<Vec2>,
}

impl EntityRecord {
    /// Records the value of `kind` at `tick` (nothing if equal on the wire); whether it changed.
    fn set(&mut self, kind: u8, value: SlotValue, tick: u32, horizon: u32) -> bool {
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

/// This tick's encodings, shared by every client with the same baseline distance: on a healthy
/// link all clients acknowledged the previous tick, so each changed entity is encoded once per
/// tick (against the previous tick), before any client's snapshot is built. Building snapshots
/// only reads it, so clients can be built on several threads with the same bytes as on one.
#[derive(Resource, Debug, Default)]
pub struct SnapshotCache {
    /// Per dense index: where its entry is in `entries` ([`NOT_CACHED`] if it has none).
    slot_of: Vec<u32>,
    /// The dense indices with an entry, to clear their slots for the next tick.
    cached: Vec<u32>,
    /// This tick's encodings, in the order they were made.
    entries: Vec<CacheEntry>,
    /// Their headers, each once (mostly).
    headers: Vec<EntityHeader>,
    /// Their bytes, one after the other.
    arena: Vec<u8>,
    /// The tick the entries were filled for.
    filled_for: Option<u32>,
    scratch: BitWriter,
    /// Buffers of the parts encoded on other threads, kept for the next tick.
    spare_parts: Vec<Encoded>,
}

impl SnapshotCache {
    /// Encodes, once for this tick, every entity that changed since the previous tick against
    /// that tick: the snapshot of every client that acknowledged it shares these bits.
    pub fn prepare(&mut self, state: &ReplicationState, tick: u32) {
        self.prepare_on(state, tick, None);
    }

    /// [`Self::prepare`], on the threads of `pool` when given and worth it (the same encodings
    /// either way).
    pub fn prepare_on(
        &mut self,
        state: &ReplicationState,
        tick: u32,
        pool: Option<&bevy::tasks::TaskPool>,
    ) {
        if self.filled_for == Some(tick) {
            return;
        }
        self.filled_for = Some(tick);
        self.entries.clear();
        self.headers.clear();
        self.arena.clear();
        for dense in self.cached.drain(..) {
            self.slot_of[dense as usize] = NOT_CACHED;
        }
        if self.slot_of.len() < state.dense_len as usize {
            self.slot_of.resize(state.dense_len as usize, NOT_CACHED);
        }
        if tick == 0 {
            return;
        }
        let threads = pool.map_or(1, bevy::tasks::TaskPool::thread_num).max(1);
        let changed = &state.changed_now;
        match pool {
            Some(pool) if threads > 1 && changed.len() >= PARALLEL_RECORDS => {
                let chunk = changed.len().div_ceil(threads);
                let (first, rest) = changed.split_at(chunk.min(changed.len()));
                let mut spare = std::mem::take(&mut self.spare_parts);
                let mut own = spare.pop().unwrap_or_default();
                let others: Vec<Encoded> = pool.scope(|scope| {
                    for part in rest.chunks(chunk) {
                        let mut encoded = spare.pop().unwrap_or_default();
                        scope.spawn(async move {
                            encoded.encode(state, part, tick);
                            encoded
                        });
                    }
                    own.encode(state, first, tick);
                });
                for encoded in std::iter::once(own).chain(others) {
                    self.take(&encoded);
                    spare.push(encoded.cleared());
                }
                self.spare_parts = spare;
            }
            _ => {
                let mut encoded = Encoded {
                    dense: std::mem::take(&mut self.cached),
                    entries: std::mem::take(&mut self.entries),
                    headers: std::mem::take(&mut self.headers),
                    arena: std::mem::take(&mut self.arena),
                    scratch: std::mem::take(&mut self.scratch),
                };
                encoded.encode(state, changed, tick);
                self.entries = encoded.entries;
                self.headers = encoded.headers;
                self.arena = encoded.arena;
                self.scratch = encoded.scratch;
                for (at, &dense) in encoded.dense.iter().enumerate() {
                    self.slot_of[dense as usize] = at as u32;
                }
                self.cached = encoded.dense;
            }
        }
    }

    /// Appends a part encoded by one of the threads.
    fn take(&mut self, encoded: &Encoded) {
        let offset = self.arena.len() as u32;
        let first_header = self.headers.len() as u32;
        self.headers.extend_from_slice(&encoded.headers);
        for (&dense, &entry) in encoded.dense.iter().zip(&encoded.entries) {
            let mut entry = entry;
            entry.start += offset;
            if entry.header != NO_HEADER {
                entry.header += first_header;
            }
            self.slot_of[dense as usize] = self.entries.len() as u32;
            self.entries.push(entry);
        }
        self.cached.extend_from_slice(&encoded.dense);
        self.arena.extend_from_slice(&encoded.arena);
    }

    /// The shared encoding of `dense` against the previous tick, if it changed this tick (when
    /// this tick is prepared). A client whose baseline is the previous tick needs nothing else:
    /// without an entry here, it has the entity as it is.
    #[inline]
    fn this_tick(&self, dense: u32, tick: u32) -> Option<(Option<EntityHeader>, Bits<'_>)> {
        if self.filled_for != Some(tick) {
            return None;
        }
        let at = *self.slot_of.get(dense as usize)?;
        let entry = self.entries.get(at as usize)?;
        let start = entry.start as usize;
        let bits = Bits {
            bytes: &self.arena[start..start + entry.bytes as usize],
            tail: entry.tail,
            tail_bits: entry.tail_bits,
        };
        Some((self.headers.get(entry.header as usize).copied(), bits))
    }

    /// The header and component bits of entity `dense` for a client at `baseline` (`None` if
    /// it is gone): the shared encoding when it is at the previous tick, else freshly encoded
    /// into `scratch`.
    #[inline]
    fn encode<'a>(
        &'a self,
        state: &ReplicationState,
        dense: u32,
        baseline: Option<u32>,
        tick: u32,
        scratch: &'a mut BitWriter,
    ) -> Option<(Option<EntityHeader>, Bits<'a>)> {
        // (Nothing is prepared at tick 0, when a baseline cannot be the previous tick.)
        if tick > 0
            && baseline == Some(tick - 1)
            && let Some(encoded) = self.this_tick(dense, tick)
        {
            return Some(encoded);
        }
        let record = state.record(dense)?;
        let header = entity_header(record, baseline, tick);
        scratch.clear();
        if let Some(header) = &header {
            write_components(scratch, record, header, tick, &state.kinds, state.rate());
        }
        Some((header, scratch.bits()))
    }
}

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
    let threads = pool.map_or(1, bevy::tasks::TaskPool::thread_num).max(1);
    match pool {
        Some(pool) if threads > 1 && clients.len() > 1 => {
            let chunk = clients.len().div_ceil(threads);
            let (first, rest) = clients.split_at_mut(chunk.min(clients.len()));
            let build_all = |part: &mut [&mut ClientReplication]| -> Vec<Vec<u8>> {
                let mut scratch = BitWriter::new();
                part.iter_mut()
                    .map(|client| client.build(state, cache, tick, &mut scratch))
                    .collect()
            };
            let mut own = Vec::new();
            let others: Vec<Vec<Vec<u8>>> = pool.scope(|scope| {
                for part in rest.chunks_mut(chunk) {
                    scope.spawn(async move { build_all(part) });
                }
                // This thread builds the first part meanwhile, instead of only waiting.
                own = build_all(first);
            });
            own.into_iter()
                .chain(others.into_iter().flatten())
                .collect()
        }
        _ => {
            let mut scratch = BitWriter::new();
            clients
                .iter_mut()
                .map(|client| client.build(state, cache, tick, &mut scratch))
                .collect()
        }
    }
}

/// Works out which entities are relevant to each client for `tick` (see
/// [`crate::server::interest`]), then records the changes of those some client now sees
/// (changes nobody can see wait until somebody can), on the threads of `pool` when given. Runs
/// between [`collect_into`] and [`build_payloads`].
pub fn resolve_relevance(
    clients: &mut [&mut ClientReplication],
    state: &mut ReplicationState,
    world: &World,
    tick: u32,
    pool: Option<&bevy::tasks::TaskPool>,
) {
    relevance_of_each(clients, state, tick, pool);
    materialize_relevant(
        state,
        world,
        clients.iter().map(|client| &**client),
        tick,
        pool,
    );
}

/// Each client's relevant entities for `tick`.
fn relevance_of_each(
    clients: &mut [&mut ClientReplication],
    state: &ReplicationState,
    tick: u32,
    pool: Option<&bevy::tasks::TaskPool>,
) {
    let threads = pool.map_or(1, bevy::tasks::TaskPool::thread_num).max(1);
    // Without interest there is little to do per client: not worth waking other threads.
    let worth_it = clients.len() > 1 && clients.iter().any(|client| client.interest.is_some());
    match pool {
        Some(pool) if threads > 1 && worth_it => {
            let chunk = clients.len().div_ceil(threads);
            let (first, rest) = clients.split_at_mut(chunk.min(clients.len()));
            pool.scope(|scope| {
                for part in rest.chunks_mut(chunk) {
                    scope.spawn(async move {
                        let mut scratch = RelevanceScratch::default();
                        for client in part {
                            client.update_relevance(state, tick, &mut scratch);
                        }
                    });
                }
                let mut scratch = RelevanceScratch::default();
                for client in first {
                    client.update_relevance(state, tick, &mut scratch);
                }
            });
        }
        _ => {
            let mut scratch = RelevanceScratch::default();
            for client in clients {
                client.update_relevance(state, tick, &mut scratch);
            }
        }
    }
}

/// With spatial interest: records, as of `tick`, the changes of the entities some client in
/// `clients` is now relevant to (all of them for a client without interest).
fn materialize_relevant<'a>(
    state: &mut ReplicationState,
    world: &World,
    clients: impl IntoIterator<Item = &'a ClientReplication>,
    tick: u32,
    pool: Option<&bevy::tasks::TaskPool>,
) {
    if !state.space.enabled() {
        return; // Recorded at collection.
    }
    let registry = world.resource::<ReplicationRegistry>();
    // Marked first, then recorded in the dirty list's order (the world's, roughly): records are
    // then read in memory order, not in each client's.
    let mut everything = false;
    let mut wanted = std::mem::take(&mut state.wanted);
    wanted.resize(state.dirty.len(), false);
    for client in clients {
        if client.relevance_for == Some(tick) && client.interest.is_none() {
            everything = true;
        }
        for &dense in &client.wanted {
            if let Some(flag) = wanted.get_mut(dense as usize) {
                *flag = true;
            }
        }
    }
    let mut todo = std::mem::take(&mut state.scratch_dense);
    todo.clear();
    todo.extend(
        state
            .dirty_list
            .iter()
            .copied()
            .filter(|&dense| everything | std::mem::take(&mut wanted[dense as usize])),
    );
    state.wanted = wanted;
    let context = RecordContext {
        registry,
        world,
        tick,
        horizon: state.history_horizon.unwrap_or(0),
    };
    state.record_all(&context, &todo, pool);
    state.scratch_dense = todo;
    state.prune_dirty_list();
}

/// Encodings made by one thread: for each entity of `dense`, its entry, its header in `headers`
/// (each once, mostly), bits in `arena`.
#[derive(Debug, Default)]
struct Encoded {
    dense: Vec<u32>,
    entries: Vec<CacheEntry>,
    headers: Vec<EntityHeader>,
    arena: Vec<u8>,
    scratch: BitWriter,
}

impl Encoded {
    /// Emptied, keeping its buffers.
    fn cleared(mut self) -> Self {
        self.dense.clear();
        self.entries.clear();
        self.headers.clear();
        self.arena.clear();
        self
    }

    /// Encodes each entity of `changed` against the previous tick.
    fn encode(&mut self, state: &ReplicationState, changed: &[u32], tick: u32) {
        let baseline = tick.checked_sub(1);
        for &dense in changed {
            let Some(record) = state.record(dense) else {
                continue;
            };
            let header = entity_header(record, baseline, tick);
            self.scratch.clear();
            if let Some(header) = &header {
                write_components(
                    &mut self.scratch,
                    record,
                    header,
                    tick,
                    &state.kinds,
                    state.rate(),
                );
            }
            let bits = self.scratch.bits();
            self.dense.push(dense);
            self.entries.push(CacheEntry {
                header: header.map_or(NO_HEADER, |header| intern(&mut self.headers, header)),
                start: self.arena.len() as u32,
                bytes: bits.bytes.len() as u32,
                tail: bits.tail,
                tail_bits: bits.tail_bits,
            });
            self.arena.extend_from_slice(bits.bytes);
        }
    }
}

/// The index of `header` in `headers`, added unless one of the last few is the same. A tick's
/// changes mostly share a handful of headers: the cache holds each once, not one per entity, so
/// a large world's encodings stay small enough for the core's cache.
fn intern(headers: &mut Vec<EntityHeader>, header: EntityHeader) -> u32 {
    const LOOK_BACK: usize = 4;
    let from = headers.len().saturating_sub(LOOK_BACK);
    if let Some(at) = headers[from..].iter().rposition(|known| *known == header) {
        return (from + at) as u32;
    }
    headers.push(header);
    headers.len() as u32 - 1
}

/// [`SnapshotCache::slot_of`] of an entity without an entry this tick.
const NOT_CACHED: u32 = u32::MAX;

/// [`CacheEntry::header`] of an entity with nothing new.
const NO_HEADER: u32 = u32::MAX;

/// One entity's encoding against the previous tick (20 bytes: one is made per changed entity
/// per tick).
#[derive(Debug, Clone, Copy)]
struct CacheEntry {
    /// Its header's index in the cache's headers, or [`NO_HEADER`].
    header: u32,
    /// Where its whole bytes are in the arena, and how many.
    start: u32,
    bytes: u32,
    /// The bits after them.
    tail: u32,
    tail_bits: u32,
}

#[derive(Debug)]
struct Slot {
    kind: u8,
    changed_at: u32,
    /// First tick the component had a value (for "absent at the baseline").
    created_at: u32,
    value: SlotValue,
    /// Quantized kinds only: `(tick, value)` at each change, `None` for a removal.
    history: History,
}

/// A slot's value history: `(tick, value)` at each change, oldest first.
type History = VecDeque<(u32, Option<Quantized>)>;

#[derive(Debug, PartialEq)]
enum SlotValue {
    Removed,
    Bytes(Vec<u8>),
    Quantized(Quantized),
}

impl Slot {
    /// The quantized value at `tick`: `Some(Some(q))` present, `Some(None)` absent, `None` if the
    /// history no longer reaches back that far.
    fn value_at(&self, tick: u32) -> Option<Option<Quantized>> {
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
    fn record(&mut self, tick: u32, value: Option<Quantized>, horizon: u32) {
        self.history.push_back((tick, value));
        let horizon = horizon.max(tick.saturating_sub(HISTORY_TICKS));
        // Entries older than the newest one at or before the horizon are needed by nobody.
        while self.history.len() > 1 && self.history[1].0 <= horizon {
            self.history.pop_front();
        }
    }
}

/// Marks an entity found in a client's hysteresis band, in the dense index of its relevance
/// candidate (dense indices stay far below it).
const IN_BAND: u32 = 1 << 31;
/// Farther than a client's reach (or in its band on its first relevance): not relevant.
const OUT_OF_REACH: u32 = u32::MAX;

/// A client's view of one entity slot: never sent, sent but not acknowledged, or the tick of
/// the newest acknowledged snapshot that carried it. (12 bytes: a client holds one per entity it
/// sees, and walks them all every tick.)
#[derive(Debug, Clone, Copy)]
struct ClientEntity {
    net_id: NetId,
    baseline: u32,
    /// The tick it was last sent whole from nothing: acknowledgements of older snapshots
    /// (from before it left this client and came back) say nothing about it.
    since: u32,
}

const NOT_SENT: u32 = u32::MAX;
const UNACKED: u32 = u32::MAX - 1;

impl ClientEntity {
    const UNKNOWN: Self = Self {
        net_id: NetId(u32::MAX),
        baseline: NOT_SENT,
        since: 0,
    };

    /// Not sent yet, for entity `net_id`.
    fn unknown(net_id: NetId) -> Self {
        Self {
            net_id,
            ..Self::UNKNOWN
        }
    }

    /// The acknowledged tick a delta can start from (`None`: sent whole).
    fn acked(&self) -> Option<u32> {
        match self.baseline {
            NOT_SENT | UNACKED => None,
            baseline => Some(baseline),
        }
    }
}

/// A relevant entity: its dense index and the client's view of it.
type RelevantEntity = (u32, ClientEntity);

/// The order of a client's relevant entities: by net id (then dense index).
fn relevant_key(&(dense, entity): &RelevantEntity) -> (NetId, u32) {
    (entity.net_id, dense)
}

/// Buffers of relevance work, one per thread: a client's candidates live only while its
/// relevance is worked out, so they stay in this thread's cache instead of in every client.
#[derive(Debug, Default)]
struct RelevanceScratch {
    /// The entities found relevant (some in the band), then sorted.
    candidates: Vec<(NetId, u32)>,
    /// The next relevant list, when it changed.
    merged: Vec<RelevantEntity>,
}

/// Whether the sorted candidates `next` (some in the band) leave the relevant list as it is:
/// every one outside the band is in it, and everything in it is among them.
fn same_relevance(next: &[(NetId, u32)], relevant: &[RelevantEntity]) -> bool {
    let mut old = relevant.iter().map(relevant_key).peekable();
    let mut last = None;
    for &(net_id, marked) in next {
        let id = (net_id, marked & !IN_BAND);
        if last == Some(id) {
            continue; // Found twice.
        }
        match old.peek() {
            Some(&key) if key == id => {
                old.next();
                last = Some(id);
            }
            Some(&key) if key < id => return false, // It left.
            _ if marked & IN_BAND != 0 => {}        // In the band, and was not seen: stays out.
            _ => return false,                      // It came.
        }
    }
    old.peek().is_none()
}

/// A client's view of every entity: an array by dense index over the whole world while the
/// client gets everything; once it gets only what is relevant to it, the relevant entities in id
/// order, each with its state (so a large world costs it what it sees, in memory and in cache,
/// and the per-tick walks are merges instead of lookups).
#[derive(Debug)]
enum EntityTable {
    Dense(Vec<ClientEntity>),
    /// Sorted by [`relevant_key`].
    Relevant(Vec<RelevantEntity>),
}

impl Default for EntityTable {
    fn default() -> Self {
        Self::Dense(Vec::new())
    }
}

impl EntityTable {
    /// The entry of entity `dense` with id `net_id`, if the table holds it.
    fn get(&self, dense: u32, net_id: NetId) -> Option<&ClientEntity> {
        match self {
            Self::Dense(entities) => entities
                .get(dense as usize)
                .filter(|entity| entity.net_id == net_id),
            Self::Relevant(relevant) => relevant
                .binary_search_by_key(&(net_id, dense), relevant_key)
                .ok()
                .map(|index| &relevant[index].1),
        }
    }

    /// [`Self::get`], to change.
    fn get_mut(&mut self, dense: u32, net_id: NetId) -> Option<&mut ClientEntity> {
        match self {
            Self::Dense(entities) => entities
                .get_mut(dense as usize)
                .filter(|entity| entity.net_id == net_id),
            Self::Relevant(relevant) => relevant
                .binary_search_by_key(&(net_id, dense), relevant_key)
                .ok()
                .map(|index| &mut relevant[index].1),
        }
    }

    /// The entry of `dense`, made if missing (reset if it held another entity).
    fn slot(&mut self, dense: u32, net_id: NetId) -> &mut ClientEntity {
        let entity = match self {
            Self::Dense(entities) => {
                let index = dense as usize;
                if index >= entities.len() {
                    entities.resize(index + 1, ClientEntity::UNKNOWN);
                }
                &mut entities[index]
            }
            Self::Relevant(relevant) => {
                match relevant.binary_search_by_key(&(net_id, dense), relevant_key) {
                    Ok(index) => &mut relevant[index].1,
                    Err(index) => {
                        relevant.insert(index, (dense, ClientEntity::unknown(net_id)));
                        &mut relevant[index].1
                    }
                }
            }
        };
        if entity.net_id != net_id {
            *entity = ClientEntity::unknown(net_id);
        }
        entity
    }

    /// Calls `f` with the entry of each entity of `listed` (in id order) that the table holds.
    fn each_of(&mut self, listed: &[(u32, NetId)], mut f: impl FnMut(&mut ClientEntity)) {
        match self {
            Self::Dense(_) => {
                for &(dense, net_id) in listed {
                    if let Some(entity) = self.get_mut(dense, net_id) {
                        f(entity);
                    }
                }
            }
            // Both in id order: one merge, a step at a time (they are mostly a few entries
            // apart, in the same cache lines: no dependent loads of a search).
            Self::Relevant(relevant) => {
                let mut at = 0;
                for &(dense, net_id) in listed {
                    while relevant
                        .get(at)
                        .is_some_and(|entry| relevant_key(entry) < (net_id, dense))
                    {
                        at += 1;
                    }
                    if relevant
                        .get(at)
                        .is_some_and(|entry| relevant_key(entry) == (net_id, dense))
                    {
                        f(&mut relevant[at].1);
                    }
                }
            }
        }
    }

    /// Every entity the client has (sent, acknowledged or not), in id order.
    fn known(&self) -> Vec<RelevantEntity> {
        let mut known: Vec<RelevantEntity> = match self {
            Self::Dense(entities) => entities
                .iter()
                .enumerate()
                .filter(|(_, entity)| entity.baseline != NOT_SENT)
                .map(|(dense, entity)| (dense as u32, *entity))
                .collect(),
            Self::Relevant(relevant) => relevant
                .iter()
                .filter(|(_, entity)| entity.baseline != NOT_SENT)
                .copied()
                .collect(),
        };
        known.sort_unstable_by_key(relevant_key);
        known
    }

    /// Switches to the relevant list, starting from what the client has.
    fn make_relevant(&mut self) {
        if let Self::Dense(_) = self {
            *self = Self::Relevant(self.known());
        }
    }

    /// Switches to the whole-world array, keeping what the client has.
    fn make_dense(&mut self) {
        if let Self::Relevant(_) = self {
            let mut entities = Vec::new();
            for (dense, entity) in self.known() {
                let index = dense as usize;
                if index >= entities.len() {
                    entities.resize(index + 1, ClientEntity::UNKNOWN);
                }
                entities[index] = entity;
            }
            *self = Self::Dense(entities);
        }
    }

    /// Entities relevant to the client (0 while it gets everything).
    fn relevant_len(&self) -> usize {
        match self {
            Self::Dense(_) => 0,
            Self::Relevant(relevant) => relevant.len(),
        }
    }
}

/// What one client has acknowledged, entity by entity.
#[derive(Component, Debug, Default)]
pub struct ClientReplication {
    /// Indexed by the record's dense index.
    entities: EntityTable,
    /// Despawns not acknowledged yet, sorted by id, each stored once with the tick of the first
    /// snapshot that carried it. Every snapshot carries all of them, so an acknowledged snapshot
    /// of that tick or later delivered it.
    pending_despawns: Vec<(NetId, u32)>,
    /// Snapshots sent and not yet acknowledged (at most [`IN_FLIGHT_SNAPSHOTS`]): which entities
    /// each carried.
    in_flight: VecDeque<SentSnapshot>,
    /// Emptied `SentSnapshot::entities` buffers, reused to avoid an allocation per tick.
    spare: Vec<Vec<(u32, NetId)>>,
    /// Tick of the first snapshot built for this client.
    first_sent: Option<u32>,
    /// Tick of the newest snapshot built for this client.
    newest_sent: Option<u32>,
    /// Newest snapshot tick the client acknowledged, even one no longer in flight.
    newest_ack: Option<u32>,
    /// What this client may see (`None`: everything).
    pub interest: Option<interest::InterestView>,
    /// The snapshot tick `relevant` was worked out for.
    newest_relevance: Option<u32>,
    /// The entity total this client was last told.
    told_total: Option<u32>,
    /// The snapshot tick relevance was last resolved for.
    relevance_for: Option<u32>,
    /// Relevant entities with changes not recorded yet (spatial interest only).
    wanted: Vec<u32>,
    /// Snapshots acknowledged since the last snapshot, oldest first (taken from `in_flight`, so
    /// at most [`IN_FLIGHT_SNAPSHOTS`]), applied before the next one is built.
    settling: Vec<SentSnapshot>,
    /// Entities the last snapshot had news for but left out (over budget), sorted by
    /// `(net id, dense)`, with how many snapshots in a row left each out: highest goes first.
    /// Empty whenever a snapshot carries everything.
    waiting: Vec<((NetId, u32), u32)>,
    /// The size of the last payload built for this client.
    last_payload_bytes: usize,
}

#[derive(Debug)]
struct SentSnapshot {
    tick: u32,
    entities: Vec<(u32, NetId)>,
}

/// What the server stores for one client's replication, for tests and monitoring. Each figure is
/// bounded: see [`ClientReplication::footprint`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicationFootprint {
    /// Despawn entries stored (every copy counted): despawns the client has not acknowledged.
    pub despawn_entries: usize,
    /// Snapshots remembered while waiting for their ack (at most [`IN_FLIGHT_SNAPSHOTS`]).
    pub in_flight_snapshots: usize,
    /// Entity entries across those snapshots (at most one per replicated entity per snapshot).
    pub in_flight_entities: usize,
    /// Newest snapshot tick the client acknowledged.
    pub newest_ack: Option<u32>,
}

impl ClientReplication {
    /// What this client's replication stores right now; cheap (no walk over entities).
    pub fn footprint(&self) -> ReplicationFootprint {
        ReplicationFootprint {
            despawn_entries: self.pending_despawns.len(),
            in_flight_snapshots: self.in_flight.len(),
            in_flight_entities: self.in_flight.iter().map(|sent| sent.entities.len()).sum(),
            newest_ack: self.newest_ack,
        }
    }

    /// Ticks from this client's newest ack (or, before its first ack, from its first snapshot)
    /// to `now`; `None` until a snapshot was built for it.
    pub(crate) fn ack_age(&self, now: u32) -> Option<u32> {
        Some(now.saturating_sub(self.newest_ack.or(self.first_sent)?))
    }

    /// Records that the client applied the snapshot of `tick`: every entity that snapshot carried
    /// is now up to date on the client as of `tick`, and every despawn first sent at or before
    /// `tick` arrived. Linear in the pending despawns and the snapshots in flight.
    pub fn acknowledge(&mut self, tick: u32) {
        if self.newest_ack.is_some_and(|newest| tick <= newest)
            || self.newest_sent.is_none_or(|sent| tick > sent)
        {
            return; // A duplicate, older than what we know, or never sent: nothing new.
        }
        self.newest_ack = Some(tick);
        self.pending_despawns.retain(|&(_, first)| first > tick);
        let Some(index) = self.in_flight.iter().position(|sent| sent.tick == tick) else {
            return; // Older than the snapshots remembered: baselines stay where they are.
        };
        // What the snapshot carried is brought up to date later, with the client's other work
        // (on the snapshot threads): an ack costs the receiving thread almost nothing.
        let sent = self.in_flight.remove(index).expect("index is in range");
        self.settling.push(sent);
        // Older snapshots can no longer teach us anything the client does not have.
        while self.in_flight.front().is_some_and(|sent| sent.tick < tick) {
            if let Some(mut old) = self.in_flight.pop_front() {
                old.entities.clear();
                self.spare.push(old.entities);
            }
        }
    }

    /// Applies the acknowledgements received since the last snapshot: every entity an
    /// acknowledged snapshot carried is up to date on the client as of its tick.
    fn settle_acks(&mut self) {
        let mut settling = std::mem::take(&mut self.settling);
        for mut sent in settling.drain(..) {
            self.settle(&sent);
            sent.entities.clear();
            self.spare.push(sent.entities);
        }
        self.settling = settling;
    }

    fn settle(&mut self, sent: &SentSnapshot) {
        let tick = sent.tick;
        let advance = |entity: &mut ClientEntity| {
            if entity.baseline != NOT_SENT && tick >= entity.since {
                entity.baseline = match entity.baseline {
                    UNACKED => tick,
                    baseline => baseline.max(tick),
                };
            }
        };
        self.entities.each_of(&sent.entities, advance);
    }

    /// Works out which entities are relevant to this client for `tick` (see
    /// [`crate::server::interest`]): those that left are despawned on it, those that came back
    /// will be sent whole.
    fn update_relevance(
        &mut self,
        state: &ReplicationState,
        tick: u32,
        scratch: &mut RelevanceScratch,
    ) {
        self.settle_acks();
        self.relevance_for = Some(tick);
        self.wanted.clear();
        let Some(view) = self.interest.take() else {
            self.entities.make_dense();
            self.newest_relevance = None;
            return;
        };
        // When interest just began, everything the client has counts as what it saw, so what it
        // should no longer see is despawned on it below.
        self.entities.make_relevant();
        let EntityTable::Relevant(relevant) = &mut self.entities else {
            unreachable!("made relevant above");
        };
        let previous = self.newest_relevance;
        let next = &mut scratch.candidates;
        next.clear();
        // (A client in every room skips the lookup.)
        let room = |dense: u32| {
            view.rooms == u64::MAX
                || state
                    .rooms_of
                    .get(dense as usize)
                    .is_some_and(|rooms| rooms & view.rooms != 0)
        };
        match view.center {
            Some(center) => {
                let reach = view.radius + view.hysteresis;
                let (near, far) = (view.radius * view.radius, reach * reach);
                // In the hysteresis band: kept only if seen at the last snapshot, which the
                // merge below tells (one pass over the last list instead of a search each).
                let band = if previous.is_some() {
                    IN_BAND
                } else {
                    OUT_OF_REACH
                };
                state.space.near(center, reach, |dense, net_id, at| {
                    let mark = match at {
                        None => 0,
                        Some(at) => match at.distance_squared(center) {
                            distance if distance <= near => 0,
                            distance if distance <= far => band,
                            _ => OUT_OF_REACH,
                        },
                    };
                    if mark != OUT_OF_REACH && room(dense) {
                        next.push((net_id, dense | mark));
                    }
                });
            }
            None => next.extend(
                state
                    .in_order
                    .iter()
                    .copied()
                    .filter(|(_, dense)| room(*dense)),
            ),
        }
        for &dense in &view.always {
            if let Some(record) = state.record(dense) {
                next.push((record.net_id, dense));
            }
        }
        if !view.never.is_empty() {
            next.retain(|(_, dense)| view.never.binary_search(&(dense & !IN_BAND)).is_err());
        }
        // In id order, for the id steps (one integer key sorts faster than a pair).
        next.sort_unstable_by_key(|&(net_id, dense)| {
            (u64::from(net_id.0) << 32) | u64::from(dense)
        });
        next.dedup();
        // Merge the last list into this one: those staying keep their state, new ones start
        // unknown (those in the band are not relevant unless they stay), and those that left
        // are despawned on this client (sent whole again if they come back). An entity found
        // twice (in and out of the band, by a `always` list) sorts in band last.
        // Mostly nothing came or left since the last snapshot: then the list stays as it is,
        // unwritten.
        if !same_relevance(next, relevant) {
            self.merge_relevance(scratch, tick);
        }
        self.newest_relevance = Some(tick);
        self.interest = Some(view);
        let EntityTable::Relevant(relevant) = &self.entities else {
            unreachable!("made relevant above");
        };
        self.wanted.extend(
            relevant
                .iter()
                .map(|&(dense, _)| dense)
                .filter(|&dense| state.is_pending(dense)),
        );
    }

    /// Merges the last relevant list with the sorted candidates (some in the band) of
    /// `scratch`: those staying keep their state, new ones start unknown, and those that left
    /// are despawned.
    fn merge_relevance(&mut self, scratch: &mut RelevanceScratch, tick: u32) {
        let EntityTable::Relevant(relevant) = &mut self.entities else {
            return;
        };
        let RelevanceScratch {
            candidates: next,
            merged,
        } = scratch;
        merged.clear();
        let mut despawned = false;
        let mut old = relevant.iter().peekable();
        for &(net_id, marked) in next.iter() {
            let dense = marked & !IN_BAND;
            let id = (net_id, dense);
            if merged.last().is_some_and(|last| relevant_key(last) == id) {
                continue; // Already in, without the band mark.
            }
            while let Some(left) = old.next_if(|entry| relevant_key(entry) < id) {
                if left.1.baseline != NOT_SENT {
                    self.pending_despawns.push((left.1.net_id, tick));
                    despawned = true;
                }
            }
            match old.next_if(|entry| relevant_key(entry) == id) {
                Some(&staying) => merged.push(staying),
                None if marked & IN_BAND != 0 => {}
                None => merged.push((dense, ClientEntity::unknown(net_id))),
            }
        }
        for left in old {
            if left.1.baseline != NOT_SENT {
                self.pending_despawns.push((left.1.net_id, tick));
                despawned = true;
            }
        }
        if despawned {
            self.pending_despawns
                .sort_unstable_by_key(|&(net_id, _)| net_id);
        }
        // Copied, not swapped: each client keeps a buffer the size of what it sees.
        relevant.clear();
        relevant.extend_from_slice(merged);
    }

    /// The newest snapshot tick this client acknowledged.
    pub fn newest_ack(&self) -> Option<u32> {
        self.newest_ack
    }

    /// Entities relevant to this client at its last snapshot (all of them without interest
    /// management: then 0).
    pub fn relevant_count(&self) -> usize {
        self.entities.relevant_len()
    }

    /// Not everything in `candidates` fits the budget: keeps the entities that waited longest
    /// (in id order); the others gain priority for the next snapshot.
    fn select_by_priority(
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

    /// Builds this client's snapshot payload for `tick` and remembers what it carries. (For many
    /// clients, [`build_payloads`] shares the work and can use several threads.)
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
                self.pending_despawns.push((net_id, tick));
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

        writer.write_varint(self.pending_despawns.len() as u32);
        let mut previous_id = u32::MAX;
        for (net_id, _) in &self.pending_despawns {
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

/// The header for one entity, or `None` if the client already has everything.
fn entity_header(record: &EntityRecord, baseline: Option<u32>, tick: u32) -> Option<EntityHeader> {
    if let Some(baseline) = baseline {
        // Nothing changed since the client's baseline, however old: it is up to date.
        if record.slots.iter().all(|slot| slot.changed_at <= baseline) {
            return None;
        }
    }
    // Quantized deltas need the baseline value: a baseline older than the history (or the same
    // tick, which cannot be encoded) means absolute values. Serde values are always whole, so an
    // entity whose changes are all serde needs no history, however old its baseline. (One pass
    // over the slots: this runs for every changed entity every tick.)
    let mut needs_history = false;
    let usable = baseline.filter(|&baseline| {
        let mut reachable = true;
        for slot in record
            .slots
            .iter()
            .filter(|slot| slot.changed_at > baseline)
        {
            needs_history |= matches!(slot.value, SlotValue::Quantized(_));
            reachable &= slot.history.is_empty() || slot.value_at(baseline).is_some();
        }
        !needs_history || ((1..=HISTORY_TICKS).contains(&tick.wrapping_sub(baseline)) && reachable)
    });
    let needs_history = usable.is_some() && needs_history;
    let mut header = EntityHeader {
        back: match usable {
            None => 0,
            // Any non-zero `back` means "delta"; without quantized changes its value is unused.
            Some(_) if !needs_history => 1,
            Some(baseline) => tick - baseline,
        },
        ..default()
    };
    for slot in &record.slots {
        if usable.is_some_and(|baseline| slot.changed_at <= baseline) {
            continue;
        }
        match slot.value {
            SlotValue::Removed => header.removed.insert(slot.kind),
            _ => header.changed.insert(slot.kind),
        }
    }
    // An absolute entity is sent even with no component at all: it spawns the entity.
    Some(header)
}

fn write_components(
    writer: &mut BitWriter,
    record: &EntityRecord,
    header: &EntityHeader,
    tick: u32,
    kinds: &[(usize, [u32; 4], Option<u8>)],
    tick_rate: u16,
) {
    let baseline = (header.back > 0).then(|| tick - header.back);
    for slot in &record.slots {
        if !header.changed.contains(slot.kind) {
            continue;
        }
        match &slot.value {
            SlotValue::Bytes(bytes) => writer.write_bytes(bytes),
            SlotValue::Quantized(value) => {
                let (fields, wrap, rate_kind) = kinds[usize::from(slot.kind)];
                let base = baseline.and_then(|baseline| {
                    let base = slot.value_at(baseline).flatten()?;
                    // Moved on by its rate as of the baseline, which the client has too.
                    let rate = rate_kind.and_then(|kind| {
                        let index = record.slots.binary_search_by_key(&kind, |s| s.kind).ok()?;
                        record.slots[index].value_at(baseline).flatten()
                    });
                    Some(predicted(base, rate, header.back, tick_rate, fields, wrap))
                });
                for field in 0..fields {
                    match base {
                        Some(base) => {
                            writer.write_signed(field_delta(
                                value[field],
                                base[field],
                                wrap[field],
                            ));
                        }
                        None => writer.write_signed(value[field]),
                    }
                }
            }
            SlotValue::Removed => {}
        }
    }
}

/// Records every replicated component that changed since the last run, and every entity that
/// appeared or disappeared.
fn collect_changes(world: &mut World) {
    world.resource_scope(|world, mut state: Mut<ReplicationState>| {
        if let Some(rate) = world.get_resource::<TickRate>() {
            state.tick_rate = Some(rate.0.max(1));
        }
        let mut clients = world.query::<&ClientReplication>();
        let horizon = clients
            .iter(world)
            .map(|client| client.newest_ack.unwrap_or(0))
            .min();
        state.set_history_horizon(horizon);
        let tick = world.resource::<SimulationTick>().0;
        collect_into(&mut state, world, tick);
    });
}

/// The change collection: finds what changed in `world` since the previous call, by walking
/// each tracked component's change ticks (not each entity), and records it for `tick`.
///
/// Spawns, despawns, removals, rooms and places are taken in at once. The new values of changed
/// components are recorded at once too, unless spatial interest is registered: then an entity
/// only marks what changed, and its values are recorded when a client it is relevant to needs
/// them ([`resolve_relevance`]). A large world then costs per tick what
/// its clients see, not what moves in it.
pub fn collect_into(state: &mut ReplicationState, world: &mut World, tick: u32) {
    let removals = std::mem::take(&mut world.get_resource_or_init::<ReplicationRemovals>().0);
    let this_run = world.change_tick();
    let world = &*world;
    let registry = world.resource::<ReplicationRegistry>();
    if state.kinds.len() != registry.len() {
        state.kinds = registry.quantized_kinds();
        state.scans.resize_with(registry.len(), ScanCache::default);
    }
    if state.archetype_kinds_for != registry.len() {
        state.archetypes.clear();
        state.archetype_kinds_for = registry.len();
    }
    let last_run = state.last_run;
    let replicated_id = world.component_id::<Replicated>();
    let rooms_id = world.component_id::<interest::Rooms>();
    state.moved.clear();
    state.changed_now.clear();
    state.despawned.clear();

    // Removals first: what was removed and inserted again since is found by the scans below.
    let mut freed = Vec::new();
    for &(entity, component) in &removals {
        let Some(dense) = state.dense_of(entity) else {
            continue; // Never collected, or already gone.
        };
        if Some(component) == replicated_id {
            let Some(record) = state.records[dense as usize].take() else {
                continue;
            };
            state.despawned.push((record.net_id, dense));
            // Free for reuse from the next collection on, after clients saw this despawn.
            freed.push(dense);
            state.by_index[entity.index_u32() as usize] = None;
            state.moved.push((dense, record.net_id, None));
            state.space.forget(dense);
            state.dirty[dense as usize] = KindSet::default();
        } else if Some(component) == rooms_id {
            state.rooms_of[dense as usize] = u64::MAX;
        } else if Some(component) == state.space.located
            && let Some(record) = state.records[dense as usize].as_mut()
            && record.location.is_some()
        {
            record.location = None;
            state.moved.push((dense, record.net_id, None));
        }
        if let Some(kind) = registry
            .iter()
            .position(|(_, rule)| rule.component_id == component)
        {
            state.mark_dirty(dense, kind as u8);
        }
    }

    // Spawns: a new record, with the kinds, rooms and place the entity has.
    let mut spawned = std::mem::take(&mut state.scratch_entities);
    spawned.clear();
    let mut spawn_scan = std::mem::take(&mut state.spawn_scan);
    // (`Replicated` is never written, so its change tick is when it was added.)
    scan_changed::<Replicated>(world, &mut spawn_scan, last_run, |entity, _| {
        spawned.push(entity);
    });
    state.spawn_scan = spawn_scan;
    let mut archetypes = std::mem::take(&mut state.archetypes);
    for &entity in &spawned {
        if state.dense_of(entity).is_some() {
            continue;
        }
        let Ok(entity_ref) = world.get_entity(entity) else {
            continue;
        };
        let dense = state.add_record(entity);
        let present = archetypes
            .entry(entity_ref.archetype().id())
            .or_insert_with(|| {
                registry
                    .iter()
                    .filter(|(_, rule)| entity_ref.contains_id(rule.component_id))
                    .map(|(kind, _)| kind)
                    .collect()
            });
        for &kind in present.iter() {
            state.mark_dirty(dense, kind);
        }
        if let Some(rooms) = entity_ref.get::<interest::Rooms>() {
            state.rooms_of[dense as usize] = rooms.0;
        }
        let location = state.space.locate(&entity_ref);
        if let Some(record) = state.records[dense as usize].as_mut() {
            record.location = location;
            state.moved.push((dense, record.net_id, location));
        }
    }
    state.archetypes = archetypes;

    // Changed components, kind by kind: each a walk down its change ticks. Without spatial
    // interest, quantized values are recorded on the way.
    let lazy = state.space.enabled();
    let mut values = std::mem::take(&mut state.scratch_values);
    let horizon = state.history_horizon.unwrap_or(0);
    for (kind, rule) in registry.iter() {
        if let (false, Encoding::Quantized { changed_values, .. }) = (lazy, rule.encoding) {
            values.clear();
            changed_values(
                world,
                &mut state.scans[usize::from(kind)],
                last_run,
                &mut values,
            );
            for &(entity, quantized) in &values {
                let Some(dense) = state.dense_of(entity) else {
                    continue;
                };
                let at = dense as usize;
                if let Some(record) = state.records[at].as_mut()
                    && record.set(kind, SlotValue::Quantized(quantized), tick, horizon)
                    && state.last_changed[at] != tick
                {
                    state.last_changed[at] = tick;
                    state.changed_now.push(dense);
                }
            }
            continue;
        }
        spawned.clear();
        (rule.changed)(
            world,
            &mut state.scans[usize::from(kind)],
            last_run,
            &mut spawned,
        );
        for &entity in &spawned {
            if let Some(dense) = state.dense_of(entity) {
                state.mark_dirty(dense, kind);
            }
        }
    }
    state.scratch_entities = spawned;
    state.scratch_values = values;

    // Rooms and places that changed.
    let mut rooms_scan = std::mem::take(&mut state.rooms_scan);
    scan_changed::<interest::Rooms>(world, &mut rooms_scan, last_run, |entity, rooms| {
        if let Some(dense) = state.dense_of(entity) {
            state.rooms_of[dense as usize] = rooms.0;
        }
    });
    state.rooms_scan = rooms_scan;
    if let Some(scan) = state.space.scan {
        let mut cache = std::mem::take(&mut state.space.scan_cache);
        let mut places = std::mem::take(&mut state.space.scratch);
        places.clear();
        scan(world, &mut cache, last_run, &mut places);
        for &(entity, location) in &places {
            let Some(dense) = state.dense_of(entity) else {
                continue;
            };
            if let Some(record) = state.records[dense as usize].as_mut()
                && record.location != location
            {
                record.location = location;
                state.moved.push((dense, record.net_id, location));
            }
        }
        state.space.scan_cache = cache;
        state.space.scratch = places;
    }

    if !freed.is_empty() {
        state.free_dense.extend(freed);
        // Hand out the smallest free indices first, keeping per-client arrays compact.
        state.free_dense.sort_unstable_by(|a, b| b.cmp(a));
    }
    if !state.despawned.is_empty() {
        let records = &state.records;
        state
            .in_order
            .retain(|&(_, dense)| records[dense as usize].is_some());
    }
    let ReplicationState { space, moved, .. } = state;
    space.index(moved);
    state.last_run = Some(this_run);

    // Without spatial interest every client gets everything: record every change now.
    if !state.space.enabled() {
        let dirty = std::mem::take(&mut state.dirty_list);
        let context = RecordContext {
            registry,
            world,
            tick,
            horizon,
        };
        state.record_all(&context, &dirty, None);
        state.dirty_list = dirty;
        state.prune_dirty_list();
    }
}

impl ReplicationState {
    /// A record for a newly replicated entity: its net id and dense index.
    fn add_record(&mut self, entity: Entity) -> u32 {
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
    fn mark_dirty(&mut self, dense: u32, kind: u8) {
        let at = dense as usize;
        self.dirty[at].insert(kind);
        if !self.listed[at] {
            self.listed[at] = true;
            self.dirty_list.push(dense);
        }
    }

    /// Drops what no longer has changes to record from the dirty list.
    fn prune_dirty_list(&mut self) {
        let (dirty, listed) = (&self.dirty, &mut self.listed);
        self.dirty_list.retain(|&dense| {
            let keep = !dirty[dense as usize].is_empty();
            listed[dense as usize] = keep;
            keep
        });
    }

    /// Whether `dense` is in the dirty list (between a collection and the recording after it:
    /// whether it has changes not recorded yet; compact, for the per-client walks).
    fn is_pending(&self, dense: u32) -> bool {
        self.listed.get(dense as usize).copied().unwrap_or(false)
    }

    /// Whether `dense` has changes not recorded yet.
    pub(crate) fn is_dirty(&self, dense: u32) -> bool {
        self.dirty
            .get(dense as usize)
            .is_some_and(|dirty| !dirty.is_empty())
    }

    /// Records the changes of every entity in `todo`, on the threads of `pool` when given and
    /// worth it (each thread takes a range of dense indices).
    fn record_all(
        &mut self,
        context: &RecordContext,
        todo: &[u32],
        pool: Option<&bevy::tasks::TaskPool>,
    ) {
        let threads = pool.map_or(1, bevy::tasks::TaskPool::thread_num).max(1);
        let mut changed_now = std::mem::take(&mut self.changed_now);
        let mut scratch = std::mem::take(&mut self.scratch_bytes);
        match pool {
            Some(pool) if threads > 1 && todo.len() >= PARALLEL_RECORDS => {
                // Split the dense indices where each thread gets as many entities to record.
                let mut sorted = std::mem::take(&mut self.scratch_sorted);
                sorted.clear();
                sorted.extend_from_slice(todo);
                sorted.sort_unstable();
                let size = sorted.len().div_ceil(threads);
                let mut parts = Vec::with_capacity(threads);
                let mut rest = self.records_mut();
                let mut chunks = sorted.chunks(size).peekable();
                while let Some(chunk) = chunks.next() {
                    // Each part ends where the next chunk's first entity begins.
                    match chunks.peek() {
                        Some(next) => {
                            let (part, others) = rest.split_at(next[0] as usize);
                            parts.push((part, chunk));
                            rest = others;
                        }
                        None => {
                            parts.push((rest, chunk));
                            break;
                        }
                    }
                }
                let (first, others) = parts.split_at_mut(1);
                let found: Vec<Vec<u32>> = pool.scope(|scope| {
                    for (part, chunk) in others {
                        scope.spawn(async move {
                            let (mut changed, mut scratch) = (Vec::new(), Vec::new());
                            for &dense in chunk.iter() {
                                part.record(context, dense, &mut scratch, &mut changed);
                            }
                            changed
                        });
                    }
                    // This thread records the first share meanwhile.
                    let (part, chunk) = &mut first[0];
                    for &dense in chunk.iter() {
                        part.record(context, dense, &mut scratch, &mut changed_now);
                    }
                });
                self.scratch_sorted = sorted;
                changed_now.extend(found.into_iter().flatten());
            }
            _ => {
                let mut part = self.records_mut();
                for &dense in todo {
                    part.record(context, dense, &mut scratch, &mut changed_now);
                }
            }
        }
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
struct RecordContext<'a> {
    registry: &'a ReplicationRegistry,
    world: &'a World,
    tick: u32,
    horizon: u32,
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

/// Sends away clients whose newest ack is older than [`AckTimeout`], telling them why.
fn send_away_silent_clients(
    mut server: ResMut<RenetServer>,
    clients: Query<(&ConnectedClient, &ClientReplication)>,
    mut farewells: ResMut<Farewells>,
    tick: Res<SimulationTick>,
    tick_rate: Res<TickRate>,
    timeout: Res<AckTimeout>,
    time: Res<Time<Real>>,
) {
    let limit = (timeout.0.as_secs_f64() * f64::from(tick_rate.0)).ceil() as u32;
    for (client, replication) in &clients {
        let client_id = client.client_id;
        if replication.ack_age(tick.0).is_none_or(|age| age <= limit)
            || farewells.contains(client_id)
        {
            continue;
        }
        let reason = format!("no snapshot acknowledged for {} s", timeout.0.as_secs_f32());
        warn!("disconnecting client {client_id}: {reason}");
        metrics::counter!("skirmish_ack_timeouts_total").increment(1);
        farewells.send(&mut server, client_id, &reason, time.elapsed());
    }
}

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
    fn pool(self) -> Option<&'static bevy::tasks::TaskPool> {
        self.0
            .then(bevy::tasks::ComputeTaskPool::try_get)
            .flatten()
            .map(|pool| &**pool)
    }
}

/// Works out every client's relevant entities, then records the changes they need.
fn resolve_interest(world: &mut World) {
    let tick = world.resource::<SimulationTick>().0;
    let pool = world.resource::<ParallelSnapshots>().pool();
    world.resource_scope(|world, mut state: Mut<ReplicationState>| {
        // (`resolve_relevance` in two steps: the clients are in the world the second one reads.)
        let mut clients = world.query_filtered::<&mut ClientReplication, With<ConnectedClient>>();
        {
            let mut replications: Vec<Mut<ClientReplication>> = clients.iter_mut(world).collect();
            let mut refs: Vec<&mut ClientReplication> = replications
                .iter_mut()
                .map(|replication| &mut **replication)
                .collect();
            relevance_of_each(&mut refs, &state, tick, pool);
        }
        let mut read = world.query_filtered::<&ClientReplication, With<ConnectedClient>>();
        materialize_relevant(&mut state, world, read.iter(world), tick, pool);
    });
}

fn send_snapshots(
    mut server: ResMut<RenetServer>,
    mut clients: Query<(&ConnectedClient, &mut ClientReplication)>,
    state: Res<ReplicationState>,
    mut cache: ResMut<SnapshotCache>,
    parallel: Res<ParallelSnapshots>,
    tick: Res<SimulationTick>,
) {
    let mut sent = 0;
    let (infos, mut replications): (Vec<_>, Vec<_>) = clients.iter_mut().unzip();
    let mut refs: Vec<&mut ClientReplication> = replications
        .iter_mut()
        .map(|replication| &mut **replication)
        .collect();
    let payloads = build_payloads(&mut refs, &state, &mut cache, tick.0, parallel.pool());
    for ((client, payload), replication) in infos.into_iter().zip(payloads).zip(refs.iter_mut()) {
        let client_id = client.client_id;
        let snapshot = Snapshot {
            tick: tick.0,
            last_input: client.last_input,
            payload,
            clock: (client.pacing.advice * 4.0).round().clamp(-127.0, 127.0) as i8,
            buffer: (client.pacing.target * 4.0).round().clamp(0.0, 255.0) as u8,
            total: {
                let total = u32::try_from(state.len()).unwrap_or(u32::MAX);
                // Only when it changed: one byte otherwise.
                (replication.told_total != Some(total)).then(|| {
                    replication.told_total = Some(total);
                    total
                })
            },
        };
        let message = encode(&ServerMessage::Snapshot(snapshot));
        if message.len() > MAX_MESSAGE_BYTES {
            // Only possible with many huge components on one entity; the client would refuse it.
            error!(
                "snapshot for client {client_id} is {} bytes, over {MAX_MESSAGE_BYTES}: not sent",
                message.len()
            );
            continue;
        }
        server.send_message(client_id, ServerChannel::Snapshot, message);
        sent += 1;
    }
    metrics::counter!("skirmish_snapshots_total").increment(sent);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::{AppReplicateExt, Quantize};
    use bevy::platform::collections::HashSet;

    /// A position, quantized to 1/16 unit.
    #[derive(Component, Clone, Copy, Debug)]
    struct Place(Vec2);
    /// A velocity, quantized to 1/16 unit.
    #[derive(Component, Clone, Copy)]
    struct Drift(Vec2);
    /// An angle, 4096 steps per turn.
    #[derive(Component, Clone, Copy)]
    struct Heading(f32);

    /// Both vectors, at 1/16 unit.
    macro_rules! quantize_vec2 {
        ($component:ident) => {
            impl Quantize for $component {
                const FIELDS: usize = 2;
                fn quantize(&self) -> Quantized {
                    let q = (self.0 * 16.0).round();
                    [q.x as i32, q.y as i32, 0, 0]
                }
                fn dequantize(q: Quantized) -> Self {
                    Self(Vec2::new(q[0] as f32, q[1] as f32) / 16.0)
                }
            }
        };
    }
    quantize_vec2!(Place);
    quantize_vec2!(Drift);

    impl Quantize for Heading {
        const FIELDS: usize = 1;
        const WRAP: [u32; 4] = [4096, 0, 0, 0];
        fn quantize(&self) -> Quantized {
            let turns = self.0 / std::f32::consts::TAU;
            [
                ((turns.rem_euclid(1.0) * 4096.0).round() as i32) % 4096,
                0,
                0,
                0,
            ]
        }
        fn dequantize(q: Quantized) -> Self {
            Self(q[0] as f32 / 4096.0 * std::f32::consts::TAU)
        }
    }

    fn test_registry(app: &mut App) {
        app.init_resource::<ReplicationRegistry>()
            .replicate_quantized::<Place>()
            .replicate_quantized::<Drift>()
            .replicate_quantized::<Heading>();
    }

    /// Bodies whose `Place` is coded against where their `Drift` takes them, sent to a client
    /// that acknowledges late and loses snapshots: every snapshot it applies gives it exactly
    /// the server's quantized values, through bounces, stops and new drifts.
    #[test]
    fn rate_coded_values_decode_exactly_under_loss_and_late_acks() {
        use crate::client::ClientSession;
        use crate::client::snapshot::{ReplicaHistory, ServerEntityMap, apply_snapshot};
        use crate::protocol::Snapshot;

        let registry = |app: &mut App| {
            app.init_resource::<ReplicationRegistry>()
                .replicate_quantized_with_rate::<Place, Drift>()
                .replicate_quantized::<Drift>()
                .replicate_quantized::<Heading>();
        };
        let mut server = App::new();
        server.add_plugins(registry);
        let mut client = App::new();
        client
            .add_plugins(registry)
            .init_resource::<ClientSession>()
            .init_resource::<ServerEntityMap>()
            .init_resource::<ReplicaHistory>();
        let world = server.world_mut();
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..40 {
            let at = Vec2::new(rng.f32() * 800.0 - 400.0, rng.f32() * 800.0 - 400.0);
            let drift = Vec2::new(rng.f32() * 200.0 - 100.0, rng.f32() * 200.0 - 100.0);
            world.spawn((Replicated, Place(at), Drift(drift), Heading(0.0)));
        }
        let mut state = ReplicationState::default();
        let mut cache = SnapshotCache::default();
        let mut replication = ClientReplication::default();
        let mut applied = 0;
        for tick in 1..400u32 {
            let world = server.world_mut();
            world.increment_change_tick();
            let mut bodies = world.query::<(&mut Place, &mut Drift, &mut Heading)>();
            for (mut place, mut drift, mut heading) in bodies.iter_mut(world) {
                place.0 += drift.0 / 60.0;
                if place.0.abs().max_element() > 400.0 {
                    drift.0 = -drift.0; // A bounce: the rate changes.
                }
                if rng.u32(0..100) == 0 {
                    drift.0 = Vec2::ZERO; // A stop.
                } else if rng.u32(0..100) == 0 {
                    drift.0 = Vec2::new(rng.f32() * 100.0, -50.0);
                }
                heading.0 += 0.01;
            }
            world.increment_change_tick();
            collect_into(&mut state, world, tick);
            // Acks arrive three ticks late, and one in four snapshots is lost.
            if tick > 3 && (tick - 3) % 4 != 0 {
                replication.acknowledge(tick - 3);
            }
            let payload = replication.build_payload(&state, &mut cache, tick);
            if tick % 4 == 0 {
                continue;
            }
            let snapshot = Snapshot {
                tick,
                last_input: None,
                payload,
                clock: 0,
                buffer: 0,
                total: None,
            };
            apply_snapshot(client.world_mut(), &snapshot).expect("a snapshot we built decodes");
            applied += 1;
            let map = client.world().resource::<ServerEntityMap>();
            for (entity, place) in server
                .world_mut()
                .query::<(Entity, &Place)>()
                .iter(server.world())
            {
                let net_id = state.net_id(entity).expect("collected");
                let local = map.get(net_id).expect("replicated");
                let seen = client.world().get::<Place>(local).expect("a place");
                assert_eq!(
                    seen.quantize(),
                    place.quantize(),
                    "tick {tick}: the client decoded another place"
                );
            }
        }
        assert!(applied > 250);
    }

    impl crate::server::interest::Located for Place {
        fn location(&self) -> Vec2 {
            self.0
        }
    }

    /// A server app with the test registry and spatial interest over `Place`, and the
    /// replication state taken out of it (the tests drive it by hand).
    fn interest_server(radius: f32, hysteresis: f32) -> (App, ReplicationState) {
        use crate::server::interest::{AppInterestExt, InterestSettings};

        let mut server = App::new();
        server
            .add_plugins(test_registry)
            .spatial_interest::<Place>(InterestSettings {
                radius,
                hysteresis,
                cell: 100.0,
            });
        let state = server
            .world_mut()
            .remove_resource::<ReplicationState>()
            .expect("registered");
        (server, state)
    }

    /// A server world and a decoding client for interest tests: `(server app, state, client
    /// app)`, the state taken out of the app (spatial interest registered on `Place`).
    fn interest_setup() -> (App, ReplicationState, App) {
        use crate::client::ClientSession;
        use crate::client::snapshot::{ReplicaHistory, ServerEntityMap};

        let (server, state) = interest_server(100.0, 20.0);
        let client = || {
            let mut client = App::new();
            client
                .add_plugins(test_registry)
                .init_resource::<ClientSession>()
                .init_resource::<ServerEntityMap>()
                .init_resource::<ReplicaHistory>();
            client
        };
        (server, state, client())
    }

    /// The interest view of these tests around `center`: radius 100, band 20, every room.
    fn test_view(center: Vec2) -> crate::server::interest::InterestView {
        crate::server::interest::InterestView {
            center: Some(center),
            radius: 100.0,
            hysteresis: 20.0,
            rooms: u64::MAX,
            ..default()
        }
    }

    /// The client's entity for the server's `entity`, if the client has it.
    fn on_client(client: &App, state: &ReplicationState, entity: Entity) -> Option<Entity> {
        use crate::client::snapshot::ServerEntityMap;

        client
            .world()
            .resource::<ServerEntityMap>()
            .get(state.net_id(entity).expect("replicated"))
    }

    /// One tick: collect, then build each client's snapshot (acknowledging the previous one)
    /// and apply it on that client's app.
    fn interest_tick(
        server: &mut App,
        state: &mut ReplicationState,
        cache: &mut SnapshotCache,
        clients: &mut [(&mut ClientReplication, &mut App)],
        tick: u32,
        lag: u32,
    ) {
        use crate::client::snapshot::apply_snapshot;
        use crate::protocol::Snapshot;

        let world = server.world_mut();
        world.increment_change_tick();
        collect_into(state, world, tick);
        for (replication, _) in clients.iter_mut() {
            if tick > lag {
                replication.acknowledge(tick - lag);
            }
        }
        let mut refs: Vec<&mut ClientReplication> = clients
            .iter_mut()
            .map(|(replication, _)| &mut **replication)
            .collect();
        resolve_relevance(&mut refs, state, world, tick, None);
        // What the test changes next is newer than this collection.
        world.increment_change_tick();
        for (replication, client) in clients.iter_mut() {
            let payload = replication.build_payload(state, cache, tick);
            let snapshot = Snapshot {
                tick,
                last_input: None,
                payload,
                clock: 0,
                buffer: 0,
                total: None,
            };
            apply_snapshot(client.world_mut(), &snapshot).expect("decodes");
        }
    }

    #[test]
    fn an_entity_crossing_the_border_leaves_and_comes_back_whole_without_flicker() {
        border_crossing(1);
    }

    /// The same with acknowledgements four ticks late: those of snapshots from before the
    /// entity left must not become its baseline once it is back.
    #[test]
    fn a_returning_entity_ignores_acknowledgements_from_before_it_left() {
        border_crossing(4);
    }

    fn border_crossing(lag: u32) {
        let (mut server, mut state, mut client) = interest_setup();
        let mover = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::new(50.0, 0.0))))
            .id();
        let mut cache = SnapshotCache::default();
        let mut replication = ClientReplication {
            interest: Some(test_view(Vec2::ZERO)),
            ..default()
        };
        // Out to 115 (inside the band), back to 95, out to 118, out past the band to 140,
        // and back in to 90.
        let mut path: Vec<f32> = Vec::new();
        path.extend((10..=23).map(|step| step as f32 * 5.0));
        path.extend((19..=23).rev().map(|step| step as f32 * 5.0));
        path.extend([118.0, 119.0, 118.0]);
        path.extend((24..=28).map(|step| step as f32 * 5.0));
        path.extend((18..=27).rev().map(|step| step as f32 * 5.0));
        // A quick trip out and straight back, within the acknowledgement delay.
        path.extend([
            95.0, 140.0, 90.0, 91.0, 92.0, 93.0, 94.0, 95.0, 96.0, 97.0, 98.0,
        ]);
        let mut present_before = false;
        let mut left = false;
        for (tick, x) in (1u32..).zip(path) {
            server.world_mut().get_mut::<Place>(mover).unwrap().0.x = x;
            interest_tick(
                &mut server,
                &mut state,
                &mut cache,
                &mut [(&mut replication, &mut client)],
                tick,
                lag,
            );
            let local = on_client(&client, &state, mover);
            let present = local.is_some();
            if x <= 100.0 {
                assert!(present, "tick {tick}: inside the radius at {x}");
                let seen = client.world().get::<Place>(local.unwrap()).unwrap();
                assert_eq!(
                    seen.quantize(),
                    Place(Vec2::new(x, 0.0)).quantize(),
                    "current state"
                );
            } else if x <= 120.0 {
                assert_eq!(present, present_before, "tick {tick}: flickered at {x}");
            } else {
                assert!(
                    !present,
                    "tick {tick}: past the band at {x} it is despawned"
                );
                left = true;
            }
            present_before = present;
        }
        assert!(left && present_before, "it left and came back");
    }

    /// With spatial interest, what moves where no client sees it is not recorded, and reaches
    /// the first client that comes near with its current state.
    #[test]
    fn changes_nobody_sees_wait_and_arrive_current() {
        let (mut server, mut state, mut client) = interest_setup();
        let near = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::new(10.0, 0.0)), Heading(0.0)))
            .id();
        let far = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::new(1000.0, 0.0)), Heading(0.0)))
            .id();
        let mut cache = SnapshotCache::default();
        let mut replication = ClientReplication {
            interest: Some(test_view(Vec2::ZERO)),
            ..default()
        };
        let step = |server: &mut App, tick: u32| {
            for entity in [near, far] {
                let mut place = server.world_mut().get_mut::<Place>(entity).unwrap();
                place.0.x += 0.5;
                place.0.y = tick as f32;
                server.world_mut().get_mut::<Heading>(entity).unwrap().0 += 0.1;
            }
        };
        for tick in 1..=30 {
            step(&mut server, tick);
            interest_tick(
                &mut server,
                &mut state,
                &mut cache,
                &mut [(&mut replication, &mut client)],
                tick,
                1,
            );
            assert_eq!(
                state.pending_changes(),
                1,
                "tick {tick}: only the far one waits"
            );
        }
        assert!(on_client(&client, &state, far).is_none());
        assert!(on_client(&client, &state, near).is_some());

        // The client goes where the far one is: it arrives as it is now.
        replication.interest = Some(test_view(Vec2::new(1000.0, 0.0)));
        step(&mut server, 31);
        interest_tick(
            &mut server,
            &mut state,
            &mut cache,
            &mut [(&mut replication, &mut client)],
            31,
            1,
        );
        let local = on_client(&client, &state, far).expect("the far one arrived");
        let (seen_place, seen_heading) = (
            client.world().get::<Place>(local).unwrap(),
            client.world().get::<Heading>(local).unwrap(),
        );
        let (place, heading) = (
            server.world().get::<Place>(far).unwrap(),
            server.world().get::<Heading>(far).unwrap(),
        );
        assert_eq!(seen_place.quantize(), place.quantize());
        assert_eq!(seen_heading.quantize(), heading.quantize());
        assert_eq!(state.pending_changes(), 1, "now the near one waits");
    }

    /// A client that got the whole world before its interest began (its first snapshot, say)
    /// loses what it no longer sees.
    #[test]
    fn what_a_client_no_longer_sees_when_interest_begins_is_despawned_on_it() {
        let (mut server, mut state, mut client) = interest_setup();
        let near = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::new(10.0, 0.0))))
            .id();
        let far = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::new(900.0, 0.0))))
            .id();
        let mut cache = SnapshotCache::default();
        let mut replication = ClientReplication::default();
        let present = |client: &App, state: &ReplicationState, entity| {
            on_client(client, state, entity).is_some()
        };
        for tick in 1..3 {
            interest_tick(
                &mut server,
                &mut state,
                &mut cache,
                &mut [(&mut replication, &mut client)],
                tick,
                1,
            );
        }
        assert!(present(&client, &state, near) && present(&client, &state, far));
        replication.interest = Some(test_view(Vec2::ZERO));
        for tick in 3..8 {
            interest_tick(
                &mut server,
                &mut state,
                &mut cache,
                &mut [(&mut replication, &mut client)],
                tick,
                1,
            );
        }
        assert!(present(&client, &state, near), "still seen");
        assert!(
            !present(&client, &state, far),
            "out of sight: despawned on the client"
        );
    }

    #[test]
    fn a_room_scoped_entity_never_reaches_a_client_outside_the_room() {
        use crate::server::interest::{InterestView, Rooms};

        let (mut server, mut state, mut inside) = interest_setup();
        let (_, _, mut outside) = interest_setup();
        let secret = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::ZERO), Rooms(0b01)))
            .id();
        let public = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::X), Heading(1.0)))
            .id();
        let view = |rooms| InterestView {
            rooms,
            ..test_view(Vec2::ZERO)
        };
        let mut member = ClientReplication {
            interest: Some(view(0b01)),
            ..default()
        };
        let mut stranger = ClientReplication {
            interest: Some(view(0b10)),
            ..default()
        };
        let mut cache = SnapshotCache::default();
        for tick in 1..60u32 {
            server.world_mut().get_mut::<Place>(secret).unwrap().0.x = tick as f32;
            interest_tick(
                &mut server,
                &mut state,
                &mut cache,
                &mut [(&mut member, &mut inside), (&mut stranger, &mut outside)],
                tick,
                1,
            );
            // The stranger's bytes, decoded: never the secret entity.
            assert!(
                on_client(&outside, &state, secret).is_none(),
                "tick {tick}: the secret reached the stranger"
            );
        }
        assert!(on_client(&outside, &state, public).is_some());
        assert!(on_client(&inside, &state, secret).is_some());
    }

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

    /// With spatial interest the relevance, the recording of changes and the snapshots run on
    /// several threads; the bytes are the same as on one.
    #[test]
    fn parallel_and_single_threaded_interest_are_byte_identical() {
        use crate::server::interest::InterestView;

        let (mut app, template) = interest_server(150.0, 20.0);
        let world = app.world_mut();
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..12_000 {
            let at = Vec2::new(rng.f32() * 1000.0, rng.f32() * 1000.0);
            world.spawn((Replicated, Place(at), Heading(0.0), Drift(Vec2::X)));
        }
        let mut states = [
            ReplicationState::default(),
            ReplicationState::default(),
            ReplicationState::default(),
        ];
        for state in &mut states {
            state.space.locate = template.space.locate;
            state.space.scan = template.space.scan;
            state.space.located = template.space.located;
            state.space.cell = template.space.cell;
        }
        let mut caches = [
            SnapshotCache::default(),
            SnapshotCache::default(),
            SnapshotCache::default(),
        ];
        let client = |index: usize| ClientReplication {
            interest: Some(InterestView {
                center: Some(Vec2::splat(100.0 + index as f32 * 150.0)),
                radius: 150.0,
                hysteresis: 20.0,
                rooms: u64::MAX,
                ..default()
            }),
            ..default()
        };
        let mut clients: [Vec<ClientReplication>; 3] = [
            (0..6).map(client).collect(),
            (0..6).map(client).collect(),
            (0..6).map(client).collect(),
        ];
        // Two threads, and more threads than some ticks have shares of work for.
        let pool = bevy::tasks::TaskPoolBuilder::new().num_threads(2).build();
        let many = bevy::tasks::TaskPoolBuilder::new().num_threads(64).build();
        let mut recorded_in_parallel = false;
        for tick in 1..60u32 {
            let world = app.world_mut();
            world.increment_change_tick();
            let mut bodies = world.query::<(&mut Place, &mut Heading)>();
            for (index, (mut place, mut heading)) in bodies.iter_mut(world).enumerate() {
                // From every body to one in ten: shares of work that do not divide evenly.
                if (index as u32 + tick).is_multiple_of(1 + tick % 10) {
                    place.0.x += 3.5;
                    heading.0 += 0.01;
                }
            }
            world.increment_change_tick();
            let mut payloads: Vec<Vec<Vec<u8>>> = Vec::new();
            for (run, pool) in [None, Some(&pool), Some(&many)].into_iter().enumerate() {
                let state = &mut states[run];
                // Both runs see the same changes: each collects against its own last run.
                collect_into(state, world, tick);
                let mut refs: Vec<&mut ClientReplication> = clients[run].iter_mut().collect();
                for (index, client) in refs.iter_mut().enumerate() {
                    if tick > 1 && (tick as usize + index).is_multiple_of(2) {
                        client.acknowledge(tick - 1);
                    }
                }
                let todo = state.dirty_list.len();
                resolve_relevance(&mut refs, state, world, tick, pool);
                recorded_in_parallel |= pool.is_some() && todo >= PARALLEL_RECORDS;
                payloads.push(build_payloads(
                    &mut refs,
                    state,
                    &mut caches[run],
                    tick,
                    pool,
                ));
            }
            assert_eq!(
                payloads[0], payloads[1],
                "tick {tick}: the threads changed the bytes"
            );
            assert!(
                payloads[0].iter().all(|payload| payload.len() > 20),
                "each sees movers"
            );
        }
        assert!(
            recorded_in_parallel,
            "changes were recorded on several threads"
        );
    }

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

    /// Drives `ticks` ticks of a world where `per_tick` replicated entities spawn each tick and
    /// despawn the next; `ack(tick)` says which snapshot (if any) the client acknowledges before
    /// each tick's snapshot is built. Checks `check(tick, client)` after each build.
    fn churn(
        ticks: u32,
        per_tick: usize,
        client: &mut ClientReplication,
        mut ack: impl FnMut(u32) -> Option<u32>,
        mut check: impl FnMut(u32, &ClientReplication),
    ) {
        let mut app = App::new();
        app.add_plugins(test_registry);
        let world = app.world_mut();
        let mut state = ReplicationState::default();
        let mut cache = SnapshotCache::default();
        let mut alive = Vec::new();
        for tick in 0..ticks {
            for entity in alive.drain(..) {
                world.despawn(entity);
            }
            for i in 0..per_tick {
                let position = Place(Vec2::new(i as f32, tick as f32));
                alive.push(world.spawn((Replicated, position)).id());
            }
            world.increment_change_tick();
            collect_into(&mut state, world, tick);
            if let Some(acked) = ack(tick) {
                client.acknowledge(acked);
            }
            client.build_payload(&state, &mut cache, tick);
            check(tick, client);
        }
    }

    #[test]
    fn a_client_that_never_acks_stores_each_despawn_once_and_a_late_ack_clears_them() {
        let (ticks, per_tick) = (300, 5);
        let mut client = ClientReplication::default();
        churn(
            ticks,
            per_tick,
            &mut client,
            |_| None,
            |tick, client| {
                let footprint = client.footprint();
                // One entry per despawn so far (those of ticks 1..=tick), not one per despawn
                // per snapshot in flight (the old layout held up to 64 copies of each).
                assert_eq!(footprint.despawn_entries, per_tick * tick as usize);
                assert_eq!(
                    footprint.in_flight_snapshots,
                    (tick as usize + 1).min(IN_FLIGHT_SNAPSHOTS)
                );
                assert!(footprint.in_flight_entities <= IN_FLIGHT_SNAPSHOTS * per_tick);
                assert_eq!(client.ack_age(tick), Some(tick), "silent since tick 0");
            },
        );
        let last = ticks - 1;

        // A late ack, older than every snapshot still in flight: it proves the client has every
        // despawn first sent up to then, so exactly those go (one pass over the list).
        client.acknowledge(100);
        let footprint = client.footprint();
        assert_eq!(
            footprint.despawn_entries,
            per_tick * (last - 100) as usize,
            "the despawns of ticks 101..={last} remain"
        );
        assert_eq!(footprint.newest_ack, Some(100));
        assert_eq!(footprint.in_flight_snapshots, IN_FLIGHT_SNAPSHOTS);
        assert_eq!(client.ack_age(last), Some(last - 100));

        // Older or repeated acks, and acks of snapshots never sent, change nothing.
        for stale in [0, 99, 100, last + 1, u32::MAX] {
            client.acknowledge(stale);
            assert_eq!(client.footprint(), footprint, "ack {stale}");
        }

        // The newest snapshot acknowledged: nothing pending, nothing in flight.
        client.acknowledge(last);
        let footprint = client.footprint();
        assert_eq!(footprint.despawn_entries, 0);
        assert_eq!(footprint.in_flight_snapshots, 0);
        assert_eq!(footprint.in_flight_entities, 0);
        assert_eq!(client.ack_age(last), Some(0));
    }

    #[test]
    fn an_acking_client_keeps_only_the_newest_despawns() {
        let per_tick = 5;
        let mut client = ClientReplication::default();
        assert_eq!(
            client.ack_age(0),
            None,
            "no snapshot yet: nothing to acknowledge"
        );
        churn(
            200,
            per_tick,
            &mut client,
            |tick| tick.checked_sub(1),
            |tick, client| {
                let footprint = client.footprint();
                let expected = if tick == 0 { 0 } else { per_tick };
                assert_eq!(footprint.despawn_entries, expected, "tick {tick}");
                assert_eq!(footprint.in_flight_snapshots, 1);
                assert!(client.ack_age(tick).is_some_and(|age| age <= 1));
            },
        );
    }

    /// The shortcut for an unchanged relevant list agrees with the merge: nothing came (outside
    /// the band), nothing left, whatever the duplicates and band entities not seen before.
    #[test]
    fn an_unchanged_relevant_list_is_recognised() {
        let relevant: Vec<RelevantEntity> = [(1, 10), (2, 20), (3, 30)]
            .map(|(net_id, dense)| (dense, ClientEntity::unknown(NetId(net_id))))
            .to_vec();
        let id = |net_id: u32, dense: u32| (NetId(net_id), dense);
        let band = |net_id: u32, dense: u32| (NetId(net_id), dense | IN_BAND);
        let same = |next: &[(NetId, u32)]| same_relevance(next, &relevant);
        assert!(same(&[id(1, 10), id(2, 20), id(3, 30)]));
        // Seen before and now in the band; found twice; a stranger in the band stays out.
        assert!(same(&[id(1, 10), band(2, 20), id(3, 30)]));
        assert!(same(&[
            id(1, 10),
            id(1, 10),
            id(2, 20),
            band(2, 20),
            id(3, 30)
        ]));
        assert!(same(&[
            band(0, 5),
            id(1, 10),
            id(2, 20),
            band(2, 25),
            id(3, 30),
            band(4, 40)
        ]));
        // One came, one left (last, first, in the middle).
        assert!(!same(&[id(1, 10), id(2, 20), id(3, 30), id(4, 40)]));
        assert!(!same(&[id(0, 5), id(1, 10), id(2, 20), id(3, 30)]));
        assert!(!same(&[id(1, 10), id(2, 20)]));
        assert!(!same(&[id(2, 20), id(3, 30)]));
        assert!(!same(&[id(1, 10), id(3, 30)]));
        assert!(!same(&[]));
        assert!(same_relevance(&[band(7, 70)], &[]));
    }

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
