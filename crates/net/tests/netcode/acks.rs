//! Snapshot acknowledgements as an attack surface: a client that never acknowledges a snapshot
//! must neither grow the server's memory nor keep its seat, while honest clients (busy, idle, or
//! on a slow snapshot rate) play on.

use std::time::Duration;

use bevy::prelude::*;
use skirmish_net::client::ClientSession;
use skirmish_net::prelude::*;
use skirmish_net::server::{
    AckTimeout, ClientReplication, ConnectedClients, DEFAULT_ACK_TIMEOUT, IN_FLIGHT_SNAPSHOTS,
    ListenConfig, MAX_CARRIED_DESPAWNS, ReplicationFootprint,
};
use skirmish_net::testing::{TestNet, Wire};

use crate::protocol::*;

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
        let at = Vec2::new(i as f32 * 10.0, (tick.0 % 100) as f32);
        commands.spawn((Churn, Replicated, Dot(at)));
    }
}

/// Makes a client forget every snapshot it applied before it sends its input, so every input
/// message it sends says "no snapshot acknowledged" (`ack: None`): a client that never acks.
fn never_ack(mut session: ResMut<ClientSession>) {
    session.last_snapshot_tick = None;
}

/// Acks nothing for 4 s, then the snapshot after the one it acked last, every tick: its ack stays
/// 4 s old (under the ack timeout) yet never names a snapshot the server still has in flight.
fn trickle_ack(mut session: ResMut<ClientSession>, mut state: Local<(Option<u32>, u32)>) {
    let (first, frames) = &mut *state;
    if first.is_none() {
        *first = session.last_snapshot_tick;
    }
    *frames += 1;
    let Some(first) = *first else {
        return;
    };
    let quiet = 4 * u32::from(TICK_RATE);
    session.last_snapshot_tick = frames.checked_sub(quiet).map(|acked| first + acked);
}

fn silent_client() -> App {
    client_app(|app| {
        app.add_systems(PreUpdate, never_ack.after(ClientSystems::Receive));
    })
}

/// What the server holds for client `client_id`, while it has a seat.
fn footprint(net: &TestNet, client_id: u64) -> Option<ReplicationFootprint> {
    let world = net.server().world();
    let client = *world.resource::<ConnectedClients>().get(&client_id)?;
    world
        .get::<ClientReplication>(client)
        .map(ClientReplication::footprint)
}

#[test]
fn a_client_that_never_acks_stays_bounded_and_is_sent_away_while_others_play() {
    let server = server_app(|app| {
        app.add_systems(FixedUpdate, churn);
    });
    let mut net = TestNet::new(Wire::Memory, 1, server).unwrap();
    let honest = net.add_client(client_app(|_| {}), "honest").unwrap();
    let silent = net.add_client(silent_client(), "silent").unwrap();
    net.connect_all();
    let (honest_id, silent_id) = (net.client_id(honest), net.client_id(silent));

    // Despawns the server may hold for the silent client: what despawns within the ack timeout,
    // plus a second of slack for the goodbye's grace and scheduling.
    let second = usize::from(TICK_RATE);
    let timeout_ticks = DEFAULT_ACK_TIMEOUT.as_secs() as usize * second;
    let despawn_bound = CHURN_PER_TICK * (timeout_ticks + second);
    // The snapshots in flight name each live entity at most once (the dots, the churn, a tick's
    // overlap).
    let in_flight_entities_bound = IN_FLIGHT_SNAPSHOTS * (2 * CHURN_PER_TICK + 4);

    let mut silent_peak = ReplicationFootprint::default();
    let mut honest_peak_despawns = 0;
    let mut sent_away_after = None;
    let mut window = (0, snapshots(&net, honest));
    // Ten seconds of churn: the silent client is sent away after the ack timeout, the honest
    // one must keep playing throughout.
    for step in 1..=10 * u32::from(TICK_RATE) {
        net.step();
        if let Some(silent) = footprint(&net, silent_id) {
            assert!(
                silent.despawn_entries <= despawn_bound,
                "{silent:?} after {step} steps: more despawns than the ack timeout allows \
                 ({despawn_bound})"
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
        let honest_now = footprint(&net, honest_id).expect("the honest client keeps its seat");
        honest_peak_despawns = honest_peak_despawns.max(honest_now.despawn_entries);
        if sent_away_after.is_none() && net.disconnect_reason(silent).is_some() {
            sent_away_after = Some(step);
        }
        assert!(net.is_welcomed(honest), "the honest client stays connected");
        if step - window.0 >= u32::from(TICK_RATE) {
            let now = snapshots(&net, honest);
            assert!(
                now >= window.1 + 55,
                "the honest client keeps receiving snapshots ({} -> {now} from step {} to {step})",
                window.1,
                window.0,
            );
            window = (step, now);
        }
    }

    eprintln!(
        "silent client: peak {silent_peak:?}, sent away after {sent_away_after:?} steps; honest \
         client: peak {honest_peak_despawns} despawns pending, {} snapshots",
        snapshots(&net, honest)
    );
    let sent_away_after = sent_away_after.expect("the silent client was sent away");
    let reason = net.disconnect_reason(silent).unwrap();
    assert!(
        reason.contains("no snapshot acknowledged for 5 s"),
        "the silent client is told why: {reason:?}"
    );
    // (Counted from after the join, so up to a second of the timeout had already passed.)
    assert!(
        (net.steps_in(DEFAULT_ACK_TIMEOUT - Duration::from_secs(1))
            ..=net.steps_in(DEFAULT_ACK_TIMEOUT + Duration::from_secs(1)))
            .contains(&sent_away_after),
        "sent away at the timeout, give or take the join and the goodbye: {sent_away_after} steps"
    );
    assert!(footprint(&net, silent_id).is_none(), "its state is freed");
    // The churn really loaded the silent client: seconds of despawns were pending at the peak.
    assert!(
        silent_peak.despawn_entries > CHURN_PER_TICK * second * 3,
        "{silent_peak:?}"
    );
    assert_eq!(silent_peak.in_flight_snapshots, IN_FLIGHT_SNAPSHOTS);
    // An acking client holds only the despawns of its round trip.
    assert!(
        honest_peak_despawns <= CHURN_PER_TICK * 30,
        "the honest client had {honest_peak_despawns} despawns pending"
    );
    assert!(snapshots(&net, honest) > 300);
}

#[test]
fn a_client_whose_acks_never_land_is_sent_away_and_its_despawns_ride_within_a_budget() {
    let server = server_app(|app| {
        app.add_systems(FixedUpdate, churn);
    });
    let mut net = TestNet::new(Wire::Memory, 3, server).unwrap();
    let honest = net.add_client(client_app(|_| {}), "honest").unwrap();
    let trickle = net
        .add_client(
            client_app(|app| {
                app.add_systems(PreUpdate, trickle_ack.after(ClientSystems::Receive));
            }),
            "trickle",
        )
        .unwrap();
    net.connect_all();
    let trickle_id = net.client_id(trickle);
    let mut peak = ReplicationFootprint::default();
    let mut sent_away_after = None;
    for step in 1..=10 * u32::from(TICK_RATE) {
        net.step();
        if let Some(now) = footprint(&net, trickle_id) {
            assert!(
                now.carried_despawns <= MAX_CARRIED_DESPAWNS,
                "{now:?}: every snapshot carries at most {MAX_CARRIED_DESPAWNS} despawns"
            );
            assert!(now.newest_landed.is_none(), "{now:?}: no ack of it lands");
            peak.despawn_entries = peak.despawn_entries.max(now.despawn_entries);
            peak.carried_despawns = peak.carried_despawns.max(now.carried_despawns);
            peak.newest_ack = now.newest_ack.or(peak.newest_ack);
        }
        if sent_away_after.is_none() && net.disconnect_reason(trickle).is_some() {
            sent_away_after = Some(step);
        }
        assert!(net.is_welcomed(honest), "the honest client stays connected");
    }
    eprintln!("trickle acker: peak {peak:?}, sent away after {sent_away_after:?} steps");
    assert!(peak.newest_ack.is_some(), "the trickle acker did ack");
    assert!(
        peak.despawn_entries > MAX_CARRIED_DESPAWNS
            && peak.carried_despawns == MAX_CARRIED_DESPAWNS,
        "the despawn budget was reached: {peak:?}"
    );
    let sent_away_after = sent_away_after.expect("the trickle acker is sent away");
    assert!(
        sent_away_after <= net.steps_in(DEFAULT_ACK_TIMEOUT + Duration::from_secs(1)),
        "sent away at the ack timeout: {sent_away_after} steps"
    );
    let reason = net.disconnect_reason(trickle).unwrap();
    assert!(reason.contains("no snapshot acknowledged"), "{reason:?}");
    let honest_now = footprint(&net, net.client_id(honest)).unwrap();
    assert!(honest_now.newest_landed.is_some(), "{honest_now:?}");
}

#[test]
fn idle_and_slow_snapshot_clients_are_not_sent_away() {
    // One snapshot every half second, a one-second ack timeout, a world where nothing happens:
    // every snapshot is empty, and joining counts too.
    let config = ListenConfig {
        snapshot_rate: Some(2),
        ..ListenConfig::default()
    };
    let server = server_app(|app| {
        app.insert_resource(AckTimeout(Duration::from_secs(1)));
    });
    let mut net = TestNet::with_config(Wire::Memory, 2, server, &config).unwrap();
    let idle = net.add_client(client_app(|_| {}), "idle").unwrap();
    let silent = net.add_client(silent_client(), "silent").unwrap();
    net.connect_all();
    let before = snapshots(&net, idle);
    for step in 1..=4 * u32::from(TICK_RATE) {
        net.step();
        assert!(
            net.is_welcomed(idle),
            "the idle client stays: {:?} after {step} steps",
            net.disconnect_reason(idle),
        );
    }
    assert!(snapshots(&net, idle) >= before + 6, "snapshots kept coming");
    let reason = net
        .disconnect_reason(silent)
        .expect("the silent one is sent away");
    assert!(
        reason.contains("no snapshot acknowledged for 1 s"),
        "{reason:?}"
    );
}
