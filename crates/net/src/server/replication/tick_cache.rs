//! This tick's shared encodings: every entity that changed this tick, encoded once against the
//! previous tick, for the snapshots of all clients that have the previous tick.

use bevy::prelude::*;

use super::entity_encoding::{entity_header, write_components};
use super::fan_out::{self, PARALLEL_RECORDS};
use super::world_record::ReplicationState;
use crate::bits::{BitWriter, Bits};
use crate::snapshot_format::EntityHeader;

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
    pub(super) filled_for: Option<u32>,
    pub(super) scratch: BitWriter,
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
        let changed = &state.changed_now;
        let shares = fan_out::shares(pool, changed.len() >= PARALLEL_RECORDS);
        let (first, rest) = fan_out::split(changed, shares);
        // This thread encodes its share straight into the cache's own buffers; the other
        // threads into spare ones, appended after it.
        let own = Encoded {
            dense: std::mem::take(&mut self.cached),
            entries: std::mem::take(&mut self.entries),
            headers: std::mem::take(&mut self.headers),
            arena: std::mem::take(&mut self.arena),
            scratch: std::mem::take(&mut self.scratch),
        };
        let mut spare = std::mem::take(&mut self.spare_parts);
        let parts = rest.map(|part| (part, spare.pop().unwrap_or_default()));
        let (own, others) = fan_out::run(pool, (first, own), parts, |(part, mut encoded)| {
            encoded.encode(state, part, tick);
            encoded
        });
        self.entries = own.entries;
        self.headers = own.headers;
        self.arena = own.arena;
        self.scratch = own.scratch;
        for (at, &dense) in own.dense.iter().enumerate() {
            self.slot_of[dense as usize] = at as u32;
        }
        self.cached = own.dense;
        for encoded in others {
            self.take(&encoded);
            spare.push(encoded.cleared());
        }
        self.spare_parts = spare;
    }

    /// Appends a part encoded by one of the other threads.
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
    pub(super) fn this_tick(
        &self,
        dense: u32,
        tick: u32,
    ) -> Option<(Option<EntityHeader>, Bits<'_>)> {
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
    pub(super) fn encode<'a>(
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
