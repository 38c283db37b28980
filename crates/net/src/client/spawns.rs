//! Predicted spawns: an entity a client creates at once (its own projectile, in the frame of the
//! click) and the server creates a round trip later is matched to the server's entity instead of
//! appearing twice.
//!
//! The key is the client tick of the input that caused the spawn: the client puts
//! [`PredictedSpawn`] with that tick on its local entity; the server, simulating that input,
//! puts [`SpawnKey::for_input`] on its entity (so the key is checked: a client cannot name
//! another input or another client's entity). When the server's entity arrives,
//! [`SpawnMatched`] is triggered (the game moves what it wants from the local entity to the
//! server's) and the local entity is despawned. If the server's snapshots show it simulated the
//! input without spawning (a refused shot), [`SpawnRefused`] is triggered and the local entity
//! despawned.

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

use crate::client::{ClientSession, ClientSystems};
use crate::server::ConnectedClient;

/// Ticks after its input's simulation a predicted spawn waits for the server's entity before it
/// counts as refused (the entity may come a few snapshots later when the snapshot budget is
/// tight).
pub const REFUSAL_GRACE_TICKS: u32 = 20;

/// On a server entity: the client and the input tick that caused it. Replicated (a game that
/// predicts spawns registers it: `app.replicate::<SpawnKey>()`, before the components whose
/// arrival should see it).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpawnKey {
    /// The client whose input spawned it.
    pub owner: u64,
    /// The client tick of that input.
    pub key: u32,
}

impl SpawnKey {
    /// The key of what `client`'s input of this tick spawns, if it has sent one.
    pub fn for_input(client: &ConnectedClient) -> Option<Self> {
        Some(Self {
            owner: client.client_id,
            key: client.last_input?,
        })
    }
}

/// On a client's local entity: spawned by its input of client tick `key`, waiting for the
/// server's.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PredictedSpawn {
    /// The client tick of the input.
    pub key: u32,
}

/// The server's entity for a predicted spawn arrived: `local` is despawned right after.
#[derive(Event, Debug, Clone, Copy)]
pub struct SpawnMatched {
    /// The replicated entity.
    pub server: Entity,
    /// The local entity, still there during the trigger.
    pub local: Entity,
}

/// The server simulated the input without spawning: `local` is despawned right after.
#[derive(Event, Debug, Clone, Copy)]
pub struct SpawnRefused {
    /// The local entity, still there during the trigger.
    pub local: Entity,
    /// The client tick of the input.
    pub key: u32,
}

pub(super) fn plugin(app: &mut App) {
    app.add_observer(match_spawn).add_systems(
        PreUpdate,
        drop_refused_spawns.in_set(ClientSystems::Reconcile),
    );
}

fn match_spawn(
    add: On<Add, SpawnKey>,
    mut commands: Commands,
    session: Res<ClientSession>,
    keys: Query<&SpawnKey>,
    locals: Query<(Entity, &PredictedSpawn)>,
) {
    let Ok(spawn_key) = keys.get(add.entity) else {
        return;
    };
    if spawn_key.owner != session.client_id {
        return;
    }
    if let Some((local, _)) = locals
        .iter()
        .find(|(_, predicted)| predicted.key == spawn_key.key)
    {
        commands.trigger(SpawnMatched {
            server: add.entity,
            local,
        });
        commands.entity(local).try_despawn();
    }
}

fn drop_refused_spawns(
    mut commands: Commands,
    session: Res<ClientSession>,
    locals: Query<(Entity, &PredictedSpawn)>,
) {
    let Some(simulated) = session.last_input_ack else {
        return;
    };
    for (local, predicted) in &locals {
        if predicted.key.saturating_add(REFUSAL_GRACE_TICKS) < simulated {
            commands.trigger(SpawnRefused {
                local,
                key: predicted.key,
            });
            commands.entity(local).try_despawn();
        }
    }
}
