//! Client and server together, in memory: the handshake, and each way a hostile or unlucky
//! network can treat them.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;

const PROTOCOL: u64 = 0xABCD;
const KEY: [u8; 32] = [42; 32];
const NOW: Duration = Duration::from_secs(1_700_000_000);
const STEP: Duration = Duration::from_millis(16);

fn server_addr() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

fn client_addr(n: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50000 + n))
}

fn server(max_clients: usize) -> NetcodeServer {
    NetcodeServer::new(ServerConfig {
        current_time: NOW,
        max_clients,
        protocol_id: PROTOCOL,
        public_addresses: vec![server_addr()],
        authentication: ServerAuthentication::Secure { private_key: KEY },
    })
}

fn token(client_id: u64, timeout_seconds: i32) -> ConnectToken {
    ConnectToken::generate(
        NOW,
        PROTOCOL,
        300,
        client_id,
        timeout_seconds,
        vec![server_addr()],
        None,
        &KEY,
    )
    .unwrap()
}

fn client(client_id: u64) -> NetcodeClient {
    NetcodeClient::new(
        NOW,
        ClientAuthentication::Secure {
            connect_token: token(client_id, 5),
        },
    )
    .unwrap()
}

/// Datagrams in flight, and a filter deciding which are lost.
struct Link {
    to_server: Vec<(SocketAddr, Vec<u8>)>,
    to_client: Vec<Vec<u8>>,
}

/// One step of a client (at `addr`) and the server. `lose` drops server→client datagrams.
fn step(
    server: &mut NetcodeServer,
    client: &mut NetcodeClient,
    addr: SocketAddr,
    lose: &mut impl FnMut(&[u8]) -> bool,
) -> Vec<Vec<u8>> {
    let mut link = Link {
        to_server: Vec::new(),
        to_client: Vec::new(),
    };
    if let Some((_, packet)) = client.update(STEP) {
        link.to_server.push((addr, packet.to_vec()));
    }
    let mut payloads = Vec::new();
    for (from, mut datagram) in link.to_server {
        if let Some((_, payload)) = server.process_packet(from, &mut datagram) {
            payloads.push(payload.to_vec());
        }
    }
    server.update(STEP);
    server.send_packets(|to, bytes| {
        if to == addr && !lose(bytes) {
            link.to_client.push(bytes.to_vec());
        }
    });
    for mut datagram in link.to_client {
        client.process_packet(&mut datagram);
    }
    payloads
}

fn connect(server: &mut NetcodeServer, client: &mut NetcodeClient, addr: SocketAddr) {
    for _ in 0..100 {
        step(server, client, addr, &mut |_| false);
        if client.is_connected() {
            return;
        }
    }
    panic!("client did not connect: {:?}", client.state());
}

#[test]
fn handshake_connects_and_payloads_flow_both_ways() {
    let mut server = server(4);
    let mut client = client(7);
    connect(&mut server, &mut client, client_addr(1));
    assert_eq!(
        server.take_event(),
        Some(ServerEvent::Connected {
            client_id: 7,
            addr: client_addr(1)
        })
    );
    assert!(server.is_client_connected(7));

    let (to, packet) = client.payload_packet(b"hello server").unwrap();
    assert_eq!(to, server_addr());
    let mut packet = packet.to_vec();
    let (client_id, payload) = server.process_packet(client_addr(1), &mut packet).unwrap();
    assert_eq!((client_id, payload), (7, &b"hello server"[..]));

    server.send_payload(7, b"hello client").unwrap();
    let mut received = Vec::new();
    server.send_packets(|_, bytes| received.push(bytes.to_vec()));
    let payloads: Vec<Vec<u8>> = received
        .iter_mut()
        .filter_map(|datagram| client.process_packet(datagram).map(<[u8]>::to_vec))
        .collect();
    assert_eq!(payloads, vec![b"hello client".to_vec()]);
}

#[test]
fn a_lost_first_keep_alive_does_not_stall_the_handshake() {
    // The keep-alive that tells the client it is connected is lost, and from then on the server
    // has a payload every step: renetcode stopped sending keep-alives then and stalled for ever.
    let mut server = server(4);
    let mut client = client(7);
    let addr = client_addr(1);
    let mut lost_keep_alives = 0;
    for _ in 0..100 {
        if server.is_client_connected(7) {
            server.send_payload(7, b"snapshot").unwrap();
        }
        step(&mut server, &mut client, addr, &mut |bytes| {
            let keep_alive = bytes[0] & 0x0F == 4;
            if keep_alive && lost_keep_alives == 0 {
                lost_keep_alives += 1;
                return true;
            }
            false
        });
        if client.is_connected() {
            break;
        }
    }
    assert_eq!(lost_keep_alives, 1, "the first keep-alive was lost");
    assert!(
        client.is_connected(),
        "the client connects although its first keep-alive was lost"
    );
}

#[test]
fn the_global_sequence_starts_in_the_top_half_on_every_start() {
    let mut starts = Vec::new();
    for _ in 0..2 {
        let mut server = server(1);
        let start = server.global_sequence();
        assert!(
            (GLOBAL_SEQUENCE_START..GLOBAL_SEQUENCE_START | 1 << 62).contains(&start),
            "{start:#x} is in the top half, below any wrap"
        );
        starts.push(start);
        let mut client = client(1);
        // The challenge carries the global sequence in its plaintext header.
        let (_, request) = client.update(STEP).unwrap();
        let mut request = request.to_vec();
        server.process_packet(client_addr(1), &mut request);
        let mut sequences = Vec::new();
        server.send_packets(|_, bytes| sequences.push(peek_sequence(bytes).unwrap()));
        assert_eq!(sequences, vec![(PacketType::Challenge, start)]);
    }
    assert_ne!(starts[0], starts[1], "each start picks its own");
}

#[test]
fn one_connection_never_repeats_a_sequence_number() {
    let mut server = server(2);
    let mut client = client(3);
    let addr = client_addr(1);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        server.send_payload(3, b"x").ok();
        step(&mut server, &mut client, addr, &mut |bytes| {
            let (_, sequence) = peek_sequence(bytes).unwrap();
            assert!(
                seen.insert(sequence),
                "sequence {sequence} sent twice under one key"
            );
            false
        });
    }
    assert!(client.is_connected());
    assert!(
        seen.iter().any(|&s| s >= GLOBAL_SEQUENCE_START) && seen.contains(&0),
        "challenge and first keep-alive"
    );
}

#[test]
fn hostile_datagrams_from_a_pending_client_are_dropped() {
    let mut server = server(2);
    let mut client = client(3);
    let (_, request) = client.update(STEP).unwrap();
    let mut request = request.to_vec();
    server.process_packet(client_addr(1), &mut request);
    assert_eq!(server.pending_clients(), 1);
    let mut attack = [0u8; 18];
    attack[0] = 0x95;
    assert_eq!(server.process_packet(client_addr(1), &mut attack), None);
    assert_eq!(server.drops().total(), 1);
    // And from a connected client's address, where the packet is parsed.
    let mut connected = super::tests::client(4);
    connect(&mut server, &mut connected, client_addr(2));
    let mut attack = [0x5Au8; 18];
    attack[0] = 0x95;
    assert_eq!(server.process_packet(client_addr(2), &mut attack), None);
    assert_eq!(server.drops().malformed, 1);
    // The same from the server's address to a client.
    assert_eq!(client.process_packet(&mut [0x95; 18]), None);
}

#[test]
fn a_spoofed_request_never_keeps_a_vanished_client_alive() {
    let mut server = server(2);
    let mut client = client(3);
    let addr = client_addr(1);
    connect(&mut server, &mut client, addr);
    // The client vanishes; someone replays its connection request from its address.
    let mut spoof = client_request(3);
    let mut elapsed = Duration::ZERO;
    while server.is_client_connected(3) && elapsed < Duration::from_secs(10) {
        server.process_packet(addr, &mut spoof.clone());
        server.update(Duration::from_millis(100));
        elapsed += Duration::from_millis(100);
        server.send_packets(|_, _| {});
        spoof = client_request(3);
    }
    assert!(
        !server.is_client_connected(3),
        "timed out despite the spoofed requests"
    );
    assert!(
        elapsed <= Duration::from_secs(6),
        "freed after its 5 s timeout, took {elapsed:?}"
    );
    assert!(server.drops().request_ignored > 0);
}

fn client_request(client_id: u64) -> Vec<u8> {
    let mut client = client(client_id);
    client.update(STEP).unwrap().1.to_vec()
}

#[test]
fn pending_handshakes_end_at_their_timeout() {
    let mut server = server(2);
    let mut request = client_request(9);
    server.process_packet(client_addr(1), &mut request);
    assert_eq!(server.pending_clients(), 1);
    server.update(Duration::from_millis(4_900));
    assert_eq!(server.pending_clients(), 1);
    server.update(Duration::from_millis(200));
    assert_eq!(
        server.pending_clients(),
        0,
        "dropped at the token's 5 s timeout"
    );
}

#[test]
fn pending_handshakes_are_bounded() {
    let mut server = server(1);
    for n in 0..300u16 {
        let mut request = client_request(u64::from(n));
        let addr = SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 6000));
        server.process_packet(addr, &mut request);
    }
    assert_eq!(server.pending_clients(), 256);
    assert_eq!(server.drops().request_ignored, 44);
    assert_eq!(
        server.tracked_hosts(),
        256,
        "a refused request from a fresh address leaves no per-host count behind"
    );
    server.update(Duration::from_secs(6));
    assert_eq!(server.pending_clients(), 0);
    assert_eq!(
        server.tracked_hosts(),
        0,
        "every count goes with its handshakes"
    );
}

#[test]
fn one_host_cannot_fill_the_pending_table() {
    let mut server = server(1);
    for n in 0..40u16 {
        let mut request = client_request(u64::from(n));
        server.process_packet(client_addr(n), &mut request);
    }
    assert_eq!(server.pending_clients(), usize::from(MAX_PENDING_PER_IP));
    // Another host still gets in.
    let mut other = client(99);
    connect(
        &mut server,
        &mut other,
        SocketAddr::from(([10, 9, 9, 9], 7000)),
    );
}

#[test]
fn a_second_token_from_a_pending_address_gets_no_challenge() {
    let mut server = server(2);
    let mut first = client_request(1);
    server.process_packet(client_addr(1), &mut first);
    server.send_packets(|_, _| {});
    let mut second = client_request(2);
    server.process_packet(client_addr(1), &mut second);
    let mut answers = 0;
    server.send_packets(|_, _| answers += 1);
    assert_eq!(answers, 0, "its challenge could never be answered");
    assert_eq!(server.drops().request_ignored, 1);
}

#[test]
fn replayed_handshakes_neither_keep_a_client_alive_nor_bring_it_back() {
    let mut server = server(2);
    let mut client = client(3);
    let addr = client_addr(1);
    // Record everything the client sends while it connects.
    let mut recorded = Vec::new();
    for _ in 0..100 {
        if let Some((_, packet)) = client.update(STEP) {
            recorded.push(packet.to_vec());
            server.process_packet(addr, &mut packet.to_vec());
        }
        server.update(STEP);
        let mut sent = Vec::new();
        server.send_packets(|_, bytes| sent.push(bytes.to_vec()));
        for datagram in &mut sent {
            client.process_packet(datagram);
        }
        if client.is_connected() {
            break;
        }
    }
    assert!(client.is_connected());
    let request = recorded.iter().find(|p| p[0] == 0).unwrap().clone();
    let response = recorded.iter().find(|p| p[0] & 0x0F == 3).unwrap().clone();

    // The client vanishes; its recorded response is replayed from its address.
    let mut elapsed = Duration::ZERO;
    while server.is_client_connected(3) {
        server.process_packet(addr, &mut response.clone());
        server.update(Duration::from_millis(100));
        server.send_packets(|_, _| {});
        elapsed += Duration::from_millis(100);
        assert!(
            elapsed < Duration::from_secs(6),
            "the replayed response kept the slot alive"
        );
    }
    // Then its whole handshake is replayed: a token connects once.
    for _ in 0..20 {
        server.process_packet(addr, &mut request.clone());
        server.process_packet(addr, &mut response.clone());
        server.update(STEP);
        server.send_packets(|_, _| {});
    }
    assert!(
        !server.is_client_connected(3),
        "a departed client is not brought back"
    );
}

#[test]
fn a_token_used_from_a_second_address_is_refused() {
    let mut server = server(2);
    let request = client_request(5);
    server.process_packet(client_addr(1), &mut request.clone());
    server.process_packet(client_addr(2), &mut request.clone());
    assert_eq!(server.pending_clients(), 1);
    assert_eq!(server.drops().token_refused, 1);
}

#[test]
fn bad_tokens_are_refused() {
    let mut server = server(2);
    let other_key = ConnectToken::generate(
        NOW,
        PROTOCOL,
        300,
        1,
        5,
        vec![server_addr()],
        None,
        &[1; 32],
    )
    .unwrap();
    let expired = ConnectToken::generate(
        NOW - Duration::from_secs(400),
        PROTOCOL,
        300,
        1,
        5,
        vec![server_addr()],
        None,
        &KEY,
    )
    .unwrap();
    let elsewhere =
        ConnectToken::generate(NOW, PROTOCOL, 300, 1, 5, vec![client_addr(9)], None, &KEY).unwrap();
    for token in [other_key, expired, elsewhere] {
        let mut client = NetcodeClient::new(
            NOW,
            ClientAuthentication::Secure {
                connect_token: token,
            },
        )
        .unwrap();
        let mut request = client.update(STEP).unwrap().1.to_vec();
        server.process_packet(client_addr(1), &mut request);
    }
    assert_eq!(server.pending_clients(), 0);
    assert_eq!(server.drops().token_refused, 3);
    let mut nothing = Vec::new();
    server.send_packets(|_, bytes| nothing.push(bytes.len()));
    assert!(nothing.is_empty(), "no answer to a bad token");
}

#[test]
fn a_full_server_denies_and_the_client_says_so() {
    let mut server = server(1);
    let mut first = client(1);
    connect(&mut server, &mut first, client_addr(1));
    let mut second = client(2);
    for _ in 0..20 {
        step(&mut server, &mut second, client_addr(2), &mut |_| false);
    }
    assert_eq!(
        second.disconnect_reason(),
        Some(DisconnectReason::ConnectionDenied)
    );
}

#[test]
fn clients_time_out_and_servers_free_silent_slots() {
    let mut server = server(1);
    let mut client = client(1);
    connect(&mut server, &mut client, client_addr(1));
    for _ in 0..(6_000 / 16) {
        client.update(STEP);
        server.update(STEP);
    }
    assert_eq!(
        client.disconnect_reason(),
        Some(DisconnectReason::ConnectionTimedOut)
    );
    assert!(!server.is_client_connected(1));
}

#[test]
fn disconnects_reach_the_other_side() {
    let mut server = server(1);
    let mut client = client(1);
    connect(&mut server, &mut client, client_addr(1));
    server.take_event();
    let mut packets = Vec::new();
    client.disconnect(|_, bytes| packets.push(bytes.to_vec()));
    assert_eq!(packets.len(), DISCONNECT_PACKETS);
    for packet in &mut packets {
        server.process_packet(client_addr(1), packet);
    }
    assert!(matches!(
        server.take_event(),
        Some(ServerEvent::Disconnected { client_id: 1, .. })
    ));

    let mut client = super::NetcodeClient::new(
        NOW,
        ClientAuthentication::Secure {
            connect_token: token(2, 5),
        },
    )
    .unwrap();
    connect(&mut server, &mut client, client_addr(2));
    server.disconnect(2);
    let mut datagrams = Vec::new();
    server.send_packets(|_, bytes| datagrams.push(bytes.to_vec()));
    for datagram in &mut datagrams {
        client.process_packet(datagram);
    }
    assert_eq!(
        client.disconnect_reason(),
        Some(DisconnectReason::DisconnectedByServer)
    );
}

#[test]
fn unsecure_clients_join_unsecure_servers_only() {
    let mut unsecure = NetcodeServer::new(ServerConfig {
        current_time: NOW,
        max_clients: 2,
        protocol_id: PROTOCOL,
        public_addresses: vec![server_addr()],
        authentication: ServerAuthentication::Unsecure,
    });
    let authentication = ClientAuthentication::Unsecure {
        protocol_id: PROTOCOL,
        client_id: 11,
        server_addr: server_addr(),
        user_data: None,
    };
    let mut client = NetcodeClient::new(NOW, authentication.clone()).unwrap();
    connect(&mut unsecure, &mut client, client_addr(1));

    let mut secure = server(2);
    let mut client = NetcodeClient::new(NOW, authentication).unwrap();
    let mut request = client.update(STEP).unwrap().1.to_vec();
    secure.process_packet(client_addr(1), &mut request);
    assert_eq!(secure.drops().token_refused, 1);
}

#[test]
fn keys_stay_out_of_debug_output() {
    let server = server(1);
    let client = client(1);
    let auth = ServerAuthentication::Secure { private_key: KEY };
    for text in [
        format!("{server:?}"),
        format!("{client:?}"),
        format!("{auth:?}"),
    ] {
        assert!(!text.contains("42"), "{text}");
    }
}
