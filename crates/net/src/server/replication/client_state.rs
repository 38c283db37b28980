//! What the server keeps per client: its acknowledgement table, pending despawns, snapshots in
//! flight, and how its acknowledgements are taken in.

use std::collections::VecDeque;

use bevy::prelude::*;

use super::client_table::{ClientEntity, EntityTable, NOT_SENT, UNACKED};
use crate::registry::NetId;
use crate::server::interest;

/// Snapshots remembered per client while waiting for their ack (about one second at 60 Hz). An
/// ack for an older snapshot still clears the despawns it delivered, but no longer advances
/// entity baselines.
pub const IN_FLIGHT_SNAPSHOTS: usize = 64;

/// Most despawns one snapshot carries. A despawn rides in every snapshot from the first that
/// carries it until one of those is acknowledged, so at most this many ride at once; the rest wait
/// their turn (in id order), and a snapshot's despawn list stays within about 3 KiB whatever a
/// client leaves unacknowledged.
pub const MAX_CARRIED_DESPAWNS: usize = 1024;

/// The "first carried" tick of a pending despawn no snapshot has carried yet.
pub(super) const NOT_CARRIED: u32 = u32::MAX;

/// What one client has acknowledged, entity by entity.
#[derive(Component, Debug, Default)]
pub struct ClientReplication {
    /// Indexed by the record's dense index.
    pub(super) entities: EntityTable,
    /// Despawns not acknowledged yet, sorted by id, each stored once with the tick of the first
    /// snapshot that carried it ([`NOT_CARRIED`] until one does). Every snapshot carries all the
    /// carried ones (at most [`MAX_CARRIED_DESPAWNS`]), so an acknowledged snapshot of that tick
    /// or later delivered it.
    pub(super) pending_despawns: Vec<(NetId, u32)>,
    /// Snapshots sent and not yet acknowledged (at most [`IN_FLIGHT_SNAPSHOTS`]): which entities
    /// each carried.
    pub(super) in_flight: VecDeque<SentSnapshot>,
    /// Emptied `SentSnapshot::entities` buffers, reused to avoid an allocation per tick.
    pub(super) spare: Vec<Vec<(u32, NetId)>>,
    /// Tick of the first snapshot built for this client.
    pub(super) first_sent: Option<u32>,
    /// Tick of the newest snapshot built for this client.
    pub(super) newest_sent: Option<u32>,
    /// Newest snapshot tick the client acknowledged, even one no longer in flight.
    pub(super) newest_ack: Option<u32>,
    /// Newest acknowledged snapshot that was still in flight: the acks that move baselines. A
    /// client whose acks always name snapshots already forgotten (acking `newest + 1` every tick,
    /// say) gets everything encoded afresh every tick, so it is timed out by this, not by
    /// `newest_ack`.
    pub(super) newest_landed: Option<u32>,
    /// What this client may see (`None`: everything).
    pub(crate) interest: Option<interest::InterestView>,
    /// The snapshot tick `relevant` was worked out for.
    pub(super) newest_relevance: Option<u32>,
    /// The entity total this client was last told.
    pub(super) told_total: Option<u32>,
    /// The snapshot tick relevance was last resolved for.
    pub(super) relevance_for: Option<u32>,
    /// Relevant entities with changes not recorded yet (spatial interest only).
    pub(super) wanted: Vec<u32>,
    /// Snapshots acknowledged since the last snapshot, oldest first (taken from `in_flight`, so
    /// at most [`IN_FLIGHT_SNAPSHOTS`]), applied before the next one is built.
    pub(super) settling: Vec<SentSnapshot>,
    /// Entities the last snapshot had news for but left out (over budget), sorted by
    /// `(net id, dense)`, with how many snapshots in a row left each out: highest goes first.
    /// Empty whenever a snapshot carries everything.
    pub(super) waiting: Vec<((NetId, u32), u32)>,
    /// The size of the last payload built for this client.
    pub(super) last_payload_bytes: usize,
}

#[derive(Debug)]
pub(super) struct SentSnapshot {
    pub(super) tick: u32,
    pub(super) entities: Vec<(u32, NetId)>,
}

/// What the server stores for one client's replication, for tests and monitoring. Each figure is
/// bounded: see [`ClientReplication::footprint`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicationFootprint {
    /// Despawn entries stored (every copy counted): despawns the client has not acknowledged.
    pub despawn_entries: usize,
    /// Those of them every snapshot carries now (at most [`MAX_CARRIED_DESPAWNS`]).
    pub carried_despawns: usize,
    /// Snapshots remembered while waiting for their ack (at most [`IN_FLIGHT_SNAPSHOTS`]).
    pub in_flight_snapshots: usize,
    /// Entity entries across those snapshots (at most one per replicated entity per snapshot).
    pub in_flight_entities: usize,
    /// Newest snapshot tick the client acknowledged.
    pub newest_ack: Option<u32>,
    /// Newest acknowledged snapshot tick that was still in flight (the acks that count).
    pub newest_landed: Option<u32>,
    /// Bytes of the last snapshot payload built for the client.
    pub last_payload_bytes: usize,
}

impl ClientReplication {
    /// What this client's replication stores right now; cheap (no walk over entities, one over
    /// its pending despawns).
    pub fn footprint(&self) -> ReplicationFootprint {
        ReplicationFootprint {
            despawn_entries: self.pending_despawns.len(),
            carried_despawns: self
                .pending_despawns
                .iter()
                .filter(|(_, first)| *first != NOT_CARRIED)
                .count(),
            in_flight_snapshots: self.in_flight.len(),
            in_flight_entities: self.in_flight.iter().map(|sent| sent.entities.len()).sum(),
            newest_ack: self.newest_ack,
            newest_landed: self.newest_landed,
            last_payload_bytes: self.last_payload_bytes,
        }
    }

    /// Ticks from this client's newest ack that landed among the snapshots in flight (or,
    /// before one did, from its first snapshot) to `now`; `None` until a snapshot was built for
    /// it.
    pub(crate) fn ack_age(&self, now: u32) -> Option<u32> {
        Some(now.saturating_sub(self.newest_landed.or(self.first_sent)?))
    }

    /// Records that the client applied the snapshot of `tick`: every entity that snapshot carried
    /// is now up to date on the client as of `tick`, and every despawn first sent at or before
    /// `tick` arrived. Linear in the pending despawns and the snapshots in flight.
    pub fn acknowledge(&mut self, tick: u32) {
        if self.newest_ack.is_some_and(|newest| tick <= newest)
            || self.newest_sent.is_none_or(|sent| tick > sent)
        {
            return; // A duplicate, older than what we know, or never sent: nothing new.
        }
        self.newest_ack = Some(tick);
        self.pending_despawns.retain(|&(_, first)| first > tick);
        let Some(index) = self.in_flight.iter().position(|sent| sent.tick == tick) else {
            return; // Older than the snapshots remembered: baselines stay where they are.
        };
        self.newest_landed = Some(tick);
        // What the snapshot carried is brought up to date later, with the client's other work
        // (on the snapshot threads): an ack costs the receiving thread almost nothing.
        let sent = self.in_flight.remove(index).expect("index is in range");
        self.settling.push(sent);
        // Older snapshots can no longer teach us anything the client does not have.
        while self.in_flight.front().is_some_and(|sent| sent.tick < tick) {
            if let Some(mut old) = self.in_flight.pop_front() {
                old.entities.clear();
                self.spare.push(old.entities);
            }
        }
    }

    /// Applies the acknowledgements received since the last snapshot: every entity an
    /// acknowledged snapshot carried is up to date on the client as of its tick.
    pub(super) fn settle_acks(&mut self) {
        let mut settling = std::mem::take(&mut self.settling);
        for mut sent in settling.drain(..) {
            self.settle(&sent);
            sent.entities.clear();
            self.spare.push(sent.entities);
        }
        self.settling = settling;
    }

    fn settle(&mut self, sent: &SentSnapshot) {
        let tick = sent.tick;
        let advance = |entity: &mut ClientEntity| {
            if entity.baseline != NOT_SENT && tick >= entity.since {
                entity.baseline = match entity.baseline {
                    UNACKED => tick,
                    baseline => baseline.max(tick),
                };
            }
        };
        self.entities.each_of(&sent.entities, advance);
    }

    /// The newest snapshot tick this client acknowledged.
    pub fn newest_ack(&self) -> Option<u32> {
        self.newest_ack
    }

    /// The entities this client should hold once it is up to date, in id order: every
    /// replicated entity without interest management, those relevant to it with it.
    pub fn should_hold(&self, state: &super::ReplicationState) -> Vec<NetId> {
        let mut ids: Vec<NetId> = match &self.entities {
            EntityTable::Dense(_) => state.in_order.iter().map(|&(net_id, _)| net_id).collect(),
            EntityTable::Relevant(relevant) => {
                relevant.iter().map(|(_, entity)| entity.net_id).collect()
            }
        };
        ids.sort_unstable();
        ids
    }

    /// Entities relevant to this client at its last snapshot (all of them without interest
    /// management: then 0).
    pub fn relevant_count(&self) -> usize {
        self.entities.relevant_len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::{Place, test_registry};
    use super::*;
    use crate::registry::Replicated;
    use crate::server::replication::{ReplicationState, SnapshotCache, collect_into};

    /// Drives `ticks` ticks of a world where `per_tick` replicated entities spawn each tick and
    /// despawn the next; `ack(tick)` says which snapshot (if any) the client acknowledges before
    /// each tick's snapshot is built. Checks `check(tick, client)` after each build.
    fn churn(
        ticks: u32,
        per_tick: usize,
        client: &mut ClientReplication,
        mut ack: impl FnMut(u32) -> Option<u32>,
        mut check: impl FnMut(u32, &ClientReplication),
    ) {
        let mut app = App::new();
        app.add_plugins(test_registry);
        let world = app.world_mut();
        let mut state = ReplicationState::default();
        let mut cache = SnapshotCache::default();
        let mut alive = Vec::new();
        for tick in 0..ticks {
            for entity in alive.drain(..) {
                world.despawn(entity);
            }
            for i in 0..per_tick {
                let position = Place(Vec2::new(i as f32, tick as f32));
                alive.push(world.spawn((Replicated, position)).id());
            }
            world.increment_change_tick();
            collect_into(&mut state, world, tick);
            if let Some(acked) = ack(tick) {
                client.acknowledge(acked);
            }
            client.build_payload(&state, &mut cache, tick);
            check(tick, client);
        }
    }

    #[test]
    fn a_client_that_never_acks_stores_each_despawn_once_and_a_late_ack_clears_them() {
        let (ticks, per_tick) = (300, 5);
        let mut client = ClientReplication::default();
        churn(
            ticks,
            per_tick,
            &mut client,
            |_| None,
            |tick, client| {
                let footprint = client.footprint();
                // One entry per despawn so far (those of ticks 1..=tick), not one per despawn
                // per snapshot in flight (the old layout held up to 64 copies of each).
                assert_eq!(footprint.despawn_entries, per_tick * tick as usize);
                assert_eq!(
                    footprint.in_flight_snapshots,
                    (tick as usize + 1).min(IN_FLIGHT_SNAPSHOTS)
                );
                assert!(footprint.in_flight_entities <= IN_FLIGHT_SNAPSHOTS * per_tick);
                assert_eq!(client.ack_age(tick), Some(tick), "silent since tick 0");
            },
        );
        let last = ticks - 1;

        // A late ack, older than every snapshot still in flight: it proves the client has every
        // despawn first sent up to then, so exactly those go (one pass over the list).
        client.acknowledge(100);
        let footprint = client.footprint();
        assert_eq!(
            footprint.despawn_entries,
            per_tick * (last - 100) as usize,
            "the despawns of ticks 101..={last} remain"
        );
        assert_eq!(footprint.newest_ack, Some(100));
        assert_eq!(footprint.in_flight_snapshots, IN_FLIGHT_SNAPSHOTS);
        assert_eq!(
            client.ack_age(last),
            Some(last),
            "an ack of a snapshot no longer in flight moves no baseline, so it does not count"
        );

        // Older or repeated acks, and acks of snapshots never sent, change nothing.
        for stale in [0, 99, 100, last + 1, u32::MAX] {
            client.acknowledge(stale);
            assert_eq!(client.footprint(), footprint, "ack {stale}");
        }

        // The newest snapshot acknowledged: nothing in flight, and only the despawns that never
        // fit a snapshot (past the first MAX_CARRIED_DESPAWNS) still wait their turn.
        client.acknowledge(last);
        let footprint = client.footprint();
        assert_eq!(footprint.carried_despawns, 0);
        assert_eq!(
            footprint.despawn_entries,
            per_tick * last as usize - MAX_CARRIED_DESPAWNS
        );
        assert_eq!(footprint.in_flight_snapshots, 0);
        assert_eq!(footprint.in_flight_entities, 0);
        assert_eq!(client.ack_age(last), Some(0));
    }

    #[test]
    fn an_acking_client_keeps_only_the_newest_despawns() {
        let per_tick = 5;
        let mut client = ClientReplication::default();
        assert_eq!(
            client.ack_age(0),
            None,
            "no snapshot yet: nothing to acknowledge"
        );
        churn(
            200,
            per_tick,
            &mut client,
            |tick| tick.checked_sub(1),
            |tick, client| {
                let footprint = client.footprint();
                let expected = if tick == 0 { 0 } else { per_tick };
                assert_eq!(footprint.despawn_entries, expected, "tick {tick}");
                assert_eq!(footprint.in_flight_snapshots, 1);
                assert!(client.ack_age(tick).is_some_and(|age| age <= 1));
            },
        );
    }
}
