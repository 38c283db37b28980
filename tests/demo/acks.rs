//! Snapshot acknowledgements as an attack surface: a client that never acknowledges a snapshot
//! must neither grow the server's memory nor keep its seat, while honest clients (busy, idle, or
//! on a slow snapshot rate) play on. Real UDP on 127.0.0.1.

use std::time::Duration;

use crate::common::*;
use bevy::prelude::*;
use skirmish_client::{ClientSession, ClientSystems, ConnectionStatus};
use skirmish_server::{
    AckTimeout, ClientReplication, ConnectedClients, DEFAULT_ACK_TIMEOUT, IN_FLIGHT_SNAPSHOTS,
    ReplicationFootprint, ServerSettings,
};
use skirmish_shared::prelude::*;
use skirmish_shared::simulation::DEFAULT_TICK_RATE;

/// Replicated entities spawned (and the previous tick's despawned) every server tick.
const CHURN_PER_TICK: usize = 20;

#[derive(Component)]
struct Churn;

/// Despawns last tick's churn entities and spawns new ones: a despawn per entity per tick.
fn churn(mut commands: Commands, old: Query<Entity, With<Churn>>, tick: Res<SimulationTick>) {
    for entity in &old {
        commands.entity(entity).despawn();
    }
    for i in 0..CHURN_PER_TICK {
        let position = Vec2::new(i as f32 * 10.0, (tick.0 % 100) as f32);
        commands.spawn((Churn, Replicated, Position(position)));
    }
}

/// Makes a client forget every snapshot it applied before it sends its input, so every input
/// message it sends says "no snapshot acknowledged" (`ack: None`): a client that never acks.
fn never_ack(mut session: ResMut<ClientSession>) {
    session.last_snapshot_tick = None;
}

fn footprint(server: &TestServer, client_id: u64) -> Option<ReplicationFootprint> {
    let world = server.app.world();
    let client = *world.resource::<ConnectedClients>().get(&client_id)?;
    world
        .get::<ClientReplication>(client)
        .map(ClientReplication::footprint)
}

fn snapshots(client: &App) -> u64 {
    client.world().resource::<ClientSession>().snapshots_applied
}

fn disconnect_reason(client: &App) -> Option<String> {
    match client.world().resource::<ConnectionStatus>() {
        ConnectionStatus::Disconnected { reason } => Some(reason.clone()),
        _ => None,
    }
}

#[test]
fn a_client_that_never_acks_stays_bounded_and_is_sent_away_while_others_play() {
    let mut server = server_with(|app| {
        app.add_systems(FixedUpdate, churn);
    });
    let mut honest = client(server.addr, "honest");
    let mut silent = client_with(server.addr, "silent", |app| {
        app.add_systems(PreUpdate, never_ack.after(ClientSystems::Receive));
    });
    connect_all(&mut server, &mut [&mut honest, &mut silent]);
    let (honest_id, silent_id) = (client_id(&honest), client_id(&silent));

    // Despawns the server may hold for the silent client: what despawns within the ack timeout,
    // plus a second of slack for the goodbye's grace and scheduling.
    let timeout_ticks = DEFAULT_ACK_TIMEOUT.as_secs() as usize * usize::from(DEFAULT_TICK_RATE);
    let despawn_bound = CHURN_PER_TICK * (timeout_ticks + usize::from(DEFAULT_TICK_RATE));
    // The snapshots in flight name each live entity at most once (players, the churn, a tick's
    // overlap).
    let in_flight_entities_bound = IN_FLIGHT_SNAPSHOTS * (2 * CHURN_PER_TICK + 4);

    let start = TestInstant::now();
    let mut silent_peak = ReplicationFootprint::default();
    let mut honest_peak_despawns = 0;
    let mut sent_away_after = None;
    let mut window = (TestInstant::now(), snapshots(&honest));
    // Ten seconds of churn: the silent client is sent away after the ack timeout, the honest
    // one must keep playing throughout.
    while start.elapsed() < Duration::from_secs(10) {
        step(&mut server, &mut [&mut honest, &mut silent]);
        if let Some(silent) = footprint(&server, silent_id) {
            assert!(
                silent.despawn_entries <= despawn_bound,
                "{silent:?} after {:?}: more despawns than the ack timeout allows ({despawn_bound})",
                start.elapsed()
            );
            assert!(
                silent.in_flight_snapshots <= IN_FLIGHT_SNAPSHOTS,
                "{silent:?}"
            );
            assert!(
                silent.in_flight_entities <= in_flight_entities_bound,
                "{silent:?}"
            );
            assert_eq!(silent.newest_ack, None, "the silent client never acked");
            silent_peak.despawn_entries = silent_peak.despawn_entries.max(silent.despawn_entries);
            silent_peak.in_flight_snapshots = silent_peak
                .in_flight_snapshots
                .max(silent.in_flight_snapshots);
            silent_peak.in_flight_entities = silent_peak
                .in_flight_entities
                .max(silent.in_flight_entities);
        }
        let honest_now = footprint(&server, honest_id).expect("the honest client keeps its seat");
        honest_peak_despawns = honest_peak_despawns.max(honest_now.despawn_entries);
        if sent_away_after.is_none() && disconnect_reason(&silent).is_some() {
            sent_away_after = Some(start.elapsed());
        }
        assert!(is_connected(&honest), "the honest client stays connected");
        if window.0.elapsed() >= Duration::from_secs(1) {
            let now = snapshots(&honest);
            assert!(
                now >= window.1 + 10,
                "the honest client keeps receiving snapshots ({} -> {now} in {:?}, at {:?})",
                window.1,
                window.0.elapsed(),
                start.elapsed()
            );
            window = (TestInstant::now(), now);
        }
    }

    eprintln!(
        "silent client: peak {silent_peak:?}, sent away after {sent_away_after:?}; honest client: \
         peak {honest_peak_despawns} despawns pending, {} snapshots",
        snapshots(&honest)
    );
    let sent_away_after = sent_away_after.expect("the silent client was sent away");
    let reason = disconnect_reason(&silent).unwrap();
    assert!(
        reason.contains("no snapshot acknowledged for 5 s"),
        "the silent client is told why: {reason:?}"
    );
    assert!(
        sent_away_after >= DEFAULT_ACK_TIMEOUT - Duration::from_secs(1),
        "not before the timeout: {sent_away_after:?}"
    );
    assert!(
        footprint(&server, silent_id).is_none(),
        "its state is freed"
    );
    // The churn really loaded the silent client: seconds of despawns were pending at the peak.
    assert!(
        silent_peak.despawn_entries > CHURN_PER_TICK * usize::from(DEFAULT_TICK_RATE) * 3,
        "{silent_peak:?}"
    );
    assert_eq!(silent_peak.in_flight_snapshots, IN_FLIGHT_SNAPSHOTS);
    // An acking client holds only the despawns of its round trip.
    assert!(
        honest_peak_despawns <= CHURN_PER_TICK * 30,
        "the honest client had {honest_peak_despawns} despawns pending"
    );
    assert!(snapshots(&honest) > 300);
}

#[test]
fn idle_and_slow_snapshot_clients_are_not_sent_away() {
    // One snapshot every half second, a one-second ack timeout, a world where nothing happens:
    // every snapshot is empty, and joining counts too.
    let settings = ServerSettings {
        bind: loopback_any(),
        snapshot_rate: Some(2),
        ..default()
    };
    let mut server = server_from(&settings, |app| {
        app.insert_resource(AckTimeout(Duration::from_secs(1)));
    });
    let mut idle = client(server.addr, "idle");
    let mut silent = client_with(server.addr, "silent", |app| {
        app.add_systems(PreUpdate, never_ack.after(ClientSystems::Receive));
    });
    connect_all(&mut server, &mut [&mut idle, &mut silent]);
    let before = snapshots(&idle);
    let start = TestInstant::now();
    while start.elapsed() < Duration::from_secs(4) {
        step(&mut server, &mut [&mut idle, &mut silent]);
        assert!(
            is_connected(&idle),
            "the idle client stays: {:?} after {:?}",
            disconnect_reason(&idle),
            start.elapsed()
        );
    }
    assert!(snapshots(&idle) >= before + 6, "snapshots kept coming");
    let reason = disconnect_reason(&silent).expect("the silent one is sent away");
    assert!(
        reason.contains("no snapshot acknowledged for 1 s"),
        "{reason:?}"
    );
}
