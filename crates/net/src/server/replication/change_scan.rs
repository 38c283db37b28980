//! The change collection: what changed in the world since the previous collection (spawns,
//! despawns, removals, rooms, places, changed components), found by walking change ticks.

use bevy::prelude::*;

use super::recording::RecordContext;
use super::world_record::{ReplicationState, SlotValue};
use crate::registry::{
    Encoding, Replicated, ReplicationRegistry, ReplicationRemovals, ScanCache, scan_changed,
};
use crate::server::interest;
use crate::snapshot_format::KindSet;

/// The change collection: finds what changed in `world` since the previous call, by walking
/// each tracked component's change ticks (not each entity), and records it for `tick`.
///
/// Spawns, despawns, removals, rooms and places are taken in at once. The new values of changed
/// components are recorded at once too, unless spatial interest is registered: then an entity
/// only marks what changed, and its values are recorded when a client it is relevant to needs
/// them (`resolve_relevance`). A large world then costs per tick what
/// its clients see, not what moves in it.
pub fn collect_into(state: &mut ReplicationState, world: &mut World, tick: u32) {
    let removals = std::mem::take(&mut world.get_resource_or_init::<ReplicationRemovals>().0);
    state
        .space
        .use_locator(world.get_resource::<interest::SpatialLocator>());
    let this_run = world.change_tick();
    let world = &*world;
    let registry = world.resource::<ReplicationRegistry>();
    if state.kinds.len() != registry.len() {
        state.kinds = registry.quantized_kinds();
        state.scans.resize_with(registry.len(), ScanCache::default);
    }
    if state.archetype_kinds_for != registry.len() {
        state.archetypes.clear();
        state.archetype_kinds_for = registry.len();
    }
    let last_run = state.last_run;
    let replicated_id = world.component_id::<Replicated>();
    let rooms_id = world.component_id::<interest::Rooms>();
    state.moved.clear();
    state.changed_now.clear();
    state.despawned.clear();

    // Removals first: what was removed and inserted again since is found by the scans below.
    let mut freed = Vec::new();
    for &(entity, component) in &removals {
        if let Some((kind, rule)) = registry
            .iter()
            .find(|(_, rule)| rule.component_id == component)
        {
            (rule.forget)(&mut state.scans[usize::from(kind)], entity);
        }
        let Some(dense) = state.dense_of(entity) else {
            continue; // Never collected, or already gone.
        };
        if Some(component) == replicated_id {
            let Some(record) = state.records[dense as usize].take() else {
                continue;
            };
            state.despawned.push((record.net_id, dense));
            // Free for reuse from the next collection on, after clients saw this despawn.
            freed.push(dense);
            state.by_index[entity.index_u32() as usize] = None;
            state.moved.push((dense, record.net_id, None));
            state.space.forget(dense);
            state.dirty[dense as usize] = KindSet::default();
        } else if Some(component) == rooms_id {
            state.rooms_of[dense as usize] = u64::MAX;
        } else if Some(component) == state.space.located()
            && let Some(record) = state.records[dense as usize].as_mut()
            && record.location.is_some()
        {
            record.location = None;
            state.moved.push((dense, record.net_id, None));
        }
        if let Some(kind) = registry
            .iter()
            .position(|(_, rule)| rule.component_id == component)
        {
            state.mark_dirty(dense, kind as u8);
        }
    }

    // Spawns: a new record, with the kinds, rooms and place the entity has.
    let mut spawned = std::mem::take(&mut state.scratch_entities);
    spawned.clear();
    let mut spawn_scan = std::mem::take(&mut state.spawn_scan);
    // (`Replicated` is never written, so its change tick is when it was added.)
    scan_changed::<Replicated>(world, &mut spawn_scan, last_run, |entity, _| {
        spawned.push(entity);
    });
    state.spawn_scan = spawn_scan;
    let mut archetypes = std::mem::take(&mut state.archetypes);
    for &entity in &spawned {
        if state.dense_of(entity).is_some() {
            continue;
        }
        let Ok(entity_ref) = world.get_entity(entity) else {
            continue;
        };
        let dense = state.add_record(entity);
        let present = archetypes
            .entry(entity_ref.archetype().id())
            .or_insert_with(|| {
                registry
                    .iter()
                    .filter(|(_, rule)| entity_ref.contains_id(rule.component_id))
                    .map(|(kind, _)| kind)
                    .collect()
            });
        for &kind in present.iter() {
            state.mark_dirty(dense, kind);
        }
        if let Some(rooms) = entity_ref.get::<interest::Rooms>() {
            state.rooms_of[dense as usize] = rooms.0;
        }
        let location = state.space.locate(&entity_ref);
        if let Some(record) = state.records[dense as usize].as_mut() {
            record.location = location;
            state.moved.push((dense, record.net_id, location));
        }
    }
    state.archetypes = archetypes;

    // Changed components, kind by kind: each a walk down its change ticks. Without spatial
    // interest, quantized values are recorded on the way.
    let lazy = state.space.enabled();
    let mut values = std::mem::take(&mut state.scratch_values);
    let horizon = state.history_horizon.unwrap_or(0);
    for (kind, rule) in registry.iter() {
        if let (false, Encoding::Quantized { changed_values, .. }) = (lazy, rule.encoding) {
            values.clear();
            changed_values(
                world,
                &mut state.scans[usize::from(kind)],
                last_run,
                &mut values,
            );
            for &(entity, quantized) in &values {
                let Some(dense) = state.dense_of(entity) else {
                    continue;
                };
                let at = dense as usize;
                if let Some(record) = state.records[at].as_mut()
                    && record.set(kind, SlotValue::Quantized(quantized), tick, horizon)
                    && state.last_changed[at] != tick
                {
                    state.last_changed[at] = tick;
                    state.changed_now.push(dense);
                }
            }
            continue;
        }
        spawned.clear();
        (rule.changed)(
            world,
            &mut state.scans[usize::from(kind)],
            last_run,
            &mut spawned,
        );
        for &entity in &spawned {
            if let Some(dense) = state.dense_of(entity) {
                state.mark_dirty(dense, kind);
            }
        }
    }
    state.scratch_entities = spawned;
    state.scratch_values = values;

    // Rooms and places that changed.
    let mut rooms_scan = std::mem::take(&mut state.rooms_scan);
    scan_changed::<interest::Rooms>(world, &mut rooms_scan, last_run, |entity, rooms| {
        if let Some(dense) = state.dense_of(entity) {
            state.rooms_of[dense as usize] = rooms.0;
        }
    });
    state.rooms_scan = rooms_scan;
    if let Some(scan) = state.space.place_scan() {
        let mut cache = std::mem::take(&mut state.space.scan_cache);
        let mut places = std::mem::take(&mut state.space.scratch);
        places.clear();
        scan(world, &mut cache, last_run, &mut places);
        for &(entity, location) in &places {
            let Some(dense) = state.dense_of(entity) else {
                continue;
            };
            if let Some(record) = state.records[dense as usize].as_mut()
                && record.location != location
            {
                record.location = location;
                state.moved.push((dense, record.net_id, location));
            }
        }
        state.space.scan_cache = cache;
        state.space.scratch = places;
    }

    if !freed.is_empty() {
        state.free_dense.extend(freed);
        // Hand out the smallest free indices first, keeping per-client arrays compact.
        state.free_dense.sort_unstable_by(|a, b| b.cmp(a));
    }
    if !state.despawned.is_empty() {
        let records = &state.records;
        state
            .in_order
            .retain(|&(_, dense)| records[dense as usize].is_some());
    }
    let ReplicationState { space, moved, .. } = state;
    space.index(moved);
    state.last_run = Some(this_run);

    // Without spatial interest every client gets everything: record every change now.
    if !state.space.enabled() {
        let dirty = std::mem::take(&mut state.dirty_list);
        let context = RecordContext {
            registry,
            world,
            tick,
            horizon,
        };
        state.record_all(&context, &dirty, None);
        state.dirty_list = dirty;
        state.prune_dirty_list();
    }
}
