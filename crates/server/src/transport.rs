//! The server's netcode transport: renetcode's [`NetcodeServer`] over a [`GameSocket`] (so the
//! link conditioner and traffic counters sit beneath everything), feeding renet's
//! [`RenetServer`]. Replaces `bevy_renet`'s `NetcodeServerPlugin`.

use std::net::SocketAddr;

use bevy::platform::collections::HashSet;
use bevy::prelude::*;
use bevy_renet::{RenetReceive, RenetSend, RenetServer, RenetServerPlugin};
use renetcode::{NetcodeServer, ServerConfig, ServerResult};
use skirmish_shared::transport::{GameSocket, TrafficCounters};

/// The server's socket and netcode state.
#[derive(Resource)]
pub struct ServerTransport {
    socket: GameSocket,
    netcode: NetcodeServer,
    /// Packets netcode asked us to send while processing input (handshakes, disconnects).
    replies: Vec<(SocketAddr, Vec<u8>)>,
    /// Clients we have received a payload from. Until then a client may not know it is
    /// connected (the keep-alive that tells it can be lost), and renetcode sends keep-alives only
    /// while no payload flows, so payloads are held back from unconfirmed clients.
    confirmed: HashSet<u64>,
    /// Datagrams netcode threw away: garbage, replays, strangers, invalid tokens.
    dropped: u64,
}

impl ServerTransport {
    /// A transport serving `config` on `socket`.
    pub fn new(config: ServerConfig, socket: GameSocket) -> Self {
        Self {
            socket,
            netcode: NetcodeServer::new(config),
            replies: Vec::new(),
            confirmed: HashSet::new(),
            dropped: 0,
        }
    }

    /// The local address of the socket.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Addresses clients dial (the netcode public addresses).
    pub fn public_addresses(&self) -> Vec<SocketAddr> {
        self.netcode.addresses()
    }

    /// Traffic through the socket so far.
    pub fn counters(&self) -> TrafficCounters {
        self.socket.counters
    }

    /// Datagrams dropped so far: undecodable, replayed, from strangers, or carrying an invalid
    /// connect token (everything netcode ignored except keep-alives).
    pub fn dropped_datagrams(&self) -> u64 {
        self.dropped
    }

    /// Disconnects every client at once, sending netcode disconnect packets immediately.
    pub fn disconnect_all(&mut self, server: &mut RenetServer) {
        for client_id in self.netcode.clients_id() {
            let result = self.netcode.disconnect(client_id);
            handle_result(result, &mut self.replies, &mut self.confirmed, server);
        }
        self.send_replies();
        self.socket.flush();
    }

    fn send_replies(&mut self) {
        for (addr, bytes) in self.replies.drain(..) {
            self.socket.send_to(&bytes, addr);
        }
    }
}

/// netcode's packet type of keep-alives (the low 4 bits of a packet's first byte); netcode
/// consumes them without a result.
const KEEP_ALIVE: u8 = 4;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        PreUpdate,
        receive_packets
            .in_set(RenetReceive)
            .run_if(resource_exists::<ServerTransport>)
            .after(RenetServerPlugin::update_system)
            .before(RenetServerPlugin::emit_server_events_system),
    )
    .add_systems(
        PostUpdate,
        send_packets
            .in_set(RenetSend)
            .run_if(resource_exists::<ServerTransport>),
    )
    .add_systems(
        Last,
        disconnect_on_exit.run_if(resource_exists::<ServerTransport>),
    );
}

fn receive_packets(
    mut transport: ResMut<ServerTransport>,
    mut server: ResMut<RenetServer>,
    time: Res<Time<Real>>,
) {
    let transport = &mut *transport;
    transport.netcode.update(time.delta());
    let netcode = &mut transport.netcode;
    let replies = &mut transport.replies;
    let confirmed = &mut transport.confirmed;
    let dropped = &mut transport.dropped;
    let received = transport.socket.receive(|addr, bytes| {
        let is_keep_alive = bytes
            .first()
            .is_some_and(|prefix| prefix & 0x0F == KEEP_ALIVE);
        // Garbage, replays and strangers end here as `ServerResult::None`.
        let result = netcode.process_packet(addr, bytes);
        if matches!(result, ServerResult::None) && !is_keep_alive {
            *dropped += 1;
        }
        handle_result(result, replies, confirmed, &mut server);
    });
    if let Err(err) = received {
        error!("server socket error: {err}");
    }
    for client_id in transport.netcode.clients_id() {
        let result = transport.netcode.update_client(client_id);
        handle_result(
            result,
            &mut transport.replies,
            &mut transport.confirmed,
            &mut server,
        );
    }
    for client_id in server.disconnections_id() {
        let result = transport.netcode.disconnect(client_id);
        handle_result(
            result,
            &mut transport.replies,
            &mut transport.confirmed,
            &mut server,
        );
    }
    transport.send_replies();
    transport.socket.flush();
}

fn send_packets(mut transport: ResMut<ServerTransport>, mut server: ResMut<RenetServer>) {
    let transport = &mut *transport;
    for client_id in server.clients_id() {
        let Ok(packets) = server.get_packets_to_send(client_id) else {
            continue;
        };
        if !transport.confirmed.contains(&client_id) {
            // Dropped like lost packets: renet resends what is reliable.
            continue;
        }
        for packet in packets {
            match transport
                .netcode
                .generate_payload_packet(client_id, &packet)
            {
                Ok((addr, payload)) => transport.socket.send_to(payload, addr),
                Err(err) => {
                    warn!("cannot send to client {client_id}: {err}");
                    break;
                }
            }
        }
    }
    transport.socket.flush();
}

fn disconnect_on_exit(
    exit: MessageReader<AppExit>,
    mut transport: ResMut<ServerTransport>,
    mut server: ResMut<RenetServer>,
) {
    if !exit.is_empty() {
        transport.disconnect_all(&mut server);
    }
}

fn handle_result(
    result: ServerResult,
    replies: &mut Vec<(SocketAddr, Vec<u8>)>,
    confirmed: &mut HashSet<u64>,
    server: &mut RenetServer,
) {
    match result {
        ServerResult::None => {}
        ServerResult::PacketToSend { addr, payload } => replies.push((addr, payload.to_vec())),
        ServerResult::Payload { client_id, payload } => {
            confirmed.insert(client_id);
            if let Err(err) = server.process_packet_from(payload, client_id) {
                debug!("payload for unknown client {client_id}: {err}");
            }
        }
        ServerResult::ClientConnected {
            client_id,
            addr,
            payload,
            ..
        } => {
            server.add_connection(client_id);
            replies.push((addr, payload.to_vec()));
        }
        ServerResult::ClientDisconnected {
            client_id,
            addr,
            payload,
        } => {
            server.remove_connection(client_id);
            confirmed.remove(&client_id);
            if let Some(payload) = payload {
                replies.push((addr, payload.to_vec()));
            }
        }
    }
}
