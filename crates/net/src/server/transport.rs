//! The server's transport: our own [`NetcodeServer`] over a [`GameSocket`] (so the link
//! conditioner and traffic counters sit beneath everything), feeding renet's [`RenetServer`].
//! Replaces `bevy_renet`'s `NetcodeServerPlugin`.
//!
//! Every payload passes its client's `RenetGuard` before renet reads it: a packet renet would
//! trust blindly (a slice index past its count, slice counts that disagree...) is dropped and its
//! sender told why and disconnected.
//!
//! Nothing here logs per datagram: what netcode drops is counted ([`ServerTransport::drops`],
//! exported as metrics) and summed up in at most one log line per [`DROP_SUMMARY_INTERVAL`].

use std::net::SocketAddr;
use std::time::Duration;

use crate::log_limit::LogLimiter;
use crate::netcode::{DropCounters, NetcodeServer, ServerConfig, ServerEvent};
use crate::renet_guard::{RenetGuard, RenetLimits, RenetViolation};
use crate::server::clients::Farewells;
use crate::socket::{GameSocket, TrafficCounters};
use bevy::platform::collections::HashMap;
use bevy::prelude::*;
use bevy_renet::{RenetReceive, RenetSend, RenetServer, RenetServerPlugin};

/// At most one log line about dropped datagrams per this interval.
pub const DROP_SUMMARY_INTERVAL: Duration = crate::log_limit::DEFAULT_INTERVAL;

/// The server's socket and netcode state.
#[derive(Resource)]
pub struct ServerTransport {
    socket: GameSocket,
    netcode: NetcodeServer,
    /// Drops seen at the last frame, and at the last log line.
    counted: DropCounters,
    logged: DropCounters,
    drop_log: LogLimiter,
    /// One renet guard per connected client.
    guards: HashMap<u64, RenetGuard>,
    limits: RenetLimits,
    /// Clients that sent a packet the guard refused, waiting to be sent away.
    violations: Vec<(u64, RenetViolation)>,
    /// Payloads the guard refused.
    refused_payloads: u64,
}

impl ServerTransport {
    /// A transport serving `config` on `socket`.
    pub fn new(config: ServerConfig, socket: GameSocket) -> Self {
        Self {
            socket,
            netcode: NetcodeServer::new(config),
            counted: DropCounters::default(),
            logged: DropCounters::default(),
            drop_log: LogLimiter::new(DROP_SUMMARY_INTERVAL),
            guards: HashMap::default(),
            limits: RenetLimits::server(),
            violations: Vec::new(),
            refused_payloads: 0,
        }
    }

    /// The local address of the socket.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Addresses clients dial (the netcode public addresses).
    pub fn public_addresses(&self) -> Vec<SocketAddr> {
        self.netcode.public_addresses().to_vec()
    }

    /// Traffic through the socket so far.
    pub fn counters(&self) -> TrafficCounters {
        self.socket.counters
    }

    /// Datagrams netcode dropped so far, by why.
    pub fn drops(&self) -> DropCounters {
        self.netcode.drops()
    }

    /// Datagrams dropped so far: undecodable, replayed, from strangers, carrying an invalid
    /// connect token, or holding a renet packet the guard refused.
    pub fn dropped_datagrams(&self) -> u64 {
        self.netcode.drops().total() + self.refused_payloads
    }

    /// Payloads refused by the renet guard so far.
    pub fn refused_payloads(&self) -> u64 {
        self.refused_payloads
    }

    /// The netcode state (for tests and diagnostics).
    pub fn netcode(&self) -> &NetcodeServer {
        &self.netcode
    }

    /// Disconnects every client at once, sending netcode disconnect packets immediately.
    pub fn disconnect_all(&mut self, server: &mut RenetServer) {
        self.netcode.disconnect_all();
        self.apply_events(server);
        self.flush();
    }

    fn flush(&mut self) {
        let socket = &mut self.socket;
        self.netcode
            .send_packets(|addr, bytes| socket.send_to(bytes, addr));
        socket.flush();
    }

    /// One log line when datagrams were dropped, at most once an interval, summing up the drops
    /// since the last line by why.
    fn summarize_drops(&mut self) {
        let drops = self.netcode.drops();
        let new = drops.total() - self.counted.total();
        self.counted = drops;
        if new == 0 || self.drop_log.record_many(new).is_none() {
            return;
        }
        let since = std::mem::replace(&mut self.logged, drops);
        info!(
            "dropped {} datagrams since the last report (malformed {}, unknown sender {}, \
             replayed {}, failed to decrypt {}, token refused {}, request ignored {})",
            drops.total() - since.total(),
            drops.malformed - since.malformed,
            drops.unknown_sender - since.unknown_sender,
            drops.replayed - since.replayed,
            drops.decrypt_failed - since.decrypt_failed,
            drops.token_refused - since.token_refused,
            drops.request_ignored - since.request_ignored,
        );
    }
}

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
    mut farewells: ResMut<Farewells>,
) {
    let transport = &mut *transport;
    transport.netcode.update(time.delta());
    transport.apply_events(&mut server);
    let ServerTransport {
        socket,
        netcode,
        guards,
        limits,
        violations,
        refused_payloads,
        ..
    } = transport;
    let received = socket.receive(|addr, bytes| {
        let payload = netcode.process_packet(addr, bytes);
        // A join must reach renet (and get its guard) before its first payload does.
        while let Some(event) = netcode.take_event() {
            apply_event(event, guards, limits, &mut server);
        }
        let Some((client_id, payload)) = payload else {
            return;
        };
        let Some(guard) = guards.get_mut(&client_id) else {
            return;
        };
        if violations.iter().any(|(id, _)| *id == client_id) {
            // Already being sent away for a bad packet: nothing more of it reaches renet.
            *refused_payloads += 1;
            return;
        }
        match guard.check(payload) {
            Ok(()) => {
                if let Err(err) = server.process_packet_from(payload, client_id) {
                    debug!("payload for unknown client {client_id}: {err}");
                }
            }
            // A slice of a message the guard no longer remembers: dropped, like a lost packet.
            Err(RenetViolation::StaleSlice) => *refused_payloads += 1,
            Err(violation) => {
                *refused_payloads += 1;
                violations.push((client_id, violation));
            }
        }
    });
    if let Err(err) = received {
        error!("server socket error: {err}");
    }
    let now = time.elapsed();
    for (client_id, violation) in &transport.violations {
        if !farewells.contains(*client_id) {
            warn!("disconnecting client {client_id}: invalid renet packet ({violation})");
            metrics::counter!("renet_violations_total").increment(1);
            let reason = format!("protocol violation: invalid packet ({violation})");
            farewells.send(&mut server, *client_id, &reason, now);
        }
    }
    transport
        .violations
        .retain(|(client_id, _)| server.is_connected(*client_id));
    // renet keeps its clients in a randomly seeded map: in id order, a run is the same every time.
    let mut disconnected = server.disconnections_id();
    disconnected.sort_unstable();
    for client_id in disconnected {
        transport.netcode.disconnect(client_id);
    }
    transport.apply_events(&mut server);
    transport.flush();
    transport.summarize_drops();
}

impl ServerTransport {
    /// Tells renet who joined and left.
    fn apply_events(&mut self, server: &mut RenetServer) {
        while let Some(event) = self.netcode.take_event() {
            apply_event(event, &mut self.guards, &self.limits, server);
        }
    }
}

fn apply_event(
    event: ServerEvent,
    guards: &mut HashMap<u64, RenetGuard>,
    limits: &RenetLimits,
    server: &mut RenetServer,
) {
    match event {
        ServerEvent::Connected { client_id, .. } => {
            guards.insert(client_id, RenetGuard::new(limits.clone()));
            server.add_connection(client_id);
        }
        ServerEvent::Disconnected { client_id, .. } => {
            guards.remove(&client_id);
            server.remove_connection(client_id);
        }
    }
}

fn send_packets(mut transport: ResMut<ServerTransport>, mut server: ResMut<RenetServer>) {
    let transport = &mut *transport;
    // In id order (renet's map is randomly seeded), so the socket's conditioner draws the same
    // losses for the same clients in every run of one seed.
    let mut clients = server.clients_id();
    clients.sort_unstable();
    for client_id in clients {
        let Ok(packets) = server.get_packets_to_send(client_id) else {
            continue;
        };
        for packet in packets {
            if let Err(err) = transport.netcode.send_payload(client_id, &packet) {
                warn!("cannot send to client {client_id}: {err}");
                break;
            }
        }
    }
    transport.flush();
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
