//! Hostile peers against a real server App (and a real client) over UDP on 127.0.0.1: each test
//! sends what an attacker found to stop or degrade a server running renetcode, and checks that
//! ours drops it, counts it and keeps everyone else playing.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use bevy::prelude::*;
use skirmish_client::ClientSession;
use skirmish_net::netcode::{
    ClientAuthentication, ConnectToken, GLOBAL_SEQUENCE_START, NetcodeClient, PacketType,
    peek_sequence,
};
use skirmish_net::tokens::mint_token;
use skirmish_server::{ConnectedClients, ServerTransport};

fn snapshots(client: &App) -> u64 {
    client.world().resource::<ClientSession>().snapshots_applied
}

fn now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
}

/// A connect token of the test key for `client_id` at `server`, timing out after `timeout` s.
fn token_for(server: SocketAddr, client_id: u64, timeout: u64) -> ConnectToken {
    mint_token(
        &TEST_KEY,
        &token_request(server, client_id, Duration::from_secs(timeout)),
    )
    .unwrap()
}

/// The datagram that stopped renetcode: prefix 0x95 claims a 9-byte sequence.
fn prefix_0x95() -> [u8; 18] {
    let mut datagram = [0x5Au8; 18];
    datagram[0] = 0x95;
    datagram
}

#[test]
fn a_0x95_datagram_from_a_pending_client_does_not_stop_the_server() {
    let mut server = secure_server_at(loopback_any(), None);
    let mut player = token_client(token_for(server.addr, 1, 5), |_| {});
    connect_all(&mut server, &mut [&mut player]);

    // An attacker with a valid token becomes a pending client, then sends the bad prefix.
    let token = token_for(server.addr, 2, 5);
    let mut attacker = NetcodeClient::new(
        now(),
        ClientAuthentication::Secure {
            connect_token: token,
        },
    )
    .unwrap();
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let (to, request) = attacker.update(Duration::ZERO).unwrap();
    socket.send_to(request, to).unwrap();
    run_until(
        &mut server,
        &mut [&mut player],
        "the attacker is pending",
        |server, _| {
            server
                .app
                .world()
                .resource::<ServerTransport>()
                .netcode()
                .pending_clients()
                == 1
        },
    );
    let dropped = server
        .app
        .world()
        .resource::<ServerTransport>()
        .dropped_datagrams();
    for _ in 0..10 {
        socket.send_to(&prefix_0x95(), server.addr).unwrap();
    }
    let before = snapshots(&player);
    run_until(
        &mut server,
        &mut [&mut player],
        "the attack is counted",
        |server, _| {
            server
                .app
                .world()
                .resource::<ServerTransport>()
                .dropped_datagrams()
                >= dropped + 10
        },
    );
    run_until(
        &mut server,
        &mut [&mut player],
        "the player keeps playing",
        |_, clients| snapshots(clients[0]) > before + 30,
    );
    assert!(is_connected(&player));
}

#[test]
fn a_0x95_datagram_from_the_servers_address_does_not_stop_a_client() {
    let (mut server, mut relay, relay_addr) = relayed_server(false);
    let mut player = client(relay_addr, "relayed");
    relay.run_until(
        &mut server,
        &mut [&mut player],
        "the relayed client connects",
        |_, c| is_connected(c[0]),
    );
    // The relay's address is the server's, as the client sees it.
    let client_addr = relay.client.unwrap();
    for _ in 0..10 {
        relay.socket.send_to(&prefix_0x95(), client_addr).unwrap();
    }
    let before = snapshots(&player);
    let start = TestInstant::now();
    while snapshots(&player) < before + 30 {
        relay.pump();
        step(&mut server, &mut [&mut player]);
        assert!(start.elapsed() < DEADLINE, "the client keeps playing");
    }
    assert!(is_connected(&player));
}

#[test]
fn one_connection_never_repeats_a_sequence_number() {
    let (mut server, mut relay, relay_addr) = relayed_server(true);
    let token = token_for(relay_addr, 9, 5);
    let mut player = token_client(token, |_| {});
    let start = TestInstant::now();
    while start.elapsed() < Duration::from_secs(2) || !is_connected(&player) {
        relay.pump();
        step(&mut server, &mut [&mut player]);
        assert!(start.elapsed() < DEADLINE, "the relayed client connects");
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
    let (mut server, mut relay, relay_addr) = relayed_server(true);
    let token = token_for(relay_addr, 3, 2);
    let mut player = token_client(token, |_| {});
    relay.run_until(
        &mut server,
        &mut [&mut player],
        "the relayed client connects",
        |_, c| is_connected(c[0]),
    );
    let request = relay
        .recorded
        .iter()
        .find(|datagram| datagram[0] == 0)
        .expect("the connection request was recorded")
        .clone();

    // The client vanishes; its recorded request keeps coming from its address (the relay).
    drop(player);
    let gone = TestInstant::now();
    let connected = |server: &TestServer| {
        server
            .app
            .world()
            .resource::<ConnectedClients>()
            .contains_key(&3)
    };
    while connected(&server) {
        relay.socket.send_to(&request, server.addr).unwrap();
        for _ in 0..10 {
            step(&mut server, &mut []);
        }
        assert!(
            gone.elapsed() < Duration::from_secs(6),
            "a vanished client with a 2 s timeout still holds its slot after {:?}",
            gone.elapsed()
        );
    }
    assert!(
        server
            .app
            .world()
            .resource::<ServerTransport>()
            .drops()
            .request_ignored
            > 0
    );
}

#[test]
fn ten_thousand_junk_datagrams_log_a_handful_of_lines() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_skirmish"))
        .args([
            "server",
            "--insecure",
            "--bots",
            "0",
            "--bind",
            "127.0.0.1",
            "--port",
        ])
        .arg(port.to_string())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let server_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut log = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while !log
        .iter()
        .any(|line: &String| line.contains("listening on"))
    {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(50)) {
            log.push(line);
        }
        assert!(Instant::now() < deadline, "the server starts: {log:?}");
    }

    let attacker = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut rng = fastrand::Rng::with_seed(10);
    for i in 0..10_000u32 {
        let len = 18 + (i as usize % 60);
        let mut junk: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        junk[0] = [0x95, 0x14, 0x15, 0x16, 0x00, 0x33][i as usize % 6];
        let _ = attacker.send_to(&junk, server_addr);
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // A real client joining afterwards proves the server has read past the junk.
    let mut player = App::new();
    player.add_plugins((MinimalPlugins, skirmish_client::ClientPlugin));
    skirmish_client::connect_with(player.world_mut(), server_addr, "P", default()).unwrap();
    let deadline = Instant::now() + DEADLINE;
    while !is_connected(&player) {
        player.update();
        std::thread::sleep(Duration::from_millis(1));
        assert!(Instant::now() < deadline, "a client joins after the junk");
    }
    let _ = child.kill();
    let _ = child.wait();
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
        log.push(line);
    }
    assert!(
        log.len() <= 12,
        "{} log lines for 10,000 junk datagrams:\n{}",
        log.len(),
        log.join("\n")
    );
}

/// A netcode client driven by hand over its own socket: it completes the handshake like any
/// client, then sends whatever renet bytes the test gives it, as an attacker's own client would.
struct RawClient {
    netcode: NetcodeClient,
    socket: UdpSocket,
}

impl RawClient {
    fn new(server: SocketAddr, client_id: u64) -> Self {
        let token = token_for(server, client_id, 5);
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        socket.set_nonblocking(true).unwrap();
        Self {
            netcode: NetcodeClient::new(
                now(),
                ClientAuthentication::Secure {
                    connect_token: token,
                },
            )
            .unwrap(),
            socket,
        }
    }

    fn pump(&mut self) {
        let mut buffer = [0u8; 1500];
        while let Ok((len, _)) = self.socket.recv_from(&mut buffer) {
            self.netcode.process_packet(&mut buffer[..len]);
        }
        if let Some((to, packet)) = self.netcode.update(tick()) {
            self.socket.send_to(packet, to).unwrap();
        }
    }

    fn send_renet(&mut self, packet: &[u8]) {
        let (to, datagram) = self.netcode.payload_packet(packet).expect("connected");
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
    for (attack, packets) in attacks {
        let mut server = secure_server_at(loopback_any(), None);
        let mut player = token_client(token_for(server.addr, 1, 5), |_| {});
        connect_all(&mut server, &mut [&mut player]);
        let mut attacker = RawClient::new(server.addr, 66);
        let start = TestInstant::now();
        while !attacker.netcode.is_connected() {
            attacker.pump();
            step(&mut server, &mut [&mut player]);
            assert!(
                start.elapsed() < DEADLINE,
                "{attack}: the attacker connects"
            );
        }
        let attacker_connected = |server: &TestServer| {
            server
                .app
                .world()
                .resource::<bevy_renet::RenetServer>()
                .is_connected(66)
        };
        run_until(
            &mut server,
            &mut [&mut player],
            "renet admits the attacker",
            |server, _| attacker_connected(server),
        );
        for packet in &packets {
            attacker.send_renet(packet);
        }
        let before = snapshots(&player);
        let start = TestInstant::now();
        while attacker_connected(&server) {
            attacker.pump();
            step(&mut server, &mut [&mut player]);
            assert!(
                start.elapsed() < DEADLINE,
                "{attack}: the attacker is sent away"
            );
        }
        let transport = server.app.world().resource::<ServerTransport>();
        assert!(
            transport.refused_payloads() >= 1,
            "{attack}: the packet is counted"
        );
        run_until(
            &mut server,
            &mut [&mut player],
            "the player keeps playing",
            |_, clients| snapshots(clients[0]) > before + 30,
        );
        assert!(is_connected(&player), "{attack}: the honest player stays");
    }
}
