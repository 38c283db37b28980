//! Who controls what, told to the controllers: when a replicated entity gets a
//! [`ControlledBy`], its client hears (reliably) that the entity is its own, and hears again when
//! it no longer is. The client marks it [`Controlled`](crate::client::Controlled) itself, so a
//! game never writes "which entity is mine". Only the controller hears: nothing of it is in any
//! snapshot.

use bevy::platform::collections::{HashMap, HashSet};
use bevy::prelude::*;
use bevy_renet::RenetServer;
use bevy_renet::renet::ClientId;

use super::ServerSystems;
use super::clients::{ConnectedClient, ControlledBy};
use super::replication::ReplicationState;
use crate::channels::ServerChannel;
use crate::codec::encode;
use crate::protocol::ServerMessage;
use crate::registry::{NetId, Replicated};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Controllers>().add_systems(
        PostUpdate,
        tell_controllers
            .after(super::replication::collect_changes)
            .run_if(resource_exists::<RenetServer>)
            .in_set(ServerSystems::Send),
    );
}

/// What each controller was told, and the entities still waiting for their net id.
#[derive(Resource, Debug, Default)]
struct Controllers {
    /// Controlled entity: the client told, and the entity's net id.
    told: HashMap<Entity, (ClientId, NetId)>,
    /// Entities whose controller changed, not yet collected by replication (no net id yet).
    waiting: HashSet<Entity>,
}

fn tell_controllers(
    changed: Query<Entity, (Changed<ControlledBy>, With<Replicated>)>,
    controlled: Query<&ControlledBy, With<Replicated>>,
    mut removed: RemovedComponents<ControlledBy>,
    clients: Query<&ConnectedClient>,
    replication: Res<ReplicationState>,
    mut controllers: ResMut<Controllers>,
    mut server: ResMut<RenetServer>,
) {
    let Controllers { told, waiting } = &mut *controllers;
    let tell = |server: &mut RenetServer, client_id: ClientId, entity: NetId, yours: bool| {
        let message = encode(&ServerMessage::Control { entity, yours });
        server.send_message(client_id, ServerChannel::Reliable, message);
    };
    for entity in removed.read() {
        if controlled.contains(entity) {
            continue; // Replaced by another `ControlledBy`: handled below.
        }
        waiting.remove(&entity);
        if let Some((client_id, net_id)) = told.remove(&entity)
            && server.is_connected(client_id)
        {
            tell(&mut server, client_id, net_id, false);
        }
    }
    waiting.extend(changed.iter());
    waiting.retain(|&entity| {
        let Ok(controlled_by) = controlled.get(entity) else {
            return false; // Gone, or no longer controlled.
        };
        let Some(net_id) = replication.net_id(entity) else {
            return true; // Not collected yet: next frame.
        };
        let client_id = clients
            .get(controlled_by.0)
            .ok()
            .map(|client| client.client_id);
        let before = told.get(&entity).copied();
        if before.map(|(id, _)| id) == client_id {
            return false;
        }
        if let Some((old, old_net_id)) = before
            && server.is_connected(old)
        {
            tell(&mut server, old, old_net_id, false);
        }
        match client_id {
            Some(client_id) => {
                tell(&mut server, client_id, net_id, true);
                told.insert(entity, (client_id, net_id));
            }
            None => {
                told.remove(&entity);
            }
        }
        false
    });
}
