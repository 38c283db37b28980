//! Applying snapshots: the bit-packed payload (layout in `snapshot_format`) becomes local
//! entities, mapped from the server's [`NetId`]s by [`ServerEntityMap`], with quantized values
//! decoded against the history of what this client applied.

use std::collections::VecDeque;

use bevy::ecs::world::EntityWorldMut;
use bevy::platform::collections::HashMap;
use bevy::prelude::*;

use crate::bits::{BitReader, OutOfBits};
use crate::client::ClientSession;
use crate::codec::MAX_MESSAGE_BYTES;
use crate::protocol::Snapshot;
use crate::registry::{
    Encoding, NetId, Quantized, ReplicationRegistry, apply_field_delta, predicted,
};
use crate::snapshot_format::{read_header, read_id_step};

/// Maps server network ids to the local entities that mirror them.
#[derive(Resource, Debug, Default)]
pub struct ServerEntityMap(pub(crate) HashMap<NetId, Entity>);

/// Most entities a server may give one client to control; a server that says more is
/// misbehaving, and the client leaves it.
pub const MAX_CONTROLLED: usize = 256;

/// The server's entities this client controls (as the server said), by network id. Each is
/// marked [`Controlled`](crate::client::Controlled) once it is present.
#[derive(Resource, Debug, Default)]
pub struct ControlledIds(pub(crate) bevy::platform::collections::HashSet<NetId>);

impl ControlledIds {
    /// How many entities the server gave this client.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the server gave this client none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether this client controls the server entity `net_id`.
    pub fn contains(&self, net_id: NetId) -> bool {
        self.0.contains(&net_id)
    }
}

/// Marks [`Controlled`](crate::client::Controlled) every present entity the server gave this
/// client.
pub(crate) fn mark_controlled(
    mut commands: Commands,
    controlled: Res<ControlledIds>,
    map: Res<ServerEntityMap>,
    unmarked: Query<(), Without<crate::client::Controlled>>,
) {
    for &net_id in &controlled.0 {
        if let Some(entity) = map.get(net_id)
            && unmarked.contains(entity)
        {
            commands.entity(entity).insert(crate::client::Controlled);
        }
    }
}

impl ServerEntityMap {
    /// The local entity mirroring a server entity.
    pub fn get(&self, net_id: NetId) -> Option<Entity> {
        self.0.get(&net_id).copied()
    }

    /// Number of replicated entities present locally.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no replicated entity is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The default [`ReplicaLimits::max_entities`].
pub const DEFAULT_MAX_REPLICAS: usize = 32_768;

/// What a server may make this client hold. A server (hostile, or a fork's with a bug) could
/// otherwise spawn a new entity every two bits of every snapshot; past the limit the client
/// leaves it, saying why.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaLimits {
    /// Most replicated entities present at once.
    pub max_entities: usize,
}

impl Default for ReplicaLimits {
    fn default() -> Self {
        Self {
            max_entities: DEFAULT_MAX_REPLICAS,
        }
    }
}

/// One entity's quantized history, per kind.
type KindHistories = Vec<(u8, VecDeque<(u32, Option<Quantized>)>)>;

/// Quantized values the client applied, per entity and kind, so deltas against a baseline tick
/// can be decoded. Mirrors the server's history. Keyed by entity, so forgetting one (a despawn)
/// costs one removal, whatever else is held.
#[derive(Resource, Debug, Default)]
pub(crate) struct ReplicaHistory(HashMap<NetId, KindHistories>, AppliedTicks);

/// The ticks of the snapshots this client applied within the last [`HISTORY_TICKS`], ascending:
/// a baseline in that window the client never applied means the server (misled by a forged
/// ack, or a bug) codes against state the client does not have, and the client would decode
/// garbage from then on.
#[derive(Debug, Default)]
struct AppliedTicks(VecDeque<u32>);

impl AppliedTicks {
    fn note(&mut self, tick: u32) {
        if self.0.back().is_some_and(|&newest| newest >= tick) {
            return;
        }
        self.0.push_back(tick);
        let horizon = tick.saturating_sub(HISTORY_TICKS);
        while self.0.front().is_some_and(|&oldest| oldest < horizon) {
            self.0.pop_front();
        }
    }

    /// Whether `baseline` may be decoded against: applied, or older than the window (then an
    /// entity's value from before it stands).
    fn allows(&self, baseline: u32) -> bool {
        match self.0.back() {
            Some(&newest) if baseline >= newest.saturating_sub(HISTORY_TICKS) => {
                self.0.binary_search(&baseline).is_ok()
            }
            Some(_) => true,
            // Nothing applied yet: nothing can be a baseline.
            None => false,
        }
    }
}

/// Quantized history kept, in ticks; twice the server's horizon so a client that fell behind
/// still has every baseline the server may use.
const HISTORY_TICKS: u32 = 2 * crate::server::replication::HISTORY_TICKS;

impl ReplicaHistory {
    fn value_at(&self, net_id: NetId, kind: u8, tick: u32) -> Option<Quantized> {
        self.0
            .get(&net_id)?
            .iter()
            .find(|(of, _)| *of == kind)?
            .1
            .iter()
            .rev()
            .find(|(at, _)| *at <= tick)
            .and_then(|(_, value)| *value)
    }

    fn record(&mut self, net_id: NetId, kind: u8, tick: u32, value: Option<Quantized>) {
        let kinds = self.0.entry(net_id).or_default();
        let index = match kinds.iter().position(|(of, _)| *of == kind) {
            Some(index) => index,
            None => {
                kinds.push((kind, VecDeque::new()));
                kinds.len() - 1
            }
        };
        let history = &mut kinds[index].1;
        if history.back().is_some_and(|(at, _)| *at == tick) {
            history.pop_back();
        }
        history.push_back((tick, value));
        let horizon = tick.saturating_sub(HISTORY_TICKS);
        while history.len() > 1 && history[1].0 <= horizon {
            history.pop_front();
        }
    }

    fn forget(&mut self, net_id: NetId) {
        self.0.remove(&net_id);
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
        self.1.0.clear();
    }
}

/// Applies one snapshot's bit-packed payload. Returns how many entity entries it carried.
pub(crate) fn apply_snapshot(world: &mut World, snapshot: &Snapshot) -> Result<u64, String> {
    let registry = world.resource::<ReplicationRegistry>();
    let rules: Vec<(Encoding, fn(&mut EntityWorldMut), &'static str)> = registry
        .iter()
        .map(|(_, rule)| (rule.encoding, rule.remove, rule.name))
        .collect();
    let rate_kinds: Vec<Option<u8>> = registry
        .quantized_kinds()
        .into_iter()
        .map(|(_, _, rate)| rate)
        .collect();
    let tick_rate = world.resource::<ClientSession>().tick_rate;
    let max_entities = world
        .get_resource::<ReplicaLimits>()
        .copied()
        .unwrap_or_default()
        .max_entities;
    let kinds = rules.len();
    let tick = snapshot.tick;
    let mut reader = BitReader::new(&snapshot.payload);
    let malformed = |err: OutOfBits| format!("malformed snapshot {tick}: {err}");
    world.resource_scope(|world, mut map: Mut<ServerEntityMap>| {
        world.resource_scope(|world, mut history: Mut<ReplicaHistory>| {
            let mut previous_id = u32::MAX;
            let mut previous_header = None;
            let mut entries = 0;
            while let Some(id) = read_id_step(&mut reader, previous_id).map_err(malformed)? {
                previous_id = id;
                entries += 1;
                let net_id = NetId(id);
                let header =
                    read_header(&mut reader, previous_header.as_ref(), kinds).map_err(malformed)?;
                previous_header = Some(header);
                let baseline = match header.back {
                    0 => None,
                    back => Some(tick.checked_sub(back).ok_or("baseline before tick 0")?),
                };

                let entity = match map.0.get(&net_id) {
                    Some(&entity) if world.get_entity(entity).is_ok() => entity,
                    _ => {
                        if map.0.len() >= max_entities {
                            return Err(format!(
                                "the server sent more than {max_entities} entities (ReplicaLimits)"
                            ));
                        }
                        let entity = world.spawn(net_id).id();
                        map.0.insert(net_id, entity);
                        entity
                    }
                };
                for kind in header.changed.iter() {
                    let (encoding, _, name) = rules[usize::from(kind)];
                    match encoding {
                        Encoding::Serde { write, .. } => {
                            let bytes = reader.read_bytes(MAX_MESSAGE_BYTES).map_err(malformed)?;
                            write(&mut world.entity_mut(entity), &bytes)
                                .map_err(|err| format!("bad {name} for {net_id:?}: {err}"))?;
                        }
                        Encoding::Quantized {
                            fields,
                            wrap,
                            write,
                            ..
                        } => {
                            // (Only quantized deltas read a baseline: with serde changes
                            // alone, `back` just says "not a spawn".)
                            if let Some(baseline) = baseline
                                && !history.1.allows(baseline)
                            {
                                return Err(format!(
                                    "snapshot {tick} codes {net_id:?} against snapshot \
                                     {baseline}, which this client never applied"
                                ));
                            }
                            // Moved on by its rate as of the baseline, as the server predicts it.
                            let base = baseline.and_then(|b| {
                                let base = history.value_at(net_id, kind, b)?;
                                let rate = rate_kinds[usize::from(kind)]
                                    .and_then(|rate| history.value_at(net_id, rate, b));
                                let back = tick - b;
                                Some(predicted(base, rate, back, tick_rate, fields, wrap))
                            });
                            let mut value = [0; 4];
                            for field in 0..fields {
                                let read = reader.read_signed().map_err(malformed)?;
                                value[field] = match base {
                                    Some(base) => apply_field_delta(base[field], read, wrap[field]),
                                    None => read,
                                };
                            }
                            write(&mut world.entity_mut(entity), value);
                            history.record(net_id, kind, tick, Some(value));
                        }
                    }
                }
                for kind in header.removed.iter() {
                    let (_, remove, _) = rules[usize::from(kind)];
                    remove(&mut world.entity_mut(entity));
                    history.record(net_id, kind, tick, None);
                }
            }
            history.1.note(tick);
            let despawns = reader.read_varint().map_err(malformed)?;
            let mut previous_id = u32::MAX;
            for _ in 0..despawns {
                let id = read_id_step(&mut reader, previous_id)
                    .map_err(malformed)?
                    .ok_or_else(|| format!("malformed snapshot {tick}: despawn list"))?;
                previous_id = id;
                history.forget(NetId(id));
                if let Some(entity) = map.0.remove(&NetId(id)) {
                    // The game may have despawned it already; that is fine.
                    let _ = world.try_despawn(entity);
                }
            }
            Ok(entries)
        })
    })
}

/// Despawns every replicated entity and forgets their history (a new connection starts empty).
pub(crate) fn despawn_replicas(world: &mut World) {
    if let Some(mut history) = world.get_resource_mut::<ReplicaHistory>() {
        history.clear();
    }
    if let Some(mut controlled) = world.get_resource_mut::<ControlledIds>() {
        controlled.0.clear();
    }
    let Some(mut map) = world.get_resource_mut::<ServerEntityMap>() else {
        return;
    };
    let entities: Vec<Entity> = map.0.drain().map(|(_, entity)| entity).collect();
    for entity in entities {
        let _ = world.try_despawn(entity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_every_entity_of_a_crowd_is_linear() {
        // 100,000 entities of two kinds each leave at once (a player leaving a crowded area, or
        // a hostile server's despawn list): one removal each. Keyed by (entity, kind), this was
        // a walk over the whole history per despawn, 2 * 10^10 steps.
        let mut history = ReplicaHistory::default();
        for id in 0..100_000 {
            for kind in 0..2 {
                history.record(NetId(id), kind, 1, Some([id as i32; 4]));
            }
        }
        assert_eq!(history.value_at(NetId(7), 1, 1), Some([7; 4]));
        for id in 0..100_000 {
            history.forget(NetId(id));
        }
        assert!(history.0.is_empty());
    }

    #[test]
    fn each_kind_keeps_its_own_history() {
        let mut history = ReplicaHistory::default();
        history.record(NetId(1), 0, 10, Some([1; 4]));
        history.record(NetId(1), 1, 10, Some([2; 4]));
        history.record(NetId(1), 0, 12, None);
        assert_eq!(history.value_at(NetId(1), 0, 11), Some([1; 4]));
        assert_eq!(history.value_at(NetId(1), 0, 12), None);
        assert_eq!(history.value_at(NetId(1), 1, 12), Some([2; 4]));
        assert_eq!(history.value_at(NetId(2), 0, 12), None);
    }
}
