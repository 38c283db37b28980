//! Faults and attacks at the transport: a datagram flood, replayed and truncated packets, a client
//! that vanishes without a word, a server that vanishes and comes back. Real netcode over
//! 127.0.0.1, secure servers with 2-second token timeouts so "within the timeout" is quick.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::common::*;
use bevy::prelude::*;
use skirmish_client::{ClientSession, ConnectionStatus, Predicted, ServerEntityMap};
use skirmish_net::tokens::mint_token;
use skirmish_server::{ConnectedClients, ServerTransport};
use skirmish_shared::prelude::*;

/// A client of a secure test server whose token times out after 2 s without traffic.
fn token_client_of(server: SocketAddr, client_id: u64) -> App {
    let request = token_request(server, client_id, Duration::from_secs(2));
    token_client(mint_token(&TEST_KEY, &request).unwrap(), |_| {})
}

fn snapshots(client: &App) -> u64 {
    client.world().resource::<ClientSession>().snapshots_applied
}

fn server_tick(server: &TestServer) -> u32 {
    server.app.world().resource::<SimulationTick>().0
}

fn dropped(server: &TestServer) -> u64 {
    server
        .app
        .world()
        .resource::<ServerTransport>()
        .dropped_datagrams()
}

#[test]
fn a_flood_of_100k_datagrams_does_not_stop_the_server() {
    let mut server = server();
    let mut a = client(server.addr, "a");
    connect_all(&mut server, &mut [&mut a]);
    let attacker = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    attacker.set_nonblocking(true).unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let junk: Vec<Vec<u8>> = (0..64)
        .map(|i| (0..(i * 20 + 1)).map(|_| rng.u8(..)).collect())
        .collect();

    let (tick_before, snapshots_before) = (server_tick(&server), snapshots(&a));
    let mut sent = 0;
    while sent < 100_000 {
        // Bursts of 5000 between frames: far more than a tick's worth.
        for _ in 0..5000 {
            // A full socket buffer is the kernel dropping the flood: fine.
            let _ = attacker.send_to(&junk[sent % junk.len()], server.addr);
            sent += 1;
        }
        step(&mut server, &mut [&mut a]);
    }
    run_for(&mut server, &mut [&mut a], Duration::from_millis(300));
    assert!(
        server_tick(&server) > tick_before + 5,
        "the server kept ticking"
    );
    assert!(
        snapshots(&a) > snapshots_before + 5,
        "the client kept receiving snapshots"
    );
    assert!(is_connected(&a));
    assert!(
        dropped(&server) > 1000,
        "the drops are counted: {}",
        dropped(&server)
    );
}

#[test]
fn replayed_and_truncated_packets_are_dropped_and_counted() {
    // The server believes clients dial the relay, so the relayed handshake is valid.
    let (mut server, mut relay, relay_addr) = relayed_server(false);
    let mut a = client(relay_addr, "relayed");
    relay.run_until(
        &mut server,
        &mut [&mut a],
        "the relayed client connects",
        |_, c| is_connected(c[0]),
    );
    for _ in 0..60 {
        relay.pump();
        step(&mut server, &mut [&mut a]);
    }

    let before = dropped(&server);
    let recorded = std::mem::take(&mut relay.recorded);
    assert!(recorded.len() > 20);
    // Replays of everything the client sent (from the same address), then truncated headers.
    for packet in &recorded {
        let _ = relay.socket.send_to(packet, server.addr);
    }
    for packet in recorded.iter().take(20) {
        for len in [1, 2, 5, 9] {
            let _ = relay
                .socket
                .send_to(&packet[..len.min(packet.len())], server.addr);
        }
    }
    let snapshots_before = snapshots(&a);
    let start = TestInstant::now();
    while start.elapsed() < Duration::from_millis(500) {
        relay.pump();
        step(&mut server, &mut [&mut a]);
    }
    assert!(is_connected(&a), "replays do not disturb the real client");
    assert!(snapshots(&a) > snapshots_before + 10);
    assert!(
        dropped(&server) >= before + recorded.len() as u64,
        "replays and truncated packets are counted as drops: {} -> {}",
        before,
        dropped(&server)
    );
}

#[test]
fn a_vanished_client_is_freed_within_the_timeout() {
    let mut server = secure_server_at(loopback_any(), None);
    let mut stays = token_client_of(server.addr, 1);
    let mut vanishes = token_client_of(server.addr, 2);
    connect_all(&mut server, &mut [&mut stays, &mut vanishes]);
    run_until(
        &mut server,
        &mut [&mut stays],
        "both players seen",
        |_, c| players_seen(c[0]).len() == 2,
    );

    // Gone without a disconnect packet, as if the process was killed.
    drop(vanishes);
    let gone = TestInstant::now();
    run_until(
        &mut server,
        &mut [&mut stays],
        "the vanished player leaves",
        |server, c| {
            server.app.world().resource::<ConnectedClients>().len() == 1
                && players_seen(c[0]).len() == 1
        },
    );
    let took = gone.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "freed within the 2 s timeout (took {took:?})"
    );
    assert!(is_connected(&stays));
}

#[test]
fn a_vanished_server_is_noticed_and_clients_can_join_again() {
    let server = secure_server_at(loopback_any(), None);
    let addr = server.addr;
    let mut server = server;
    let mut a = token_client_of(addr, 1);
    connect_all(&mut server, &mut [&mut a]);
    run_until(
        &mut server,
        &mut [&mut a],
        "the player is predicted",
        |_, c| {
            let mut predicted = c[0].world_mut().query::<&Predicted<Position>>();
            predicted.iter(c[0].world()).count() == 1
        },
    );

    // The server process dies: no disconnect packet.
    drop(server);
    let start = TestInstant::now();
    loop {
        clock().advance(tick());
        a.update();
        if let ConnectionStatus::Disconnected { reason } = a.world().resource::<ConnectionStatus>()
        {
            assert!(reason.contains("connection lost"), "{reason}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the client notices within the 2 s timeout"
        );
    }
    assert!(
        a.world().resource::<ServerEntityMap>().is_empty(),
        "the replicated world is gone"
    );
    let mut predicted = a.world_mut().query::<&Predicted<Position>>();
    assert_eq!(
        predicted.iter(a.world()).count(),
        0,
        "no prediction into the void"
    );

    // The server comes back on the same address; the client joins again with a new token.
    let mut server = secure_server_at(addr, None);
    let mut again = token_client_of(addr, 1);
    connect_all(&mut server, &mut [&mut again]);
    assert_eq!(server.app.world().resource::<ConnectedClients>().len(), 1);
}
