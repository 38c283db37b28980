//! The replication systems of each tick: send away clients that stopped acknowledging, collect
//! changes, resolve interest, build and send snapshots.

use bevy::prelude::*;
use bevy_renet::RenetServer;

use super::change_scan::collect_into;
use super::client_state::ClientReplication;
use super::relevance::{materialize_relevant, relevance_of_each};
use super::settings::{AckTimeout, ParallelSnapshots, SnapshotInterval};
use super::snapshot_builder::build_payloads;
use super::tick_cache::SnapshotCache;
use super::world_record::ReplicationState;
use crate::channels::ServerChannel;
use crate::codec::{MAX_MESSAGE_BYTES, encode};
use crate::protocol::{ServerMessage, Snapshot};
use crate::server::TickRate;
use crate::server::clients::{ConnectedClient, Farewells};
use crate::tick::SimulationTick;

/// Whether snapshots go out this frame (see [`SnapshotInterval`]): when the tick has crossed a
/// multiple of the interval since the last snapshot. A frame that runs several ticks (a busy
/// server catching up) may skip the multiple itself; the snapshot then goes out with the tick
/// after it instead of one interval later.
pub(super) fn snapshot_due(
    tick: Res<SimulationTick>,
    interval: Option<Res<SnapshotInterval>>,
    mut last_sent: Local<Option<u32>>,
) -> bool {
    let every = interval.map_or(1, |interval| interval.0.max(1));
    let due = last_sent.is_none_or(|last| last / every != tick.0 / every);
    if due {
        *last_sent = Some(tick.0);
    }
    due
}

/// Sends away clients whose newest ack is older than [`AckTimeout`], telling them why.
pub(super) fn send_away_silent_clients(
    mut server: ResMut<RenetServer>,
    clients: Query<(&ConnectedClient, &ClientReplication)>,
    mut farewells: ResMut<Farewells>,
    tick: Res<SimulationTick>,
    tick_rate: Res<TickRate>,
    timeout: Res<AckTimeout>,
    time: Res<Time<Real>>,
) {
    let limit = (timeout.0.as_secs_f64() * f64::from(tick_rate.0)).ceil() as u32;
    for (client, replication) in &clients {
        let client_id = client.client_id;
        if replication.ack_age(tick.0).is_none_or(|age| age <= limit)
            || farewells.contains(client_id)
        {
            continue;
        }
        // (An ack naming a snapshot the server no longer remembers does not count.)
        let reason = format!("no snapshot acknowledged for {} s", timeout.0.as_secs_f32());
        warn!("disconnecting client {client_id}: {reason}");
        metrics::counter!("ack_timeouts_total").increment(1);
        farewells.send(&mut server, client_id, &reason, time.elapsed());
    }
}

/// Records every replicated component that changed since the last run, and every entity that
/// appeared or disappeared.
pub(crate) fn collect_changes(world: &mut World) {
    world.resource_scope(|world, mut state: Mut<ReplicationState>| {
        if let Some(rate) = world.get_resource::<TickRate>() {
            state.tick_rate = Some(rate.0.max(1));
        }
        let mut clients = world.query::<&ClientReplication>();
        let horizon = clients
            .iter(world)
            .map(|client| client.newest_ack.unwrap_or(0))
            .min();
        state.set_history_horizon(horizon);
        let tick = world.resource::<SimulationTick>().0;
        collect_into(&mut state, world, tick);
    });
}

/// Works out every client's relevant entities, then records the changes they need.
pub(super) fn resolve_interest(world: &mut World) {
    let tick = world.resource::<SimulationTick>().0;
    let pool = world.resource::<ParallelSnapshots>().pool();
    world.resource_scope(|world, mut state: Mut<ReplicationState>| {
        // (`resolve_relevance` in two steps: the clients are in the world the second one reads.)
        let mut clients = world.query_filtered::<&mut ClientReplication, With<ConnectedClient>>();
        {
            let mut replications: Vec<Mut<ClientReplication>> = clients.iter_mut(world).collect();
            let mut refs: Vec<&mut ClientReplication> = replications
                .iter_mut()
                .map(|replication| &mut **replication)
                .collect();
            relevance_of_each(&mut refs, &state, tick, pool);
        }
        let mut read = world.query_filtered::<&ClientReplication, With<ConnectedClient>>();
        materialize_relevant(&mut state, world, read.iter(world), tick, pool);
    });
}

/// Builds every connected client's snapshot for this tick and sends it.
pub(super) fn send_snapshots(
    mut server: ResMut<RenetServer>,
    mut clients: Query<(&ConnectedClient, &mut ClientReplication)>,
    state: Res<ReplicationState>,
    mut cache: ResMut<SnapshotCache>,
    parallel: Res<ParallelSnapshots>,
    tick: Res<SimulationTick>,
    mut oversized: Local<crate::log_limit::LogLimiter>,
) {
    let mut sent = 0;
    let (infos, mut replications): (Vec<_>, Vec<_>) = clients.iter_mut().unzip();
    let mut refs: Vec<&mut ClientReplication> = replications
        .iter_mut()
        .map(|replication| &mut **replication)
        .collect();
    let payloads = build_payloads(&mut refs, &state, &mut cache, tick.0, parallel.pool());
    for ((client, payload), replication) in infos.into_iter().zip(payloads).zip(refs.iter_mut()) {
        let client_id = client.client_id;
        let snapshot = Snapshot {
            tick: tick.0,
            last_input: client.last_input,
            payload,
            clock: (client.pacing.advice * 4.0).round().clamp(-127.0, 127.0) as i8,
            buffer: (client.pacing.target * 4.0).round().clamp(0.0, 255.0) as u8,
            total: {
                let total = u32::try_from(state.len()).unwrap_or(u32::MAX);
                // Only when it changed: one byte otherwise.
                (replication.told_total != Some(total)).then(|| {
                    replication.told_total = Some(total);
                    total
                })
            },
        };
        let message = encode(&ServerMessage::Snapshot(snapshot));
        if message.len() > MAX_MESSAGE_BYTES {
            // Only possible with many huge components on one entity; the client would refuse it.
            // Logged sparingly: it may repeat every tick.
            metrics::counter!("snapshots_oversized_total").increment(1);
            if let Some(suppressed) = oversized.record() {
                error!(
                    "snapshot for client {client_id} is {} bytes, over {MAX_MESSAGE_BYTES}: not \
                     sent ({suppressed} more not logged)",
                    message.len()
                );
            }
            continue;
        }
        server.send_message(client_id, ServerChannel::Snapshot, message);
        sent += 1;
    }
    metrics::counter!("snapshots_total").increment(sent);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Resource, Default)]
    struct Sent(Vec<u32>);

    fn record(tick: Res<SimulationTick>, mut sent: ResMut<Sent>) {
        sent.0.push(tick.0);
    }

    #[test]
    fn a_frame_that_skips_the_multiple_still_sends_its_snapshot() {
        let mut app = App::new();
        app.insert_resource(SimulationTick(0))
            .insert_resource(SnapshotInterval(4))
            .init_resource::<Sent>()
            .add_systems(Update, record.run_if(snapshot_due));
        // A server catching up: three ticks a frame, so most multiples of 4 fall inside a frame.
        for frame in 0..7u32 {
            app.world_mut().resource_mut::<SimulationTick>().0 = frame * 3;
            app.update();
        }
        assert_eq!(
            app.world().resource::<Sent>().0,
            vec![0, 6, 9, 12, 18],
            "one snapshot for each multiple of the interval crossed, none twice"
        );
    }
}
