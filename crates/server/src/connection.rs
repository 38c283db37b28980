//! Client connections: a player entity per connected client, removed when the client leaves.

use bevy::platform::collections::HashMap;
use bevy::prelude::*;
use bevy_renet::renet::{ClientId, ServerEvent};
use bevy_renet::{RenetServer, RenetServerEvent};
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::encode;

use crate::TickRate;
use crate::game::{Weapon, spawn_point};
use crate::input::InputBuffer;
use crate::replication::ClientReplication;

/// Server-side state of one connected client.
#[derive(Debug)]
pub struct ClientInfo {
    /// The player entity this client controls.
    pub player: Entity,
    /// Inputs received and not yet simulated.
    pub inputs: InputBuffer,
    /// What this client has acknowledged and still needs.
    pub(crate) replication: ClientReplication,
}

/// Every connected client, by netcode client id.
#[derive(Resource, Debug, Default, Deref, DerefMut)]
pub struct ConnectedClients(pub HashMap<ClientId, ClientInfo>);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ConnectedClients>()
        .add_observer(handle_server_events);
}

fn handle_server_events(
    event: On<RenetServerEvent>,
    mut commands: Commands,
    mut server: ResMut<RenetServer>,
    mut clients: ResMut<ConnectedClients>,
    registry: Res<ReplicationRegistry>,
    tick_rate: Res<TickRate>,
) {
    match &**event {
        ServerEvent::ClientConnected { client_id } => {
            let player = commands
                .spawn((
                    Name::new(format!("Player {client_id}")),
                    Replicated,
                    Player {
                        client_id: *client_id,
                    },
                    Position(spawn_point(*client_id, 0)),
                    Health::default(),
                    Score::default(),
                    Weapon::default(),
                ))
                .id();
            clients.insert(
                *client_id,
                ClientInfo {
                    player,
                    inputs: InputBuffer::default(),
                    replication: ClientReplication::default(),
                },
            );
            let welcome = ServerMessage::Welcome {
                client_id: *client_id,
                tick_rate: tick_rate.0,
                registry_fingerprint: registry.fingerprint(),
            };
            server.send_message(*client_id, ServerChannel::Reliable, encode(&welcome));
            info!("client {client_id} connected ({} online)", clients.len());
        }
        ServerEvent::ClientDisconnected { client_id, reason } => {
            if let Some(info) = clients.remove(client_id) {
                commands.entity(info.player).try_despawn();
            }
            info!(
                "client {client_id} left: {reason} ({} online)",
                clients.len()
            );
        }
    }
}
