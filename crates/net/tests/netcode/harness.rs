//! The harness itself: both wires connect and replicate, and one seed is one run.

use bevy::prelude::*;
use skirmish_net::client::{ClientSession, ClientTransport, Predicted};
use skirmish_net::socket::LinkConditioner;
use skirmish_net::testing::{TestNet, Wire};

use crate::protocol::*;

/// Steps until every client sees every dot, within a bounded number of steps.
fn wait_for_dots(net: &mut TestNet) {
    let clients = net.client_count();
    net.run_until("every client sees every dot", 600, |net| {
        net.client_indices().all(|index| {
            let world = net.client_mut(index).world_mut();
            let mut dots = world.query::<&Owner>();
            dots.iter(world).count() == clients
        })
    });
}

#[test]
fn both_wires_connect_and_replicate_a_moving_dot() {
    for wire in [Wire::Loopback, Wire::Memory] {
        let mut net = connected(wire, 11, 2);
        wait_for_dots(&mut net);
        let (dot, start) = server_dot(&mut net, 0).expect("the server spawned a dot");
        set_stick(&mut net, 0, Vec2::X);
        net.run_until("the other client sees the dot move", 600, |net| {
            net.replica_component::<Dot>(1, dot)
                .is_some_and(|seen| seen.0.x > start.0.x + 30.0)
        });
        let own = net.replica(0, dot).unwrap();
        let predicted = net.client(0).world().get::<Predicted<Dot>>(own);
        assert!(
            predicted.is_some_and(|p| p.value.0.x > start.0.x + 30.0),
            "{wire:?}: the owner predicts its own dot"
        );
    }
}

/// Everything a client received, step by step: snapshots, their bytes, datagrams and the dots
/// it shows.
fn trace(seed: u64) -> Vec<(usize, u64, u64, u64, Vec<(usize, [i32; 2])>)> {
    let mut net = TestNet::new(Wire::Memory, seed, server_app(|_| {})).unwrap();
    let lossy = LinkConditioner::new(30, 20, 0.1).unwrap();
    for index in 0..3 {
        net.add_conditioned_client(client_app(|_| {}), &format!("c{index}"), lossy)
            .unwrap();
    }
    net.connect_all();
    // Client ids come from the seed too: the trace names owners by their client's index.
    let ids: Vec<u64> = (0..3).map(|index| net.client_id(index)).collect();
    let mut seen = Vec::new();
    for step in 0..240u32 {
        for index in 0..3 {
            let stick = Vec2::from_angle((step / 20 + index) as f32).normalize_or_zero();
            set_stick(&mut net, index as usize, stick);
        }
        net.step();
        for index in 0..3 {
            let world = net.client_mut(index).world_mut();
            let session = world.resource::<ClientSession>();
            let (snapshots, bytes) = (session.snapshots_applied, session.snapshot_payload_bytes);
            let packets = world
                .resource::<ClientTransport>()
                .counters()
                .packets_received;
            let mut dots = world.query::<(&Owner, &Dot)>();
            let mut shown: Vec<(usize, [i32; 2])> = dots
                .iter(world)
                .map(|(owner, dot)| {
                    let q = skirmish_net::registry::Quantize::quantize(dot);
                    let owner = ids
                        .iter()
                        .position(|id| *id == owner.0)
                        .unwrap_or(usize::MAX);
                    (owner, [q[0], q[1]])
                })
                .collect();
            shown.sort_unstable();
            seen.push((index, snapshots, bytes, packets, shown));
        }
    }
    seen
}

#[test]
fn one_seed_is_one_exact_run_on_the_in_memory_wire() {
    let first = trace(5);
    let again = trace(5);
    assert!(
        first
            .last()
            .is_some_and(|(_, snapshots, ..)| *snapshots > 100),
        "the run carried snapshots: {:?}",
        first.last()
    );
    let differs = first.iter().zip(&again).position(|(a, b)| a != b);
    assert_eq!(
        differs,
        None,
        "the same seed gave another run from entry {differs:?}: {:?} against {:?}",
        differs.map(|i| &first[i]),
        differs.map(|i| &again[i])
    );
    assert_ne!(first, trace(6), "another seed draws other losses");
}
