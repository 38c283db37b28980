//! Relevance: which entities each client gets this tick (see [`crate::server::interest`]), the
//! despawns of those that left it, and recording the changes of those some client now sees.

use bevy::prelude::*;

use super::client_state::{ClientReplication, NOT_CARRIED};
use super::client_table::{ClientEntity, EntityTable, NOT_SENT, RelevantEntity, relevant_key};
use super::fan_out;
use super::recording::RecordContext;
use super::world_record::{IN_BAND, ReplicationState};
use crate::registry::{NetId, ReplicationRegistry};

/// Works out which entities are relevant to each client for `tick` (see
/// [`crate::server::interest`]), then records the changes of those some client now sees
/// (changes nobody can see wait until somebody can), on the threads of `pool` when given. Runs
/// between [`collect_into`](super::collect_into) and [`build_payloads`](super::build_payloads).
#[cfg(any(test, feature = "internals"))]
pub fn resolve_relevance(
    clients: &mut [&mut ClientReplication],
    state: &mut ReplicationState,
    world: &World,
    tick: u32,
    pool: Option<&bevy::tasks::TaskPool>,
) {
    relevance_of_each(clients, state, tick, pool);
    materialize_relevant(
        state,
        world,
        clients.iter().map(|client| &**client),
        tick,
        pool,
    );
}

/// Each client's relevant entities for `tick`.
pub(super) fn relevance_of_each(
    clients: &mut [&mut ClientReplication],
    state: &ReplicationState,
    tick: u32,
    pool: Option<&bevy::tasks::TaskPool>,
) {
    // Without interest there is little to do per client: not worth waking other threads.
    let worth_it = clients.len() > 1 && clients.iter().any(|client| client.interest.is_some());
    let (first, rest) = fan_out::split_mut(clients, fan_out::shares(pool, worth_it));
    fan_out::run(pool, first, rest, |part| {
        let mut scratch = RelevanceScratch::default();
        for client in part {
            client.update_relevance(state, tick, &mut scratch);
        }
    });
}

/// With spatial interest: records, as of `tick`, the changes of the entities some client in
/// `clients` is now relevant to (all of them for a client without interest).
pub(super) fn materialize_relevant<'a>(
    state: &mut ReplicationState,
    world: &World,
    clients: impl IntoIterator<Item = &'a ClientReplication>,
    tick: u32,
    pool: Option<&bevy::tasks::TaskPool>,
) {
    if !state.space.enabled() {
        return; // Recorded at collection.
    }
    let registry = world.resource::<ReplicationRegistry>();
    // Marked first, then recorded in the dirty list's order (the world's, roughly): records are
    // then read in memory order, not in each client's.
    let mut everything = false;
    let mut wanted = std::mem::take(&mut state.wanted);
    wanted.resize(state.dirty.len(), false);
    for client in clients {
        if client.relevance_for == Some(tick) && client.interest.is_none() {
            everything = true;
        }
        for &dense in &client.wanted {
            if let Some(flag) = wanted.get_mut(dense as usize) {
                *flag = true;
            }
        }
    }
    let mut todo = std::mem::take(&mut state.scratch_dense);
    todo.clear();
    todo.extend(
        state
            .dirty_list
            .iter()
            .copied()
            .filter(|&dense| everything | std::mem::take(&mut wanted[dense as usize])),
    );
    state.wanted = wanted;
    let context = RecordContext {
        registry,
        world,
        tick,
        horizon: state.history_horizon.unwrap_or(0),
    };
    state.record_all(&context, &todo, pool);
    state.scratch_dense = todo;
    state.prune_dirty_list();
}

impl ClientReplication {
    /// Works out which entities are relevant to this client for `tick` (see
    /// [`crate::server::interest`]): those that left are despawned on it, those that came back
    /// will be sent whole.
    pub(super) fn update_relevance(
        &mut self,
        state: &ReplicationState,
        tick: u32,
        scratch: &mut RelevanceScratch,
    ) {
        self.settle_acks();
        self.relevance_for = Some(tick);
        self.wanted.clear();
        let Some(view) = self.interest.take() else {
            self.entities.make_dense();
            self.newest_relevance = None;
            return;
        };
        // When interest just began, everything the client has counts as what it saw, so what it
        // should no longer see is despawned on it below.
        self.entities.make_relevant();
        let EntityTable::Relevant(relevant) = &mut self.entities else {
            unreachable!("made relevant above");
        };
        let previous = self.newest_relevance;
        let next = &mut scratch.candidates;
        next.clear();
        // (A client in every room skips the lookup.)
        let room = |dense: u32| {
            view.rooms == u64::MAX
                || state
                    .rooms_of
                    .get(dense as usize)
                    .is_some_and(|rooms| rooms & view.rooms != 0)
        };
        match view.center {
            Some(center) => {
                let reach = view.radius + view.hysteresis;
                let (near, far) = (view.radius * view.radius, reach * reach);
                // In the hysteresis band: kept only if seen at the last snapshot, which the
                // merge below tells (one pass over the last list instead of a search each).
                let band = if previous.is_some() {
                    IN_BAND
                } else {
                    OUT_OF_REACH
                };
                state.space.near(center, reach, |dense, net_id, at| {
                    let mark = match at {
                        None => 0,
                        Some(at) => match at.distance_squared(center) {
                            distance if distance <= near => 0,
                            distance if distance <= far => band,
                            _ => OUT_OF_REACH,
                        },
                    };
                    if mark != OUT_OF_REACH && room(dense) {
                        next.push((net_id, dense | mark));
                    }
                });
            }
            None => next.extend(
                state
                    .in_order
                    .iter()
                    .copied()
                    .filter(|(_, dense)| room(*dense)),
            ),
        }
        for &dense in &view.always {
            if let Some(record) = state.record(dense) {
                next.push((record.net_id, dense));
            }
        }
        if !view.never.is_empty() {
            next.retain(|(_, dense)| view.never.binary_search(&(dense & !IN_BAND)).is_err());
        }
        // In id order, for the id steps (one integer key sorts faster than a pair).
        next.sort_unstable_by_key(|&(net_id, dense)| {
            (u64::from(net_id.0) << 32) | u64::from(dense)
        });
        next.dedup();
        // Merge the last list into this one: those staying keep their state, new ones start
        // unknown (those in the band are not relevant unless they stay), and those that left
        // are despawned on this client (sent whole again if they come back). An entity found
        // twice (in and out of the band, by a `always` list) sorts in band last.
        // Mostly nothing came or left since the last snapshot: then the list stays as it is,
        // unwritten.
        if !same_relevance(next, relevant) {
            self.merge_relevance(scratch);
        }
        self.newest_relevance = Some(tick);
        self.interest = Some(view);
        let EntityTable::Relevant(relevant) = &self.entities else {
            unreachable!("made relevant above");
        };
        self.wanted.extend(
            relevant
                .iter()
                .map(|&(dense, _)| dense)
                .filter(|&dense| state.is_pending(dense)),
        );
    }

    /// Merges the last relevant list with the sorted candidates (some in the band) of
    /// `scratch`: those staying keep their state, new ones start unknown, and those that left
    /// are despawned.
    fn merge_relevance(&mut self, scratch: &mut RelevanceScratch) {
        let EntityTable::Relevant(relevant) = &mut self.entities else {
            return;
        };
        let RelevanceScratch {
            candidates: next,
            merged,
        } = scratch;
        merged.clear();
        let mut despawned = false;
        let mut old = relevant.iter().peekable();
        for &(net_id, marked) in next.iter() {
            let dense = marked & !IN_BAND;
            let id = (net_id, dense);
            if merged.last().is_some_and(|last| relevant_key(last) == id) {
                continue; // Already in, without the band mark.
            }
            while let Some(left) = old.next_if(|entry| relevant_key(entry) < id) {
                if left.1.baseline != NOT_SENT {
                    self.pending_despawns.push((left.1.net_id, NOT_CARRIED));
                    despawned = true;
                }
            }
            match old.next_if(|entry| relevant_key(entry) == id) {
                Some(&staying) => merged.push(staying),
                None if marked & IN_BAND != 0 => {}
                None => merged.push((dense, ClientEntity::unknown(net_id))),
            }
        }
        for left in old {
            if left.1.baseline != NOT_SENT {
                self.pending_despawns.push((left.1.net_id, NOT_CARRIED));
                despawned = true;
            }
        }
        if despawned {
            self.pending_despawns
                .sort_unstable_by_key(|&(net_id, _)| net_id);
        }
        // Copied, not swapped: each client keeps a buffer the size of what it sees.
        relevant.clear();
        relevant.extend_from_slice(merged);
    }
}

/// Farther than a client's reach (or in its band on its first relevance): not relevant.
const OUT_OF_REACH: u32 = u32::MAX;

/// Buffers of relevance work, one per thread: a client's candidates live only while its
/// relevance is worked out, so they stay in this thread's cache instead of in every client.
#[derive(Debug, Default)]
pub(super) struct RelevanceScratch {
    /// The entities found relevant (some in the band), then sorted.
    candidates: Vec<(NetId, u32)>,
    /// The next relevant list, when it changed.
    merged: Vec<RelevantEntity>,
}

/// Whether the sorted candidates `next` (some in the band) leave the relevant list as it is:
/// every one outside the band is in it, and everything in it is among them.
fn same_relevance(next: &[(NetId, u32)], relevant: &[RelevantEntity]) -> bool {
    let mut old = relevant.iter().map(relevant_key).peekable();
    let mut last = None;
    for &(net_id, marked) in next {
        let id = (net_id, marked & !IN_BAND);
        if last == Some(id) {
            continue; // Found twice.
        }
        match old.peek() {
            Some(&key) if key == id => {
                old.next();
                last = Some(id);
            }
            Some(&key) if key < id => return false, // It left.
            _ if marked & IN_BAND != 0 => {}        // In the band, and was not seen: stays out.
            _ => return false,                      // It came.
        }
    }
    old.peek().is_none()
}

#[cfg(test)]
mod tests {
    use super::super::fan_out::PARALLEL_RECORDS;
    use super::super::test_fixtures::{
        Drift, Heading, Place, interest_server, interest_setup, interest_tick, on_client, test_view,
    };
    use super::*;
    use crate::registry::{Quantize, Replicated};
    use crate::server::replication::{SnapshotCache, build_payloads, collect_into};

    #[test]
    fn an_entity_crossing_the_border_leaves_and_comes_back_whole_without_flicker() {
        border_crossing(1);
    }

    /// The same with acknowledgements four ticks late: those of snapshots from before the
    /// entity left must not become its baseline once it is back.
    #[test]
    fn a_returning_entity_ignores_acknowledgements_from_before_it_left() {
        border_crossing(4);
    }

    fn border_crossing(lag: u32) {
        let (mut server, mut state, mut client) = interest_setup();
        let mover = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::new(50.0, 0.0))))
            .id();
        let mut cache = SnapshotCache::default();
        let mut replication = ClientReplication {
            interest: Some(test_view(Vec2::ZERO)),
            ..default()
        };
        // Out to 115 (inside the band), back to 95, out to 118, out past the band to 140,
        // and back in to 90.
        let mut path: Vec<f32> = Vec::new();
        path.extend((10..=23).map(|step| step as f32 * 5.0));
        path.extend((19..=23).rev().map(|step| step as f32 * 5.0));
        path.extend([118.0, 119.0, 118.0]);
        path.extend((24..=28).map(|step| step as f32 * 5.0));
        path.extend((18..=27).rev().map(|step| step as f32 * 5.0));
        // A quick trip out and straight back, within the acknowledgement delay.
        path.extend([
            95.0, 140.0, 90.0, 91.0, 92.0, 93.0, 94.0, 95.0, 96.0, 97.0, 98.0,
        ]);
        let mut present_before = false;
        let mut left = false;
        for (tick, x) in (1u32..).zip(path) {
            server.world_mut().get_mut::<Place>(mover).unwrap().0.x = x;
            interest_tick(
                &mut server,
                &mut state,
                &mut cache,
                &mut [(&mut replication, &mut client)],
                tick,
                lag,
            );
            let local = on_client(&client, &state, mover);
            let present = local.is_some();
            if x <= 100.0 {
                assert!(present, "tick {tick}: inside the radius at {x}");
                let seen = client.world().get::<Place>(local.unwrap()).unwrap();
                assert_eq!(
                    seen.quantize(),
                    Place(Vec2::new(x, 0.0)).quantize(),
                    "current state"
                );
            } else if x <= 120.0 {
                assert_eq!(present, present_before, "tick {tick}: flickered at {x}");
            } else {
                assert!(
                    !present,
                    "tick {tick}: past the band at {x} it is despawned"
                );
                left = true;
            }
            present_before = present;
        }
        assert!(left && present_before, "it left and came back");
    }

    /// With spatial interest, what moves where no client sees it is not recorded, and reaches
    /// the first client that comes near with its current state.
    #[test]
    fn changes_nobody_sees_wait_and_arrive_current() {
        let (mut server, mut state, mut client) = interest_setup();
        let near = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::new(10.0, 0.0)), Heading(0.0)))
            .id();
        let far = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::new(1000.0, 0.0)), Heading(0.0)))
            .id();
        let mut cache = SnapshotCache::default();
        let mut replication = ClientReplication {
            interest: Some(test_view(Vec2::ZERO)),
            ..default()
        };
        let step = |server: &mut App, tick: u32| {
            for entity in [near, far] {
                let mut place = server.world_mut().get_mut::<Place>(entity).unwrap();
                place.0.x += 0.5;
                place.0.y = tick as f32;
                server.world_mut().get_mut::<Heading>(entity).unwrap().0 += 0.1;
            }
        };
        for tick in 1..=30 {
            step(&mut server, tick);
            interest_tick(
                &mut server,
                &mut state,
                &mut cache,
                &mut [(&mut replication, &mut client)],
                tick,
                1,
            );
            assert_eq!(
                state.pending_changes(),
                1,
                "tick {tick}: only the far one waits"
            );
        }
        assert!(on_client(&client, &state, far).is_none());
        assert!(on_client(&client, &state, near).is_some());

        // The client goes where the far one is: it arrives as it is now.
        replication.interest = Some(test_view(Vec2::new(1000.0, 0.0)));
        step(&mut server, 31);
        interest_tick(
            &mut server,
            &mut state,
            &mut cache,
            &mut [(&mut replication, &mut client)],
            31,
            1,
        );
        let local = on_client(&client, &state, far).expect("the far one arrived");
        let (seen_place, seen_heading) = (
            client.world().get::<Place>(local).unwrap(),
            client.world().get::<Heading>(local).unwrap(),
        );
        let (place, heading) = (
            server.world().get::<Place>(far).unwrap(),
            server.world().get::<Heading>(far).unwrap(),
        );
        assert_eq!(seen_place.quantize(), place.quantize());
        assert_eq!(seen_heading.quantize(), heading.quantize());
        assert_eq!(state.pending_changes(), 1, "now the near one waits");
    }

    /// A client that got the whole world before its interest began (its first snapshot, say)
    /// loses what it no longer sees.
    #[test]
    fn what_a_client_no_longer_sees_when_interest_begins_is_despawned_on_it() {
        let (mut server, mut state, mut client) = interest_setup();
        let near = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::new(10.0, 0.0))))
            .id();
        let far = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::new(900.0, 0.0))))
            .id();
        let mut cache = SnapshotCache::default();
        let mut replication = ClientReplication::default();
        let present = |client: &App, state: &ReplicationState, entity| {
            on_client(client, state, entity).is_some()
        };
        for tick in 1..3 {
            interest_tick(
                &mut server,
                &mut state,
                &mut cache,
                &mut [(&mut replication, &mut client)],
                tick,
                1,
            );
        }
        assert!(present(&client, &state, near) && present(&client, &state, far));
        replication.interest = Some(test_view(Vec2::ZERO));
        for tick in 3..8 {
            interest_tick(
                &mut server,
                &mut state,
                &mut cache,
                &mut [(&mut replication, &mut client)],
                tick,
                1,
            );
        }
        assert!(present(&client, &state, near), "still seen");
        assert!(
            !present(&client, &state, far),
            "out of sight: despawned on the client"
        );
    }

    #[test]
    fn a_room_scoped_entity_never_reaches_a_client_outside_the_room() {
        use crate::server::interest::{InterestView, Rooms};

        let (mut server, mut state, mut inside) = interest_setup();
        let (_, _, mut outside) = interest_setup();
        let secret = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::ZERO), Rooms(0b01)))
            .id();
        let public = server
            .world_mut()
            .spawn((Replicated, Place(Vec2::X), Heading(1.0)))
            .id();
        let view = |rooms| InterestView {
            rooms,
            ..test_view(Vec2::ZERO)
        };
        let mut member = ClientReplication {
            interest: Some(view(0b01)),
            ..default()
        };
        let mut stranger = ClientReplication {
            interest: Some(view(0b10)),
            ..default()
        };
        let mut cache = SnapshotCache::default();
        for tick in 1..60u32 {
            server.world_mut().get_mut::<Place>(secret).unwrap().0.x = tick as f32;
            interest_tick(
                &mut server,
                &mut state,
                &mut cache,
                &mut [(&mut member, &mut inside), (&mut stranger, &mut outside)],
                tick,
                1,
            );
            // The stranger's bytes, decoded: never the secret entity.
            assert!(
                on_client(&outside, &state, secret).is_none(),
                "tick {tick}: the secret reached the stranger"
            );
        }
        assert!(on_client(&outside, &state, public).is_some());
        assert!(on_client(&inside, &state, secret).is_some());
    }

    /// With spatial interest the relevance, the recording of changes and the snapshots run on
    /// several threads; the bytes are the same as on one.
    #[test]
    fn parallel_and_single_threaded_interest_are_byte_identical() {
        use crate::server::interest::InterestView;

        let (mut app, _) = interest_server(150.0, 20.0);
        let world = app.world_mut();
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..12_000 {
            let at = Vec2::new(rng.f32() * 1000.0, rng.f32() * 1000.0);
            world.spawn((Replicated, Place(at), Heading(0.0), Drift(Vec2::X)));
        }
        let mut states = [
            ReplicationState::default(),
            ReplicationState::default(),
            ReplicationState::default(),
        ];
        let mut caches = [
            SnapshotCache::default(),
            SnapshotCache::default(),
            SnapshotCache::default(),
        ];
        let client = |index: usize| ClientReplication {
            interest: Some(InterestView {
                center: Some(Vec2::splat(100.0 + index as f32 * 150.0)),
                radius: 150.0,
                hysteresis: 20.0,
                rooms: u64::MAX,
                ..default()
            }),
            ..default()
        };
        let mut clients: [Vec<ClientReplication>; 3] = [
            (0..6).map(client).collect(),
            (0..6).map(client).collect(),
            (0..6).map(client).collect(),
        ];
        // Two threads, and more threads than some ticks have shares of work for.
        let pool = bevy::tasks::TaskPoolBuilder::new().num_threads(2).build();
        let many = bevy::tasks::TaskPoolBuilder::new().num_threads(64).build();
        let mut recorded_in_parallel = false;
        for tick in 1..60u32 {
            let world = app.world_mut();
            world.increment_change_tick();
            let mut bodies = world.query::<(&mut Place, &mut Heading)>();
            for (index, (mut place, mut heading)) in bodies.iter_mut(world).enumerate() {
                // From every body to one in ten: shares of work that do not divide evenly.
                if (index as u32 + tick).is_multiple_of(1 + tick % 10) {
                    place.0.x += 3.5;
                    heading.0 += 0.01;
                }
            }
            world.increment_change_tick();
            let mut payloads: Vec<Vec<Vec<u8>>> = Vec::new();
            for (run, pool) in [None, Some(&pool), Some(&many)].into_iter().enumerate() {
                let state = &mut states[run];
                // Both runs see the same changes: each collects against its own last run.
                collect_into(state, world, tick);
                let mut refs: Vec<&mut ClientReplication> = clients[run].iter_mut().collect();
                for (index, client) in refs.iter_mut().enumerate() {
                    if tick > 1 && (tick as usize + index).is_multiple_of(2) {
                        client.acknowledge(tick - 1);
                    }
                }
                let todo = state.dirty_list.len();
                resolve_relevance(&mut refs, state, world, tick, pool);
                recorded_in_parallel |= pool.is_some() && todo >= PARALLEL_RECORDS;
                payloads.push(build_payloads(
                    &mut refs,
                    state,
                    &mut caches[run],
                    tick,
                    pool,
                ));
            }
            assert_eq!(
                payloads[0], payloads[1],
                "tick {tick}: the threads changed the bytes"
            );
            assert!(
                payloads[0].iter().all(|payload| payload.len() > 20),
                "each sees movers"
            );
        }
        assert!(
            recorded_in_parallel,
            "changes were recorded on several threads"
        );
    }

    /// The shortcut for an unchanged relevant list agrees with the merge: nothing came (outside
    /// the band), nothing left, whatever the duplicates and band entities not seen before.
    #[test]
    fn an_unchanged_relevant_list_is_recognised() {
        let relevant: Vec<RelevantEntity> = [(1, 10), (2, 20), (3, 30)]
            .map(|(net_id, dense)| (dense, ClientEntity::unknown(NetId(net_id))))
            .to_vec();
        let id = |net_id: u32, dense: u32| (NetId(net_id), dense);
        let band = |net_id: u32, dense: u32| (NetId(net_id), dense | IN_BAND);
        let same = |next: &[(NetId, u32)]| same_relevance(next, &relevant);
        assert!(same(&[id(1, 10), id(2, 20), id(3, 30)]));
        // Seen before and now in the band; found twice; a stranger in the band stays out.
        assert!(same(&[id(1, 10), band(2, 20), id(3, 30)]));
        assert!(same(&[
            id(1, 10),
            id(1, 10),
            id(2, 20),
            band(2, 20),
            id(3, 30)
        ]));
        assert!(same(&[
            band(0, 5),
            id(1, 10),
            id(2, 20),
            band(2, 25),
            id(3, 30),
            band(4, 40)
        ]));
        // One came, one left (last, first, in the middle).
        assert!(!same(&[id(1, 10), id(2, 20), id(3, 30), id(4, 40)]));
        assert!(!same(&[id(0, 5), id(1, 10), id(2, 20), id(3, 30)]));
        assert!(!same(&[id(1, 10), id(2, 20)]));
        assert!(!same(&[id(2, 20), id(3, 30)]));
        assert!(!same(&[id(1, 10), id(3, 30)]));
        assert!(!same(&[]));
        assert!(same_relevance(&[band(7, 70)], &[]));
    }
}
