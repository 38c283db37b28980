//! Client connections: a player entity per connected client, removed when the client leaves.

use bevy::platform::collections::HashMap;
use bevy::prelude::*;
use bevy_renet::renet::{ClientId, ServerEvent};
use bevy_renet::{RenetServer, RenetServerEvent};
use skirmish_shared::game::Killed;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::encode;

use crate::TickRate;
use crate::game::{SlotCounter, Weapon, spawn_point};
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
        .add_observer(handle_server_events)
        .add_systems(
            PostUpdate,
            (broadcast_kills, update_pings).in_set(crate::ServerSystems::Send),
        );
}

/// Tells every client about each kill (for the kill feed), reliably.
fn broadcast_kills(mut killed: MessageReader<Killed>, mut server: ResMut<RenetServer>) {
    for kill in killed.read() {
        let message = ServerMessage::Kill {
            killer: kill.killer,
            victim: kill.victim,
        };
        server.broadcast_message(ServerChannel::Reliable, encode(&message));
    }
}

/// Once a second, publishes each client's round-trip time on its player for the scoreboard.
fn update_pings(
    time: Res<Time<Real>>,
    mut since: Local<f32>,
    server: Res<RenetServer>,
    clients: Res<ConnectedClients>,
    mut pings: Query<&mut Ping>,
) {
    *since += time.delta_secs();
    if *since < 1.0 {
        return;
    }
    *since = 0.0;
    for (client_id, info) in clients.iter() {
        if let Ok(mut ping) = pings.get_mut(info.player) {
            let rtt = (server.rtt(*client_id) * 1000.0).round().clamp(0.0, 9999.0) as u16;
            // Small wobbles are not worth replicating to everyone.
            if rtt.abs_diff(ping.0) >= 5 {
                ping.0 = rtt;
            }
        }
    }
}

fn handle_server_events(
    event: On<RenetServerEvent>,
    mut commands: Commands,
    mut server: ResMut<RenetServer>,
    mut clients: ResMut<ConnectedClients>,
    registry: Res<ReplicationRegistry>,
    tick_rate: Res<TickRate>,
    mut slots: ResMut<SlotCounter>,
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
                    Rotation::default(),
                    Score::default(),
                    Ping::default(),
                    slots.take(),
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
