//! Hostile peers against a real server app (and a real client): each test sends what an attacker
//! found to stop or degrade a server running renetcode, and checks that ours drops it, counts it
//! and keeps everyone else playing. Raw attackers on the in-memory wire; what needs a relay in
//! front of the server (to speak from the server's or a client's address) on loopback UDP.

use std::net::SocketAddr;
use std::time::Duration;

use bevy_renet::RenetServer;
use skirmish_net::netcode::{
    ClientAuthentication, GLOBAL_SEQUENCE_START, NetcodeClient, PacketType, peek_sequence,
};
use skirmish_net::server::{ConnectedClients, ServerTransport};
use skirmish_net::socket::LinkConditioner;
use skirmish_net::testing::{RawPeer, TestNet, Wire};

use crate::protocol::*;

/// Token timeout of the players and attackers here.
const TIMEOUT: Duration = Duration::from_secs(5);

fn now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
}

/// The datagram that stopped renetcode: prefix 0x95 claims a 9-byte sequence.
fn prefix_0x95() -> [u8; 18] {
    let mut datagram = [0x5Au8; 18];
    datagram[0] = 0x95;
    datagram
}

/// A secure test net on the in-memory wire with one welcomed player (client id 1).
fn secure_net_with_a_player(seed: u64) -> TestNet {
    let mut net =
        TestNet::with_config(Wire::Memory, seed, server_app(|_| {}), &secure(None)).unwrap();
    let token = token(net.server_addr(), 1, TIMEOUT);
    net.add_token_client(
        client_app(|_| {}),
        token,
        "player",
        LinkConditioner::default(),
    )
    .unwrap();
    net.connect_all();
    net
}

fn transport(net: &TestNet) -> &ServerTransport {
    net.server().world().resource::<ServerTransport>()
}

#[test]
fn a_0x95_datagram_from_a_pending_client_does_not_stop_the_server() {
    let mut net = secure_net_with_a_player(1);

    // An attacker with a valid token becomes a pending client, then sends the bad prefix.
    let mut attacker = NetcodeClient::new(
        now(),
        ClientAuthentication::Secure {
            connect_token: token(net.server_addr(), 2, TIMEOUT),
        },
    )
    .unwrap();
    let socket = net.raw_peer().unwrap();
    let (to, request) = attacker.update(Duration::ZERO).unwrap();
    socket.send_to(request, to).unwrap();
    net.run_until("the attacker is pending", 600, |net| {
        transport(net).netcode().pending_clients() == 1
    });
    let dropped = transport(&net).dropped_datagrams();
    for _ in 0..10 {
        socket.send_to(&prefix_0x95(), net.server_addr()).unwrap();
    }
    let before = snapshots(&net, 0);
    net.run_until("the attack is counted", 600, |net| {
        transport(net).dropped_datagrams() >= dropped + 10
    });
    net.run_until("the player keeps playing", 600, |net| {
        snapshots(net, 0) > before + 30
    });
    assert!(net.is_welcomed(0));
}

#[test]
fn a_0x95_datagram_from_the_servers_address_does_not_stop_a_client() {
    let (mut net, mut relay) = relayed_client(2);
    // The relay's address is the server's, as the client sees it.
    let client_addr = relay.client.unwrap();
    for _ in 0..10 {
        relay.socket.send_to(&prefix_0x95(), client_addr).unwrap();
    }
    let before = snapshots(&net, 0);
    relay.run_until(&mut net, "the client keeps playing", 600, |net| {
        snapshots(net, 0) >= before + 30
    });
    assert!(net.is_welcomed(0));
}

#[test]
fn one_connection_never_repeats_a_sequence_number() {
    let (mut net, mut relay) = relayed(3, true);
    let token = token(relay.addr, 9, TIMEOUT);
    net.add_token_client(
        client_app(|_| {}),
        token,
        "relayed",
        LinkConditioner::default(),
    )
    .unwrap();
    // At least two seconds, and until the client is welcomed.
    let two_seconds = net.steps_in(Duration::from_secs(2));
    let mut steps = 0;
    while steps < two_seconds || !net.is_welcomed(0) {
        relay.step(&mut net);
        steps += 1;
        assert!(steps < 600, "the relayed client connects");
    }
    // Everything the server sent this client is encrypted with one key: its nonces, the
    // plaintext sequence numbers, must never repeat.
    let sequences: Vec<(PacketType, u64)> = relay
        .from_server
        .iter()
        .filter_map(|datagram| peek_sequence(datagram))
        .collect();
    assert!(
        sequences.len() > 60,
        "a second of traffic: {}",
        sequences.len()
    );
    let mut seen = std::collections::HashSet::new();
    for (packet_type, sequence) in &sequences {
        assert!(
            seen.insert(*sequence),
            "{packet_type:?} reused sequence {sequence}"
        );
    }
    let challenge = sequences
        .iter()
        .find(|(packet_type, _)| *packet_type == PacketType::Challenge)
        .expect("a challenge was sent");
    assert!(
        challenge.1 >= GLOBAL_SEQUENCE_START,
        "challenges use the top half: {}",
        challenge.1
    );
}

#[test]
fn a_spoofed_connection_request_does_not_keep_a_vanished_clients_slot() {
    let (mut net, mut relay) = relayed(4, true);
    let token = token(relay.addr, 3, Duration::from_secs(2));
    net.add_token_client(
        client_app(|_| {}),
        token,
        "relayed",
        LinkConditioner::default(),
    )
    .unwrap();
    relay.run_until(&mut net, "the relayed client connects", 600, |net| {
        net.is_welcomed(0)
    });
    let request = relay
        .recorded
        .iter()
        .find(|datagram| datagram[0] == 0)
        .expect("the connection request was recorded")
        .clone();

    // The client vanishes; its recorded request keeps coming from its address (the relay).
    drop(net.remove_client(0));
    let connected = |net: &TestNet| {
        net.server()
            .world()
            .resource::<ConnectedClients>()
            .contains_key(&3)
    };
    let mut steps = 0;
    while connected(&net) {
        relay.socket.send_to(&request, net.server_addr()).unwrap();
        net.run(10);
        steps += 10;
        assert!(
            steps <= net.steps_in(Duration::from_millis(2500)),
            "a vanished client with a 2 s timeout still holds its slot after {steps} steps"
        );
    }
    // The replayed requests did not refresh it: it left at its own timeout.
    assert!(
        steps >= net.steps_in(Duration::from_millis(1750)),
        "freed after {steps} steps, before its 2 s timeout"
    );
    assert!(transport(&net).drops().request_ignored > 0);
}

/// A netcode client driven by hand over a raw socket: it completes the handshake like any
/// client, then sends whatever renet bytes the test gives it, as an attacker's own client would.
struct RawClient {
    netcode: NetcodeClient,
    socket: RawPeer,
    step: Duration,
}

impl RawClient {
    fn new(net: &TestNet, client_id: u64) -> Self {
        Self {
            netcode: NetcodeClient::new(
                now(),
                ClientAuthentication::Secure {
                    connect_token: token(net.server_addr(), client_id, TIMEOUT),
                },
            )
            .unwrap(),
            socket: net.raw_peer().unwrap(),
            step: net.step_duration(),
        }
    }

    fn pump(&mut self) {
        let mut buffer = [0u8; 1500];
        while let Ok((len, _)) = self.socket.recv_from(&mut buffer) {
            self.netcode.process_packet(&mut buffer[..len]);
        }
        if let Some((to, packet)) = self.netcode.update(self.step) {
            self.socket.send_to(packet, to).unwrap();
        }
    }

    fn send_renet(&mut self, packet: &[u8]) {
        let (to, datagram): (SocketAddr, _) =
            self.netcode.payload_packet(packet).expect("connected");
        self.socket.send_to(datagram, to).unwrap();
    }
}

/// A renet unreliable-slice packet on the client's input channel (0) with the given slice index
/// and count, carrying `len` bytes. Fields as renet 2 writes them: QUIC varints.
fn unreliable_slice(message_id: u8, index: u8, count: u32, len: u16) -> Vec<u8> {
    let mut packet = vec![3, 0, 0, message_id, index];
    if count < 64 {
        packet.push(count as u8);
    } else {
        packet.extend((0x8000_0000u32 | count).to_be_bytes());
    }
    packet.extend((0x4000u16 | len).to_be_bytes());
    packet.extend(std::iter::repeat_n(0xAB, usize::from(len)));
    packet
}

#[test]
fn bad_renet_slices_from_a_connected_client_are_refused_and_it_is_sent_away() {
    let attacks: [(&str, Vec<Vec<u8>>); 3] = [
        // renet indexes slice 1 of a 1-slice message: a panic.
        (
            "slice index past the count",
            vec![unreliable_slice(0, 1, 1, 1200)],
        ),
        // A million slices: renet would reserve a whole channel budget for one tiny packet.
        (
            "a million slices",
            vec![unreliable_slice(0, 0, 1_000_000, 1200)],
        ),
        // Slice 0 of 2, then slice 2 of 4 of the same message: a panic.
        (
            "slices that disagree",
            vec![
                unreliable_slice(0, 0, 2, 1200),
                unreliable_slice(0, 2, 4, 1200),
            ],
        ),
    ];
    for (seed, (attack, packets)) in (5..).zip(attacks) {
        let mut net = secure_net_with_a_player(seed);
        let mut attacker = RawClient::new(&net, 66);
        let mut steps = 0;
        while !attacker.netcode.is_connected() {
            attacker.pump();
            net.step();
            steps += 1;
            assert!(steps < 600, "{attack}: the attacker connects");
        }
        let attacker_connected = |net: &TestNet| {
            net.server()
                .world()
                .resource::<RenetServer>()
                .is_connected(66)
        };
        net.run_until("renet admits the attacker", 600, |net| {
            attacker_connected(net)
        });
        for packet in &packets {
            attacker.send_renet(packet);
        }
        let before = snapshots(&net, 0);
        let mut steps = 0;
        while attacker_connected(&net) {
            attacker.pump();
            net.step();
            steps += 1;
            assert!(steps < 600, "{attack}: the attacker is sent away");
        }
        assert!(
            transport(&net).refused_payloads() >= 1,
            "{attack}: the packet is counted"
        );
        net.run_until("the player keeps playing", 600, |net| {
            snapshots(net, 0) > before + 30
        });
        assert!(net.is_welcomed(0), "{attack}: the honest player stays");
    }
}
