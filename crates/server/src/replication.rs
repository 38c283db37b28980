//! Server-side replication: find what changed in the world this tick, then send each client a
//! snapshot holding everything it has not acknowledged yet.
//!
//! Every change is recorded once (encoded bytes plus the tick it happened on). Per client and per
//! entity, the server remembers the newest acknowledged snapshot that carried the entity (its
//! baseline); a snapshot carries each entity's components changed since that baseline. Entities
//! whose spawn is not acknowledged get all their components, and despawns are repeated until
//! acknowledged. So a lost snapshot is repaired by the next one, an entity at rest costs nothing,
//! and a late joiner starts with the full world.

use std::collections::VecDeque;

use bevy::ecs::change_detection::Tick;
use bevy::ecs::entity::EntityHashMap;
use bevy::ecs::world::EntityRef;
use bevy::platform::collections::HashMap;
use bevy::prelude::*;
use bevy_renet::RenetServer;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::{ComponentDelta, EntityDelta, Snapshot, encode};

use crate::ServerSystems;
use crate::connection::ConnectedClients;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ReplicationState>().add_systems(
        PostUpdate,
        (collect_changes, send_snapshots)
            .chain()
            .in_set(ServerSystems::Send)
            .run_if(resource_changed::<SimulationTick>),
    );
}

/// The replicated world as clients see it: every replicated entity's id and encoded components,
/// with the tick each last changed.
#[derive(Resource, Debug, Default)]
pub struct ReplicationState {
    entities: EntityHashMap<EntityRecord>,
    /// Entities that stopped being replicated during the last collection.
    despawned: Vec<NetId>,
    next_net_id: u32,
    last_run: Option<Tick>,
    generation: u32,
}

impl ReplicationState {
    /// The network id of a replicated entity, once it has been collected.
    pub fn net_id(&self, entity: Entity) -> Option<NetId> {
        self.entities.get(&entity).map(|record| record.net_id)
    }

    /// Number of replicated entities.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether no entity is replicated.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }
}

#[derive(Debug)]
struct EntityRecord {
    net_id: NetId,
    slots: Vec<Slot>,
    generation: u32,
}

#[derive(Debug)]
struct Slot {
    kind: u8,
    changed_at: u32,
    /// Encoded value, or `None` once the component was removed.
    data: Option<Vec<u8>>,
}

/// Most snapshot bytes of entity data sent to one client per tick; entities that do not fit are
/// sent on the next ticks (a rotating cursor keeps any entity from starving).
pub const SNAPSHOT_BUDGET_BYTES: usize = 8 * 1024;

/// Snapshots remembered per client while waiting for their ack (one second at 64 Hz).
const IN_FLIGHT_SNAPSHOTS: usize = 64;

/// What one client has acknowledged, entity by entity.
#[derive(Debug, Default)]
pub(crate) struct ClientReplication {
    /// Entities sent to this client, with the newest acknowledged tick of a snapshot that carried
    /// them (`None` until their spawn is acknowledged).
    baselines: HashMap<NetId, Option<u32>>,
    /// Despawns not acknowledged yet.
    pending_despawns: Vec<NetId>,
    /// Snapshots sent and not yet acknowledged: which entities and despawns each carried.
    in_flight: VecDeque<SentSnapshot>,
    /// Where the next snapshot starts when not everything fits in the budget.
    cursor: usize,
}

#[derive(Debug)]
struct SentSnapshot {
    tick: u32,
    entities: Vec<NetId>,
    despawns: Vec<NetId>,
}

impl ClientReplication {
    /// Records that the client applied the snapshot of `tick`: every entity that snapshot carried
    /// is now up to date on the client as of `tick`.
    pub(crate) fn acknowledge(&mut self, tick: u32) {
        let Some(index) = self.in_flight.iter().position(|sent| sent.tick == tick) else {
            return; // Too old, a duplicate, or never sent: nothing new is known.
        };
        let sent = self.in_flight.remove(index).expect("index is in range");
        for net_id in sent.entities {
            if let Some(baseline) = self.baselines.get_mut(&net_id) {
                *baseline = Some(baseline.map_or(tick, |old| old.max(tick)));
            }
        }
        self.pending_despawns
            .retain(|net_id| !sent.despawns.contains(net_id));
        // Older snapshots can no longer teach us anything the client does not have.
        self.in_flight.retain(|sent| sent.tick > tick);
    }

    /// Builds this client's snapshot of `tick` and remembers what it carries.
    fn build_snapshot(&mut self, state: &ReplicationState, tick: u32) -> Snapshot {
        for net_id in &state.despawned {
            if self.baselines.remove(net_id).is_some() {
                self.pending_despawns.push(*net_id);
            }
        }

        let mut entities = Vec::new();
        let mut budget = SNAPSHOT_BUDGET_BYTES;
        let count = state.entities.len();
        let start = if count == 0 { 0 } else { self.cursor % count };
        let mut visited = 0;
        for record in state.entities.values().cycle().skip(start).take(count) {
            let baseline = *self.baselines.get(&record.net_id).unwrap_or(&None);
            let components: Vec<ComponentDelta> = record
                .slots
                .iter()
                .filter(|slot| baseline.is_none_or(|baseline| slot.changed_at > baseline))
                .map(|slot| ComponentDelta {
                    kind: slot.kind,
                    data: slot.data.clone(),
                })
                .collect();
            if baseline.is_some() && components.is_empty() {
                visited += 1;
                continue;
            }
            let size = 8 + components
                .iter()
                .map(|c| 3 + c.data.as_ref().map_or(0, Vec::len))
                .sum::<usize>();
            if size > budget && !entities.is_empty() {
                break;
            }
            budget = budget.saturating_sub(size);
            visited += 1;
            self.baselines.entry(record.net_id).or_insert(None);
            entities.push(EntityDelta {
                net_id: record.net_id,
                components,
            });
        }
        self.cursor = start + visited;

        if self.in_flight.len() == IN_FLIGHT_SNAPSHOTS {
            self.in_flight.pop_front();
        }
        self.in_flight.push_back(SentSnapshot {
            tick,
            entities: entities.iter().map(|entity| entity.net_id).collect(),
            despawns: self.pending_despawns.clone(),
        });
        Snapshot {
            tick,
            last_input: None,
            entities,
            despawns: self.pending_despawns.clone(),
        }
    }
}

/// Records every replicated component that changed since the last run, and every entity that
/// appeared or disappeared.
fn collect_changes(
    world: &mut World,
    query: &mut QueryState<(Entity, EntityRef), With<Replicated>>,
) {
    let this_run = world.change_tick();
    world.resource_scope(|world, mut state: Mut<ReplicationState>| {
        let registry = world.resource::<ReplicationRegistry>();
        let tick = world.resource::<SimulationTick>().0;
        let last_run = state.last_run;
        state.generation = state.generation.wrapping_add(1);
        let generation = state.generation;
        let state = &mut *state;
        let mut scratch = Vec::new();

        for (entity, entity_ref) in query.iter(world) {
            let record = state.entities.entry(entity).or_insert_with(|| {
                let net_id = NetId(state.next_net_id);
                state.next_net_id = state.next_net_id.wrapping_add(1);
                EntityRecord {
                    net_id,
                    slots: Vec::new(),
                    generation,
                }
            });
            record.generation = generation;
            for (kind, rule) in registry.iter() {
                let slot = record.slots.iter_mut().position(|slot| slot.kind == kind);
                let Some(ticks) = entity_ref.get_change_ticks_by_id(rule.component_id) else {
                    // Absent: record a removal if the client may still have it.
                    if let Some(slot) = slot.map(|index| &mut record.slots[index])
                        && slot.data.is_some()
                    {
                        slot.data = None;
                        slot.changed_at = tick;
                    }
                    continue;
                };
                let maybe_changed = slot.is_none_or(|index| record.slots[index].data.is_none())
                    || last_run.is_none_or(|last_run| ticks.is_changed(last_run, this_run));
                if !maybe_changed {
                    continue;
                }
                scratch.clear();
                if !(rule.serialize)(&entity_ref, &mut scratch) {
                    continue;
                }
                match slot {
                    // Written but equal: nothing for clients.
                    Some(index) if record.slots[index].data.as_deref() == Some(&scratch[..]) => {}
                    Some(index) => {
                        let slot = &mut record.slots[index];
                        slot.data = Some(scratch.clone());
                        slot.changed_at = tick;
                    }
                    None => record.slots.push(Slot {
                        kind,
                        changed_at: tick,
                        data: Some(scratch.clone()),
                    }),
                }
            }
        }

        state.despawned.clear();
        let despawned = &mut state.despawned;
        state.entities.retain(|_, record| {
            let alive = record.generation == generation;
            if !alive {
                despawned.push(record.net_id);
            }
            alive
        });
        state.last_run = Some(this_run);
    });
}

fn send_snapshots(
    mut server: ResMut<RenetServer>,
    mut clients: ResMut<ConnectedClients>,
    state: Res<ReplicationState>,
    tick: Res<SimulationTick>,
) {
    for (&client_id, info) in clients.iter_mut() {
        let mut snapshot = info.replication.build_snapshot(&state, tick.0);
        snapshot.last_input = info.inputs.last_consumed();
        server.send_message(
            client_id,
            ServerChannel::Snapshot,
            encode(&ServerMessage::Snapshot(snapshot)),
        );
    }
}
