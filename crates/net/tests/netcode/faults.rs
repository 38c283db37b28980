//! Faults and attacks at the transport: a datagram flood, replayed and truncated packets, a client
//! that vanishes without a word, a server that vanishes and comes back. Secure servers with
//! 2-second token timeouts, so "within the timeout" is quick.

use std::time::Duration;

use bevy::prelude::*;
use skirmish_net::client::{Predicted, ServerEntityMap};
use skirmish_net::server::ConnectedClients;
use skirmish_net::socket::LinkConditioner;
use skirmish_net::testing::{TestNet, Wire};

use crate::protocol::*;

/// How long a token of these tests lets either side go without hearing the other.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(2);

/// A secure test net (no clients yet).
fn secure_net(seed: u64) -> TestNet {
    TestNet::with_config(Wire::Memory, seed, server_app(|_| {}), &secure(None)).unwrap()
}

/// Adds a client of the secure net as `client_id`, its token timing out after [`TOKEN_TIMEOUT`].
fn add_token_client(net: &mut TestNet, client_id: u64) -> usize {
    let token = token(net.server_addr(), client_id, TOKEN_TIMEOUT);
    net.add_token_client(client_app(|_| {}), token, "T", LinkConditioner::default())
        .unwrap()
}

/// The dots client `index` sees.
fn dots_seen(net: &mut TestNet, index: usize) -> usize {
    let world = net.client_mut(index).world_mut();
    world.query::<&Owner>().iter(world).count()
}

#[test]
fn a_flood_of_100k_datagrams_does_not_stop_the_server() {
    // On the in-memory wire a full queue drops the flood as a full kernel buffer would; on
    // loopback the kernel's own buffers are in the loop.
    for wire in [Wire::Memory, Wire::Loopback] {
        let mut net = connected(wire, 7, 1);
        let attacker = net.raw_peer().unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let junk: Vec<Vec<u8>> = (0..64)
            .map(|i| (0..(i * 20 + 1)).map(|_| rng.u8(..)).collect())
            .collect();

        let (tick_before, snapshots_before) = (server_tick(&net), snapshots(&net, 0));
        let mut sent = 0;
        while sent < 100_000 {
            // Bursts of 5000 between frames: far more than a tick's worth.
            for _ in 0..5000 {
                // A full socket buffer is the kernel dropping the flood: fine.
                let _ = attacker.send_to(&junk[sent % junk.len()], net.server_addr());
                sent += 1;
            }
            net.step();
        }
        net.run_for(Duration::from_millis(300));
        assert!(
            server_tick(&net) > tick_before + 5,
            "{wire:?}: the server kept ticking"
        );
        assert!(
            snapshots(&net, 0) > snapshots_before + 5,
            "{wire:?}: the client kept receiving snapshots"
        );
        assert!(net.is_welcomed(0), "{wire:?}");
        assert!(
            dropped(&net) > 1000,
            "{wire:?}: the drops are counted: {}",
            dropped(&net)
        );
    }
}

#[test]
fn replayed_and_truncated_packets_are_dropped_and_counted() {
    // The server believes clients dial the relay, so the relayed handshake is valid.
    let (mut net, mut relay) = relayed_client(8);
    for _ in 0..60 {
        relay.step(&mut net);
    }

    let before = dropped(&net);
    let recorded = std::mem::take(&mut relay.recorded);
    assert!(recorded.len() > 20);
    // Replays of everything the client sent (from the same address), then truncated headers.
    for packet in &recorded {
        let _ = relay.socket.send_to(packet, net.server_addr());
    }
    for packet in recorded.iter().take(20) {
        for len in [1, 2, 5, 9] {
            let _ = relay
                .socket
                .send_to(&packet[..len.min(packet.len())], net.server_addr());
        }
    }
    let snapshots_before = snapshots(&net, 0);
    // Half a second.
    for _ in 0..30 {
        relay.step(&mut net);
    }
    assert!(net.is_welcomed(0), "replays do not disturb the real client");
    assert!(snapshots(&net, 0) > snapshots_before + 10);
    assert!(
        dropped(&net) >= before + recorded.len() as u64,
        "replays and truncated packets are counted as drops: {} -> {}",
        before,
        dropped(&net)
    );
}

#[test]
fn a_vanished_client_is_freed_within_the_timeout() {
    let mut net = secure_net(9);
    let stays = add_token_client(&mut net, 1);
    let vanishes = add_token_client(&mut net, 2);
    net.connect_all();
    net.run_until("both dots seen", 600, |net| dots_seen(net, stays) == 2);

    // Gone without a disconnect packet, as if the process was killed.
    drop(net.remove_client(vanishes));
    let took = net.run_until("the vanished client's dot leaves", 600, |net| {
        net.server().world().resource::<ConnectedClients>().len() == 1 && dots_seen(net, stays) == 1
    });
    assert!(
        (net.steps_in(Duration::from_millis(1750))..=net.steps_in(Duration::from_millis(2500)))
            .contains(&took),
        "freed at the 2 s timeout, not before (took {took} steps)"
    );
    assert!(net.is_welcomed(stays));
}

#[test]
fn a_vanished_server_is_noticed_and_clients_can_join_again() {
    let mut net = secure_net(10);
    add_token_client(&mut net, 1);
    net.connect_all();
    net.run_until("the dot is predicted", 600, |net| {
        let world = net.client_mut(0).world_mut();
        world.query::<&Predicted<Dot>>().iter(world).count() == 1
    });

    // The server process dies: no disconnect packet.
    net.drop_server();
    let took = net.run_until("the client notices", 600, |net| {
        net.disconnect_reason(0).is_some()
    });
    let reason = net.disconnect_reason(0).unwrap();
    assert!(reason.contains("connection lost"), "{reason}");
    assert!(
        (net.steps_in(Duration::from_millis(1750))..=net.steps_in(Duration::from_millis(2500)))
            .contains(&took),
        "the client notices at the 2 s timeout, not before (took {took} steps)"
    );
    assert!(
        net.client(0)
            .world()
            .resource::<ServerEntityMap>()
            .is_empty(),
        "the replicated world is gone"
    );
    let world = net.client_mut(0).world_mut();
    assert_eq!(
        world.query::<&Predicted<Dot>>().iter(world).count(),
        0,
        "no prediction into the void"
    );

    // The server comes back on the same address; the client joins again with a new token.
    net.listen_again(server_app(|_| {}), &secure(None)).unwrap();
    drop(net.remove_client(0));
    add_token_client(&mut net, 1);
    net.connect_all();
    assert_eq!(net.server().world().resource::<ConnectedClients>().len(), 1);
}
