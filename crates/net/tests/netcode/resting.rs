//! A world at rest costs one byte a snapshot, and a client that lost everything for a while
//! converges to the exact server state once its link is back.

use std::time::Duration;

use bevy::prelude::*;
use skirmish_net::client::{ClientSession, ClientTransport};
use skirmish_net::prelude::*;
use skirmish_net::socket::LinkConditioner;
use skirmish_net::testing::{TestNet, Wire};

use crate::protocol::*;

/// The dots without an owner (the resting world), quantized and sorted, as `app` has them.
fn resting_dots(app: &mut App) -> Vec<Quantized> {
    let world = app.world_mut();
    let mut dots = world.query_filtered::<&Dot, Without<Owner>>();
    let mut all: Vec<Quantized> = dots.iter(world).map(Quantize::quantize).collect();
    all.sort_unstable();
    all
}

fn synced(net: &mut TestNet) -> bool {
    let expected = resting_dots(net.server_mut());
    expected == resting_dots(net.client_mut(0))
}

#[test]
fn a_resting_world_costs_one_byte_a_snapshot_and_resyncs_after_a_blackout() {
    let mut net = TestNet::new(Wire::Memory, 4, server_app(|_| {})).unwrap();
    let mut rng = fastrand::Rng::with_seed(4);
    let entities: Vec<Entity> = (0..200)
        .map(|_| {
            let at = Vec2::new(rng.f32() * 1000.0 - 500.0, rng.f32() * 1000.0 - 500.0);
            net.server_mut()
                .world_mut()
                .spawn((Replicated, Dot(at)))
                .id()
        })
        .collect();
    net.add_client(client_app(|_| {}), "a").unwrap();
    net.connect_all();
    net.run_until("all 200 dots replicated", 600, synced);

    // Once the baseline is acknowledged, a snapshot of a world at rest carries no entity at all:
    // one byte (the end-of-entities marker and an empty despawn list).
    net.run_for(Duration::from_millis(300));
    let session = net.client(0).world().resource::<ClientSession>();
    let before = (
        session.snapshots_applied,
        session.snapshot_entity_updates,
        session.snapshot_payload_bytes,
    );
    // Longer than the server's 64-tick delta history: resting entities are never refreshed.
    net.run(150);
    let session = net.client(0).world().resource::<ClientSession>();
    let snapshots = session.snapshots_applied - before.0;
    let updates = session.snapshot_entity_updates - before.1;
    let bytes = session.snapshot_payload_bytes - before.2;
    assert_eq!(snapshots, 150, "a snapshot every tick on a clean link");
    assert_eq!(updates, 0, "a resting world sent entity updates");
    assert_eq!(bytes, snapshots, "a resting snapshot is one byte");

    // Black out the client's link for a second while half the world moves.
    net.client_mut(0)
        .world_mut()
        .resource_mut::<ClientTransport>()
        .set_conditioner(LinkConditioner::new(0, 0, 1.0).unwrap());
    for entity in entities.iter().step_by(2) {
        net.server_mut()
            .world_mut()
            .get_mut::<Dot>(*entity)
            .unwrap()
            .0 += Vec2::new(3.5, -1.25);
    }
    net.run_for(Duration::from_secs(1));
    assert!(!synced(&mut net), "the blackout hid the changes");
    net.client_mut(0)
        .world_mut()
        .resource_mut::<ClientTransport>()
        .set_conditioner(LinkConditioner::default());
    net.run_until(
        "the client converges to the exact server state",
        600,
        synced,
    );
    assert!(net.is_welcomed(0), "the client is still connected");
}
