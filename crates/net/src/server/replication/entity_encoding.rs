//! One entity's wire encoding for a client at a given baseline: its header (what changed or
//! went since the baseline, absolute or delta) and its component bits.

use bevy::prelude::*;

use super::world_record::{EntityRecord, HISTORY_TICKS, SlotValue};
use crate::bits::BitWriter;
use crate::registry::{field_delta, predicted};
use crate::snapshot_format::EntityHeader;

/// The header for one entity, or `None` if the client already has everything.
pub(super) fn entity_header(
    record: &EntityRecord,
    baseline: Option<u32>,
    tick: u32,
) -> Option<EntityHeader> {
    if let Some(baseline) = baseline {
        // Nothing changed since the client's baseline, however old: it is up to date.
        if record.slots.iter().all(|slot| slot.changed_at <= baseline) {
            return None;
        }
    }
    // Quantized deltas need the baseline value: a baseline older than the history (or the same
    // tick, which cannot be encoded) means absolute values. Serde values are always whole, so an
    // entity whose changes are all serde needs no history, however old its baseline. (One pass
    // over the slots: this runs for every changed entity every tick.)
    let mut needs_history = false;
    let usable = baseline.filter(|&baseline| {
        let mut reachable = true;
        for slot in record
            .slots
            .iter()
            .filter(|slot| slot.changed_at > baseline)
        {
            needs_history |= matches!(slot.value, SlotValue::Quantized(_));
            reachable &= slot.history.is_empty() || slot.value_at(baseline).is_some();
        }
        !needs_history || ((1..=HISTORY_TICKS).contains(&tick.wrapping_sub(baseline)) && reachable)
    });
    let needs_history = usable.is_some() && needs_history;
    let mut header = EntityHeader {
        back: match usable {
            None => 0,
            // Any non-zero `back` means "delta"; without quantized changes its value is unused.
            Some(_) if !needs_history => 1,
            Some(baseline) => tick - baseline,
        },
        ..default()
    };
    for slot in &record.slots {
        if usable.is_some_and(|baseline| slot.changed_at <= baseline) {
            continue;
        }
        match slot.value {
            SlotValue::Removed => header.removed.insert(slot.kind),
            _ => header.changed.insert(slot.kind),
        }
    }
    // An absolute entity is sent even with no component at all: it spawns the entity.
    Some(header)
}

pub(super) fn write_components(
    writer: &mut BitWriter,
    record: &EntityRecord,
    header: &EntityHeader,
    tick: u32,
    kinds: &[(usize, [u32; 4], Option<u8>)],
    tick_rate: u16,
) {
    let baseline = (header.back > 0).then(|| tick - header.back);
    for slot in &record.slots {
        if !header.changed.contains(slot.kind) {
            continue;
        }
        match &slot.value {
            SlotValue::Bytes(bytes) => writer.write_bytes(bytes),
            SlotValue::Quantized(value) => {
                let (fields, wrap, rate_kind) = kinds[usize::from(slot.kind)];
                let base = baseline.and_then(|baseline| {
                    let base = slot.value_at(baseline).flatten()?;
                    // Moved on by its rate as of the baseline, which the client has too.
                    let rate = rate_kind.and_then(|kind| {
                        let index = record.slots.binary_search_by_key(&kind, |s| s.kind).ok()?;
                        record.slots[index].value_at(baseline).flatten()
                    });
                    Some(predicted(base, rate, header.back, tick_rate, fields, wrap))
                });
                for field in 0..fields {
                    match base {
                        Some(base) => {
                            writer.write_signed(field_delta(
                                value[field],
                                base[field],
                                wrap[field],
                            ));
                        }
                        None => writer.write_signed(value[field]),
                    }
                }
            }
            SlotValue::Removed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::{Drift, Heading, Place};
    use crate::registry::{AppReplicateExt, Quantize, Replicated, ReplicationRegistry};
    use crate::server::replication::{
        ClientReplication, ReplicationState, SnapshotCache, collect_into,
    };
    use bevy::prelude::*;

    /// Bodies whose `Place` is coded against where their `Drift` takes them, sent to a client
    /// that acknowledges late and loses snapshots: every snapshot it applies gives it exactly
    /// the server's quantized values, through bounces, stops and new drifts.
    #[test]
    fn rate_coded_values_decode_exactly_under_loss_and_late_acks() {
        use crate::client::ClientSession;
        use crate::client::replica::{ReplicaHistory, ServerEntityMap, apply_snapshot};
        use crate::protocol::Snapshot;

        let registry = |app: &mut App| {
            app.init_resource::<ReplicationRegistry>()
                .replicate_quantized_with_rate::<Place, Drift>()
                .replicate_quantized::<Drift>()
                .replicate_quantized::<Heading>();
        };
        let mut server = App::new();
        server.add_plugins(registry);
        let mut client = App::new();
        client
            .add_plugins(registry)
            .init_resource::<ClientSession>()
            .init_resource::<ServerEntityMap>()
            .init_resource::<ReplicaHistory>();
        let world = server.world_mut();
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..40 {
            let at = Vec2::new(rng.f32() * 800.0 - 400.0, rng.f32() * 800.0 - 400.0);
            let drift = Vec2::new(rng.f32() * 200.0 - 100.0, rng.f32() * 200.0 - 100.0);
            world.spawn((Replicated, Place(at), Drift(drift), Heading(0.0)));
        }
        let mut state = ReplicationState::default();
        let mut cache = SnapshotCache::default();
        let mut replication = ClientReplication::default();
        let mut applied = 0;
        for tick in 1..400u32 {
            let world = server.world_mut();
            world.increment_change_tick();
            let mut bodies = world.query::<(&mut Place, &mut Drift, &mut Heading)>();
            for (mut place, mut drift, mut heading) in bodies.iter_mut(world) {
                place.0 += drift.0 / 60.0;
                if place.0.abs().max_element() > 400.0 {
                    drift.0 = -drift.0; // A bounce: the rate changes.
                }
                if rng.u32(0..100) == 0 {
                    drift.0 = Vec2::ZERO; // A stop.
                } else if rng.u32(0..100) == 0 {
                    drift.0 = Vec2::new(rng.f32() * 100.0, -50.0);
                }
                heading.0 += 0.01;
            }
            world.increment_change_tick();
            collect_into(&mut state, world, tick);
            // Acks arrive three ticks late, and one in four snapshots is lost.
            if tick > 3 && (tick - 3) % 4 != 0 {
                replication.acknowledge(tick - 3);
            }
            let payload = replication.build_payload(&state, &mut cache, tick);
            if tick % 4 == 0 {
                continue;
            }
            let snapshot = Snapshot {
                tick,
                last_input: None,
                payload,
                clock: 0,
                buffer: 0,
                total: None,
            };
            apply_snapshot(client.world_mut(), &snapshot).expect("a snapshot we built decodes");
            applied += 1;
            let map = client.world().resource::<ServerEntityMap>();
            for (entity, place) in server
                .world_mut()
                .query::<(Entity, &Place)>()
                .iter(server.world())
            {
                let net_id = state.net_id(entity).expect("collected");
                let local = map.get(net_id).expect("replicated");
                let seen = client.world().get::<Place>(local).expect("a place");
                assert_eq!(
                    seen.quantize(),
                    place.quantize(),
                    "tick {tick}: the client decoded another place"
                );
            }
        }
        assert!(applied > 250);
    }
}
