//! A client's acknowledgement table: per entity, whether it was sent and the newest
//! acknowledged tick that carried it (its baseline); over the whole world, or over the entities
//! relevant to the client in id order.

use crate::registry::NetId;

/// A client's view of one entity slot: never sent, sent but not acknowledged, or the tick of
/// the newest acknowledged snapshot that carried it. (12 bytes: a client holds one per entity it
/// sees, and walks them all every tick.)
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientEntity {
    pub(super) net_id: NetId,
    pub(super) baseline: u32,
    /// The tick it was last sent whole from nothing: acknowledgements of older snapshots
    /// (from before it left this client and came back) say nothing about it.
    pub(super) since: u32,
}

pub(super) const NOT_SENT: u32 = u32::MAX;
pub(super) const UNACKED: u32 = u32::MAX - 1;

impl ClientEntity {
    pub(super) const UNKNOWN: Self = Self {
        net_id: NetId(u32::MAX),
        baseline: NOT_SENT,
        since: 0,
    };

    /// Not sent yet, for entity `net_id`.
    pub(super) fn unknown(net_id: NetId) -> Self {
        Self {
            net_id,
            ..Self::UNKNOWN
        }
    }

    /// The acknowledged tick a delta can start from (`None`: sent whole).
    pub(super) fn acked(&self) -> Option<u32> {
        match self.baseline {
            NOT_SENT | UNACKED => None,
            baseline => Some(baseline),
        }
    }
}

/// A relevant entity: its dense index and the client's view of it.
pub(super) type RelevantEntity = (u32, ClientEntity);

/// The order of a client's relevant entities: by net id (then dense index).
pub(super) fn relevant_key(&(dense, entity): &RelevantEntity) -> (NetId, u32) {
    (entity.net_id, dense)
}

/// A client's view of every entity: an array by dense index over the whole world while the
/// client gets everything; once it gets only what is relevant to it, the relevant entities in id
/// order, each with its state (so a large world costs it what it sees, in memory and in cache,
/// and the per-tick walks are merges instead of lookups).
#[derive(Debug)]
pub(super) enum EntityTable {
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
    pub(super) fn get(&self, dense: u32, net_id: NetId) -> Option<&ClientEntity> {
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
    pub(super) fn get_mut(&mut self, dense: u32, net_id: NetId) -> Option<&mut ClientEntity> {
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
    pub(super) fn slot(&mut self, dense: u32, net_id: NetId) -> &mut ClientEntity {
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
    pub(super) fn each_of(
        &mut self,
        listed: &[(u32, NetId)],
        mut f: impl FnMut(&mut ClientEntity),
    ) {
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
    pub(super) fn make_relevant(&mut self) {
        if let Self::Dense(_) = self {
            *self = Self::Relevant(self.known());
        }
    }

    /// Switches to the whole-world array, keeping what the client has.
    pub(super) fn make_dense(&mut self) {
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
    pub(super) fn relevant_len(&self) -> usize {
        match self {
            Self::Dense(_) => 0,
            Self::Relevant(relevant) => relevant.len(),
        }
    }
}
