//! The client's transport: our own [`NetcodeClient`] over a [`GameSocket`] (link conditioner
//! and traffic counters beneath everything), feeding renet's [`RenetClient`].
//! Replaces `bevy_renet`'s `NetcodeClientPlugin`.

use std::net::SocketAddr;

use crate::netcode::{DisconnectReason, NetcodeClient};
use crate::renet_guard::{RenetGuard, RenetLimits, RenetViolation};
use crate::socket::{GameSocket, LinkConditioner, TrafficCounters};
use bevy::prelude::*;
use bevy_renet::{RenetClient, RenetClientPlugin, RenetReceive, RenetSend};

/// The client's socket and netcode state.
#[derive(Resource)]
pub struct ClientTransport {
    socket: GameSocket,
    netcode: NetcodeClient,
    /// Checks the server's renet packets before renet reads them.
    guard: RenetGuard,
    /// The first renet packet the guard refused (the connection is then closed).
    violation: Option<RenetViolation>,
}

impl ClientTransport {
    /// A transport for `netcode` on `socket`.
    pub fn new(netcode: NetcodeClient, socket: GameSocket) -> Self {
        Self {
            socket,
            netcode,
            guard: RenetGuard::new(RenetLimits::client()),
            violation: None,
        }
    }

    /// The renet packet from the server that made us close the connection, if one did.
    pub fn violation(&self) -> Option<RenetViolation> {
        self.violation
    }

    /// Why netcode ended the connection, if it did.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        self.netcode.disconnect_reason()
    }

    /// The address this client sends from.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The server this transport talks to.
    pub fn server_addr(&self) -> SocketAddr {
        self.netcode.server_addr()
    }

    /// Changes the simulated network conditions (testing).
    pub fn set_conditioner(&mut self, conditioner: LinkConditioner) {
        self.socket.set_conditioner(conditioner);
    }

    /// Traffic through the socket so far.
    pub fn counters(&self) -> TrafficCounters {
        self.socket.counters
    }

    /// Sends the netcode disconnect packet now (once).
    pub fn disconnect(&mut self) {
        if self.netcode.is_disconnected() {
            return;
        }
        let socket = &mut self.socket;
        self.netcode
            .disconnect(|addr, packet| socket.send_to(packet, addr));
        socket.flush();
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        PreUpdate,
        receive_packets
            .in_set(RenetReceive)
            .run_if(resource_exists::<ClientTransport>)
            .run_if(resource_exists::<RenetClient>)
            .after(RenetClientPlugin::update_system),
    )
    .add_systems(
        PostUpdate,
        send_packets
            .in_set(RenetSend)
            .run_if(resource_exists::<ClientTransport>)
            .run_if(resource_exists::<RenetClient>),
    )
    .add_systems(
        Last,
        disconnect_on_exit.run_if(resource_exists::<ClientTransport>),
    );
}

fn receive_packets(
    mut transport: ResMut<ClientTransport>,
    mut client: ResMut<RenetClient>,
    time: Res<Time<Real>>,
) {
    let transport = &mut *transport;
    if transport.netcode.disconnect_reason().is_some() {
        client.disconnect_due_to_transport();
        return;
    }
    if client.disconnect_reason().is_some() {
        // The game (or renet) ended the connection: tell the server right away.
        transport.disconnect();
        return;
    }
    if transport.netcode.is_connected() {
        client.set_connected();
    } else if transport.netcode.is_connecting() {
        client.set_connecting();
    }
    let ClientTransport {
        socket,
        netcode,
        guard,
        violation,
    } = transport;
    let received = socket.receive(|addr, bytes| {
        if addr != netcode.server_addr() || violation.is_some() {
            return; // Only the server may talk to us.
        }
        if let Some(payload) = netcode.process_packet(bytes) {
            match guard.check(payload) {
                Ok(()) => client.process_packet(payload),
                Err(RenetViolation::StaleSlice) => {}
                Err(refused) => *violation = Some(refused),
            }
        }
    });
    if let Some(violation) = transport.violation {
        warn!("the server sent an invalid packet ({violation}): disconnecting");
        client.disconnect_due_to_transport();
        transport.disconnect();
        return;
    }
    if let Err(err) = received {
        warn!("client socket error: {err}");
    }
    if let Some((addr, packet)) = transport.netcode.update(time.delta()) {
        transport.socket.send_to(packet, addr);
    }
    transport.socket.flush();
}

fn send_packets(mut transport: ResMut<ClientTransport>, mut client: ResMut<RenetClient>) {
    let transport = &mut *transport;
    if transport.netcode.disconnect_reason().is_some() {
        return;
    }
    let packets = client.get_packets_to_send();
    if !transport.netcode.is_connected() {
        // Still handshaking: netcode cannot carry payloads yet; renet resends what matters.
        transport.socket.flush();
        return;
    }
    for packet in packets {
        match transport.netcode.payload_packet(&packet) {
            Some((addr, payload)) => transport.socket.send_to(payload, addr),
            None => {
                warn!(
                    "cannot send a packet of {} bytes to the server",
                    packet.len()
                );
                break;
            }
        }
    }
    transport.socket.flush();
}

fn disconnect_on_exit(exit: MessageReader<AppExit>, mut transport: ResMut<ClientTransport>) {
    if !exit.is_empty() {
        transport.disconnect();
    }
}
