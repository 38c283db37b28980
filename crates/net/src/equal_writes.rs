//! The change scan of serde-replicated components that leaves out equal writes: a system that
//! writes a component every tick with the value it already had costs a comparison, not an
//! encoding, so a game need not compare before it writes.
//!
//! (Quantized components need no such scan: their change is their quantized value compared on
//! the wire's grid, which is also the only equality a client can see.)

use bevy::ecs::change_detection::Tick;
use bevy::platform::collections::HashMap;
use bevy::prelude::*;

use crate::registry::{Replicated, ScanCache};

type Scan<C> = QueryState<(Entity, Ref<'static, C>), With<Replicated>>;

/// The scan's query, and each entity's value as the last scan saw it.
struct Seen<C: Component> {
    query: Scan<C>,
    values: HashMap<Entity, C>,
}

/// Appends the replicated entities whose `C` changed after `last_run` (all of them for `None`)
/// to a value other than the one the previous scan saw.
pub(crate) fn changed_unequal<C: Component + PartialEq + Clone>(
    world: &World,
    cache: &mut ScanCache,
    last_run: Option<Tick>,
    out: &mut Vec<Entity>,
) {
    if cache.0.is_none() {
        cache.0 = Scan::<C>::try_new(world).map(|query| {
            Box::new(Seen::<C> {
                query,
                values: HashMap::default(),
            }) as Box<_>
        });
    }
    let Some(seen) = cache
        .0
        .as_mut()
        .and_then(|seen| seen.downcast_mut::<Seen<C>>())
    else {
        return;
    };
    let this_run = world.read_change_tick();
    let mut present = 0usize;
    for (entity, component) in seen.query.iter(world) {
        present += 1;
        if last_run.is_none_or(|last| component.last_changed().is_newer_than(last, this_run))
            && seen.values.get(&entity) != Some(&*component)
        {
            seen.values.insert(entity, C::clone(&component));
            out.push(entity);
        }
    }
    // Values of despawned entities: dropped once they are as many as the living ones.
    if seen.values.len() > 2 * present + 64 {
        seen.values.retain(|&entity, _| {
            world
                .get_entity(entity)
                .is_ok_and(|entity| entity.contains::<C>() && entity.contains::<Replicated>())
        });
    }
}

/// Forgets what the scan saw of `entity`'s `C` (it was removed): when `C` comes back, even with
/// the same value, it is a change.
pub(crate) fn forget<C: Component>(cache: &mut ScanCache, entity: Entity) {
    if let Some(seen) = cache
        .0
        .as_mut()
        .and_then(|seen| seen.downcast_mut::<Seen<C>>())
    {
        seen.values.remove(&entity);
    }
}

/// Nothing to forget (a scan without values).
pub(crate) fn forget_nothing(_: &mut ScanCache, _: Entity) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Component, Debug, Clone, PartialEq)]
    struct Label(&'static str);

    fn scan(world: &mut World, cache: &mut ScanCache, last: &mut Option<Tick>) -> Vec<Entity> {
        let mut out = Vec::new();
        changed_unequal::<Label>(world, cache, *last, &mut out);
        *last = Some(world.change_tick());
        world.increment_change_tick();
        out
    }

    #[test]
    fn an_equal_write_is_no_change_and_a_removal_forgets_the_value() {
        let mut world = World::new();
        let mut cache = ScanCache::default();
        let mut last = None;
        let entity = world.spawn((Replicated, Label("a"))).id();
        assert_eq!(scan(&mut world, &mut cache, &mut last), [entity], "new");
        assert!(
            scan(&mut world, &mut cache, &mut last).is_empty(),
            "untouched"
        );

        *world.get_mut::<Label>(entity).unwrap() = Label("a");
        assert!(
            scan(&mut world, &mut cache, &mut last).is_empty(),
            "written with the same value"
        );
        *world.get_mut::<Label>(entity).unwrap() = Label("b");
        assert_eq!(scan(&mut world, &mut cache, &mut last), [entity], "changed");

        world.entity_mut(entity).remove::<Label>();
        forget::<Label>(&mut cache, entity);
        assert!(scan(&mut world, &mut cache, &mut last).is_empty());
        world.entity_mut(entity).insert(Label("b"));
        assert_eq!(
            scan(&mut world, &mut cache, &mut last),
            [entity],
            "back with the value it had: still a change"
        );
    }

    #[test]
    fn values_of_despawned_entities_do_not_pile_up() {
        let mut world = World::new();
        let mut cache = ScanCache::default();
        let mut last = None;
        for _ in 0..1_000 {
            let entity = world.spawn((Replicated, Label("x"))).id();
            scan(&mut world, &mut cache, &mut last);
            world.despawn(entity);
        }
        let seen = cache
            .0
            .as_ref()
            .and_then(|seen| seen.downcast_ref::<Seen<Label>>())
            .unwrap();
        // At most one living entity, so at most 2 + 64 values before a clean-up.
        assert!(seen.values.len() <= 2 + 64 + 1, "{}", seen.values.len());
    }
}
