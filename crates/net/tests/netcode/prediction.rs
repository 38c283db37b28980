//! Prediction and reconciliation under simulated network conditions: the owner's predicted dot
//! converges to the server's and stays there, and a clean link needs no correction at all.

use std::time::Duration;

use bevy::prelude::*;
use skirmish_net::client::NetStats;
use skirmish_net::prelude::*;
use skirmish_net::socket::LinkConditioner;
use skirmish_net::testing::{TestNet, Wire};

use crate::protocol::*;

/// The quantization step of a dot's position on the wire.
const POSITION_STEP: f32 = 1.0 / STEPS_PER_UNIT;

/// Client `index`'s predicted own dot.
fn predicted(net: &mut TestNet, index: usize) -> Option<Vec2> {
    let world = net.client_mut(index).world_mut();
    let mut query = world.query_filtered::<&Predicted<Dot>, With<Controlled>>();
    query.single(world).ok().map(|p| p.value.0)
}

/// The server's dot of client `index`, as a position.
fn authoritative(net: &mut TestNet, index: usize) -> Option<Vec2> {
    server_dot(net, index).map(|(_, dot)| dot.0)
}

fn bad_network() -> LinkConditioner {
    // 50 ms each way = 100 ms RTT, plus jitter and 5% loss in both directions.
    LinkConditioner::new(50, 20, 0.05).unwrap()
}

#[test]
fn prediction_converges_to_server_under_latency_jitter_and_loss() {
    let mut net = TestNet::new(Wire::Memory, 1, server_app(|_| {})).unwrap();
    net.add_conditioned_client(client_app(|_| {}), "a", bad_network())
        .unwrap();
    net.connect_all();
    net.run_until("prediction starts", 600, |net| predicted(net, 0).is_some());

    // Zig-zag for a while, so there is plenty to mispredict.
    for direction in [Vec2::X, Vec2::Y, Vec2::new(-1.0, 1.0), Vec2::NEG_Y] {
        set_stick(&mut net, 0, direction);
        net.run_for(Duration::from_millis(300));
    }
    set_stick(&mut net, 0, Vec2::ZERO);

    net.run_until("predicted position equals the server's", 600, |net| {
        let (Some(authoritative), Some(predicted)) = (authoritative(net, 0), predicted(net, 0))
        else {
            return false;
        };
        authoritative.distance(predicted) <= POSITION_STEP
    });
    // And it stays there.
    net.run_for(Duration::from_millis(300));
    let authoritative = authoritative(&mut net, 0).unwrap();
    let predicted = predicted(&mut net, 0).unwrap();
    assert!(
        authoritative.distance(predicted) <= POSITION_STEP,
        "prediction drifted after settling: server {authoritative}, predicted {predicted}"
    );
}

#[test]
fn steady_movement_without_loss_needs_no_correction() {
    let mut net = TestNet::new(Wire::Memory, 2, server_app(|_| {})).unwrap();
    let steady = LinkConditioner::new(30, 0, 0.0).unwrap();
    net.add_conditioned_client(client_app(|_| {}), "a", steady)
        .unwrap();
    net.connect_all();
    net.run_until("prediction starts", 600, |net| predicted(net, 0).is_some());
    let start = authoritative(&mut net, 0).unwrap();
    let snapshots_before = snapshots(&net, 0);

    set_stick(&mut net, 0, Vec2::new(0.6, 0.8));
    net.run_until("the server moved the dot 200 units", 600, |net| {
        authoritative(net, 0).unwrap().distance(start) > 200.0
    });
    let stats = net.client(0).world().resource::<NetStats>().clone();
    assert!(
        stats.max_correction <= POSITION_STEP,
        "a deterministic simulation on a clean link must not mispredict: {stats:?}"
    );
    // Not for want of snapshots: one a tick arrived all along.
    assert!(stats.snapshots_per_s > 30.0, "{stats:?}");
    assert!(
        snapshots(&net, 0) > snapshots_before + 60,
        "{} snapshots",
        snapshots(&net, 0) - snapshots_before
    );
}
