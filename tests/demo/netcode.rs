//! Netcode under simulated network conditions: prediction, reconciliation, interpolation and
//! delta snapshots, over real UDP on 127.0.0.1 through the link conditioner.

use std::time::Duration;

use crate::common::*;
use bevy::prelude::*;
use skirmish_client::{ClientSession, Interpolated, LocalPlayer, NetStats, Predicted};
use skirmish_net::client::{ClientTransport, InterpolationClock};
use skirmish_net::socket::LinkConditioner;
use skirmish_shared::prelude::*;
use skirmish_shared::simulation::{PLAYER_SPEED, POSITION_SCALE};

/// The quantization step of positions on the wire.
const POSITION_STEP: f32 = 1.0 / POSITION_SCALE;

fn predicted(client: &mut App) -> Option<Vec2> {
    let mut query = client
        .world_mut()
        .query_filtered::<&Predicted<Position>, With<LocalPlayer>>();
    query.single(client.world()).ok().map(|p| p.value.0)
}

fn bad_network() -> LinkConditioner {
    // 50 ms each way = 100 ms RTT, plus jitter and 5% loss in both directions.
    LinkConditioner::new(50, 20, 0.05).unwrap()
}

#[test]
fn prediction_converges_to_server_under_latency_jitter_and_loss() {
    let mut server = server();
    let mut a = conditioned_client_with(server.addr, "a", bad_network(), |_| {});
    connect_all(&mut server, &mut [&mut a]);
    let id = client_id(&a);
    run_until(&mut server, &mut [&mut a], "prediction starts", |_, c| {
        predicted(c[0]).is_some()
    });

    // Zig-zag for a while, so there is plenty to mispredict.
    for direction in [Vec2::X, Vec2::Y, Vec2::new(-1.0, 1.0), Vec2::NEG_Y] {
        set_movement(&mut a, direction);
        run_for(&mut server, &mut [&mut a], Duration::from_millis(300));
    }
    set_movement(&mut a, Vec2::ZERO);

    run_until(
        &mut server,
        &mut [&mut a],
        "predicted position equals the server's",
        |server, c| {
            let (Some(authoritative), Some(predicted)) =
                (server_position(server, id), predicted(c[0]))
            else {
                return false;
            };
            authoritative.distance(predicted) <= POSITION_STEP
        },
    );
    // And it stays there.
    run_for(&mut server, &mut [&mut a], Duration::from_millis(300));
    let authoritative = server_position(&mut server, id).unwrap();
    let predicted = predicted(&mut a).unwrap();
    assert!(
        authoritative.distance(predicted) <= POSITION_STEP,
        "prediction drifted after settling: server {authoritative}, predicted {predicted}"
    );
}

#[test]
fn steady_movement_without_loss_needs_no_correction() {
    let mut server = server();
    let steady = LinkConditioner::new(30, 0, 0.0).unwrap();
    let mut a = conditioned_client_with(server.addr, "a", steady, |_| {});
    connect_all(&mut server, &mut [&mut a]);
    let id = client_id(&a);
    run_until(&mut server, &mut [&mut a], "prediction starts", |_, c| {
        predicted(c[0]).is_some()
    });
    let start = server_position(&mut server, id).unwrap();

    set_movement(&mut a, Vec2::new(0.6, 0.8));
    run_until(
        &mut server,
        &mut [&mut a],
        "the server moved the player 200 units",
        |server, _| server_position(server, id).unwrap().distance(start) > 200.0,
    );
    let stats = a.world().resource::<NetStats>().clone();
    assert!(
        stats.max_correction <= POSITION_STEP,
        "a deterministic simulation on a clean link must not mispredict: {stats:?}"
    );
    assert!(
        stats.snapshots_per_s > 0.0 || a.world().resource::<ClientSession>().snapshots_applied > 30
    );
}

#[test]
fn interpolated_remote_never_jumps_or_goes_backwards_under_loss() {
    let mut server = server();
    let mut mover = client(server.addr, "mover");
    let lossy = LinkConditioner::new(0, 0, 0.05).unwrap();
    let mut watcher = conditioned_client_with(server.addr, "watcher", lossy, |_| {});
    connect_all(&mut server, &mut [&mut mover, &mut watcher]);
    let mover_id = client_id(&mover);

    let interpolated = |watcher: &mut App| -> Option<Vec2> {
        let mut query = watcher
            .world_mut()
            .query::<(&Player, &Interpolated<Position>)>();
        query
            .iter(watcher.world())
            .find(|(player, _)| player.client_id == mover_id)
            .map(|(_, interpolated)| interpolated.shown().0)
    };
    run_until(
        &mut server,
        &mut [&mut mover, &mut watcher],
        "watcher interpolates the mover",
        |_, c| interpolated(c[1]).is_some(),
    );

    set_movement(&mut mover, Vec2::X);
    // Let the motion reach the watcher's render clock.
    run_for(
        &mut server,
        &mut [&mut mover, &mut watcher],
        Duration::from_millis(300),
    );

    let mut last = interpolated(&mut watcher).unwrap();
    let start = last;
    let end = TestInstant::now() + Duration::from_millis(1500);
    let mut frames = 0;
    while TestInstant::now() < end {
        step(&mut server, &mut [&mut mover, &mut watcher]);
        let now = interpolated(&mut watcher).unwrap();
        // The watcher's own frame time: what its player sees between two frames.
        let dt = watcher.world().resource::<Time<Real>>().delta_secs();
        // The render clock runs at most 10% fast, so a frame moves at most ~1.1x real speed.
        let max_step = PLAYER_SPEED * dt * 1.15 + 0.01;
        assert!(now.x >= last.x - 1e-3, "moved backwards: {last} -> {now}");
        if (now - last).length() > max_step {
            let clock = *watcher.world().resource::<InterpolationClock>();
            let mut q = watcher
                .world_mut()
                .query::<(&Player, &Interpolated<Position>)>();
            let samples: Vec<(u32, Vec2)> = q
                .iter(watcher.world())
                .find(|(p, _)| p.client_id == mover_id)
                .unwrap()
                .1
                .samples()
                .map(|(tick, position)| (*tick, position.0))
                .collect();
            panic!(
                "jumped {} in {dt}s: {last} -> {now}, clock {clock:?}, samples {:?}",
                (now - last).length(),
                &samples[samples.len().saturating_sub(12)..]
            );
        }
        assert!(
            (now.y - start.y).abs() < 1e-3,
            "left the straight path: {now}"
        );
        last = now;
        frames += 1;
    }
    assert!(
        last.x > start.x + 200.0,
        "the watcher saw the mover advance: {start} -> {last}"
    );
    // 1.5 s of test clock is 90 ticks, a frame each.
    assert!(frames >= 85, "enough frames were checked ({frames})");
}

#[test]
fn resting_world_costs_nothing_and_resyncs_after_a_blackout() {
    let mut server = server();
    let mut rng = fastrand::Rng::with_seed(4);
    let entities: Vec<Entity> = (0..200)
        .map(|_| {
            let position = Vec2::new(rng.f32() * 1000.0 - 500.0, rng.f32() * 1000.0 - 500.0);
            server
                .app
                .world_mut()
                .spawn((Replicated, Position(position)))
                .id()
        })
        .collect();
    let mut a = client_with(server.addr, "a", |app| {
        app.init_resource::<RestingUpdates>()
            .add_systems(Last, count_resting_updates);
    });
    connect_all(&mut server, &mut [&mut a]);

    let synced = |server: &mut TestServer, client: &mut App| -> bool {
        let mut server_query = server
            .app
            .world_mut()
            .query_filtered::<&Position, Without<Player>>();
        let mut expected: Vec<Quantized> = server_query
            .iter(server.app.world())
            .map(|p| p.quantize())
            .collect();
        let mut client_query = client
            .world_mut()
            .query_filtered::<&Position, Without<Player>>();
        let mut seen: Vec<Quantized> = client_query
            .iter(client.world())
            .map(|p| p.quantize())
            .collect();
        expected.sort_unstable();
        seen.sort_unstable();
        expected == seen
    };
    run_until(
        &mut server,
        &mut [&mut a],
        "all 200 entities replicated",
        |s, c| synced(s, c[0]),
    );

    // Once the baseline is acknowledged, snapshots of a resting world carry none of its entities.
    run_for(&mut server, &mut [&mut a], Duration::from_millis(300));
    a.world_mut().resource_mut::<RestingUpdates>().0 = 0;
    let session = a.world().resource::<ClientSession>();
    let (bytes_before, updates_before, snapshots_before) = (
        session.snapshot_payload_bytes,
        session.snapshot_entity_updates,
        session.snapshots_applied,
    );
    // Longer than the server's 64-tick delta history: resting entities must not be refreshed.
    run_until(
        &mut server,
        &mut [&mut a],
        "a hundred snapshots of the resting world",
        |_, c| c[0].world().resource::<ClientSession>().snapshots_applied >= snapshots_before + 100,
    );
    let session = a.world().resource::<ClientSession>();
    let snapshots = session.snapshots_applied - snapshots_before;
    let updates = session.snapshot_entity_updates - updates_before;
    let bytes = session.snapshot_payload_bytes - bytes_before;
    let resting = a.world().resource::<RestingUpdates>().0;
    assert_eq!(resting, 0, "the 200 resting entities were sent again");
    // What may change meanwhile is what load moves: the client's own ping and the roster that
    // lists it, a few small entity updates each. Everything else is the one-byte empty payload
    // (the end-of-entities marker and an empty despawn list).
    assert!(
        bytes <= snapshots + updates * MAX_PLAYER_OR_ROSTER_UPDATE,
        "a resting world must cost one byte per snapshot besides pings: {bytes} bytes in \
         {snapshots} snapshots with {updates} ping or roster updates"
    );

    // Black out the client's link for a second while half the world moves.
    let blackout = LinkConditioner::new(0, 0, 1.0).unwrap();
    a.world_mut()
        .resource_mut::<ClientTransport>()
        .set_conditioner(blackout);
    for entity in entities.iter().step_by(2) {
        server
            .app
            .world_mut()
            .get_mut::<Position>(*entity)
            .unwrap()
            .0 += Vec2::new(3.5, -1.25);
    }
    run_for(&mut server, &mut [&mut a], Duration::from_secs(1));
    assert!(!synced(&mut server, &mut a), "the blackout hid the changes");
    a.world_mut()
        .resource_mut::<ClientTransport>()
        .set_conditioner(LinkConditioner::default());
    run_until(
        &mut server,
        &mut [&mut a],
        "the client converges to the exact server state",
        |s, c| synced(s, c[0]),
    );
    assert!(is_connected(&a));
}

/// The most bytes one update of a player's ping or of a one-player roster takes in a snapshot.
const MAX_PLAYER_OR_ROSTER_UPDATE: u64 = 64;

/// How many times a snapshot rewrote a replicated entity that is not a player.
#[derive(Resource, Default)]
struct RestingUpdates(u64);

fn count_resting_updates(
    changed: Query<(), (Changed<Position>, Without<Player>)>,
    mut count: ResMut<RestingUpdates>,
) {
    count.0 += changed.iter().count() as u64;
}

/// The server's input lead target for `client_id`, in ticks.
fn server_buffer(server: &TestServer, client_id: u64) -> f32 {
    let world = server.app.world();
    let client = world.resource::<skirmish_server::ConnectedClients>()[&client_id];
    world
        .get::<skirmish_server::ConnectedClient>(client)
        .unwrap()
        .pacing
        .target
}

#[test]
fn the_input_buffer_grows_with_jitter_and_shrinks_back_and_the_client_is_told() {
    let mut server = server();
    // 40 ms of jitter each way: inputs arrive up to 2.4 ticks apart from their schedule.
    let jittery = LinkConditioner::new(20, 40, 0.0).unwrap();
    let mut a = conditioned_client_with(server.addr, "jittery", jittery, |_| {});
    connect_all(&mut server, &mut [&mut a]);
    let id = client_id(&a);
    run_until(
        &mut server,
        &mut [&mut a],
        "the buffer grows and the client hears of it",
        |server, c| {
            server_buffer(server, id) >= 2.0
                && c[0].world().resource::<NetStats>().input_buffer_ticks >= 2.0
        },
    );
    a.world_mut()
        .resource_mut::<ClientTransport>()
        .set_conditioner(LinkConditioner::default());
    run_until(
        &mut server,
        &mut [&mut a],
        "the buffer shrinks back on a clean link",
        |server, c| {
            server_buffer(server, id) <= 1.5
                && c[0].world().resource::<NetStats>().input_buffer_ticks <= 1.5
        },
    );
    // And the client's clock follows the advice back to the server's pace.
    run_until(
        &mut server,
        &mut [&mut a],
        "the client's clock settles",
        |_, c| (c[0].world().resource::<NetStats>().clock_rate - 1.0).abs() < 0.02,
    );
}
