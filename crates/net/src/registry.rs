//! The replication registry: which components the server sends to clients, and how.
//!
//! A game makes a component replicated with one call, made in its shared plugin so the server and
//! the client register the same components in the same order:
//!
//! ```
//! use bevy::prelude::*;
//! use serde::{Deserialize, Serialize};
//! use skirmish_net::prelude::*;
//!
//! #[derive(Component, Clone, PartialEq, Serialize, Deserialize)]
//! struct Armor(u8);
//!
//! let mut app = App::new();
//! app.replicate::<Armor>();
//! // On the server, spawning `(Replicated, Armor(100))` is now all it takes: every client gets
//! // the entity, every change to `Armor`, and its despawn.
//! # assert_eq!(app.world().resource::<ReplicationRegistry>().len(), 1);
//! ```

use std::any::type_name;

use bevy::ecs::change_detection::Tick;
use bevy::ecs::component::ComponentId;
use bevy::ecs::lifecycle::HookContext;
use bevy::ecs::world::{DeferredWorld, EntityRef, EntityWorldMut};
use bevy::prelude::*;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::codec::{self as protocol, DecodeError};
use crate::component_rules::ComponentRules;

/// Marks an entity the server replicates to every client, together with its registered components.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq, Eq)]
#[component(on_remove = queue_removal)]
pub struct Replicated;

/// Entities that lost a component the server's collection tracks (a registered one,
/// [`Replicated`] itself, rooms, the place), since the last collection: `(entity, component)`;
/// the collection ignores those it does not replicate. Present only on a server that collects;
/// emptied by every collection, so it holds at most what changed between two of them.
#[derive(Resource, Debug, Default)]
pub(crate) struct ReplicationRemovals(pub(crate) Vec<(Entity, ComponentId)>);

/// Component hook: queues the removal for the server's next collection.
pub(crate) fn queue_removal(mut world: DeferredWorld, context: HookContext) {
    if let Some(mut removals) = world.get_resource_mut::<ReplicationRemovals>() {
        removals.0.push((context.entity, context.component_id));
    }
}

/// Observer for a tracked component that is not ours: queues its removal from a replicated
/// entity.
pub(crate) fn queue_removal_of<C: Component>(
    id: ComponentId,
) -> impl FnMut(On<Remove, C>, Option<ResMut<ReplicationRemovals>>, Query<(), With<Replicated>>) {
    move |remove, removals, replicated| {
        if let Some(mut removals) = removals
            && replicated.contains(remove.entity)
        {
            removals.0.push((remove.entity, id));
        }
    }
}

/// A query kept between collections for a scan generic over a component (type-erased, so the
/// registry can hold plain function pointers).
#[derive(Default)]
pub struct ScanCache(pub(crate) Option<Box<dyn std::any::Any + Send + Sync>>);

impl std::fmt::Debug for ScanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScanCache")
    }
}

/// Calls `found` with every replicated entity whose `C` changed (or was added) after `last_run`
/// (every one when `None`): a walk down `C`'s change ticks, a few nanoseconds per entity.
pub(crate) fn scan_changed<C: Component>(
    world: &World,
    cache: &mut ScanCache,
    last_run: Option<Tick>,
    mut found: impl FnMut(Entity, &C),
) {
    type Scan<C> = QueryState<(Entity, Ref<'static, C>), With<Replicated>>;
    if cache.0.is_none() {
        cache.0 = Scan::<C>::try_new(world).map(|query| Box::new(query) as Box<_>);
    }
    let Some(query) = cache
        .0
        .as_mut()
        .and_then(|query| query.downcast_mut::<Scan<C>>())
    else {
        return;
    };
    let this_run = world.read_change_tick();
    for (entity, component) in query.iter(world) {
        if last_run.is_none_or(|last| component.last_changed().is_newer_than(last, this_run)) {
            found(entity, &component);
        }
    }
}

fn changed_quantized<C: Quantize>(
    world: &World,
    cache: &mut ScanCache,
    last_run: Option<Tick>,
    out: &mut Vec<(Entity, Quantized)>,
) {
    scan_changed::<C>(world, cache, last_run, |entity, component| {
        out.push((entity, component.quantize()));
    });
}

fn changed_entities<C: Component>(
    world: &World,
    cache: &mut ScanCache,
    last_run: Option<Tick>,
    out: &mut Vec<Entity>,
) {
    scan_changed::<C>(world, cache, last_run, |entity, _| out.push(entity));
}

/// Compact network id of a replicated entity, assigned by the server and never reused during a
/// match. On the client, replicated entities carry it as a component.
#[derive(
    Component,
    Debug,
    Default,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct NetId(pub u32);

/// Counts the server-side jumps of an entity (a respawn, a teleporter): the game bumps it with
/// every move that must not be smoothed. Clients then restart the entity's prediction and
/// interpolation from the new place instead of blending across the jump, and do not count it as
/// a misprediction. A game that uses it registers it: `app.replicate::<Teleported>()`.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Teleported(pub u8);

impl Teleported {
    /// Records one more jump.
    pub fn bump(&mut self) {
        self.0 = self.0.wrapping_add(1);
    }
}

/// A component's value as up to four integers, see [`Quantize`].
pub type Quantized = [i32; 4];

/// A component sent as a few integers with a declared precision, delta-coded against what the
/// client already has: the compact path for anything that changes often (positions, angles,
/// velocities). Register it with [`AppReplicateExt::replicate_quantized`].
///
/// ```
/// use bevy::prelude::*;
/// use skirmish_net::registry::{Quantize, Quantized};
///
/// /// Armor in whole points, 0..=255.
/// #[derive(Component)]
/// struct Armor(f32);
///
/// impl Quantize for Armor {
///     const FIELDS: usize = 1;
///     fn quantize(&self) -> Quantized {
///         [self.0.clamp(0.0, 255.0).round() as i32, 0, 0, 0]
///     }
///     fn dequantize(q: Quantized) -> Self {
///         Armor(q[0] as f32)
///     }
/// }
/// ```
pub trait Quantize: Component + Sized {
    /// How many of the four fields are used (1 to 4).
    const FIELDS: usize;
    /// Per field, the modulus it wraps around at (angles), or 0 if it does not wrap.
    const WRAP: [u32; 4] = [0; 4];
    /// The value as integers. Must not panic for any value (clamp, map NaN to something).
    fn quantize(&self) -> Quantized;
    /// The value back from integers. Must not panic for any input: a peer may send anything.
    fn dequantize(quantized: Quantized) -> Self;
}

/// How a registered component travels.
#[derive(Debug, Clone, Copy)]
pub enum Encoding {
    /// serde + bincode bytes, sent whole whenever the encoded value changes.
    Serde {
        /// Appends the encoding to the buffer; `false` if the entity lacks the component.
        serialize: fn(&EntityRef, &mut Vec<u8>) -> bool,
        /// Decodes bytes and inserts the component.
        write: fn(&mut EntityWorldMut, &[u8]) -> Result<(), DecodeError>,
    },
    /// Integers from [`Quantize`], delta-coded against the client's baseline.
    Quantized {
        /// Fields used.
        fields: usize,
        /// Per-field wrap modulus (0: none).
        wrap: [u32; 4],
        /// The quantized value, or `None` if the entity lacks the component.
        quantize: fn(&EntityRef) -> Option<Quantized>,
        /// Inserts the component from a quantized value.
        write: fn(&mut EntityWorldMut, Quantized),
        /// The server's change scan returning each changed value quantized.
        changed_values: QuantizedScan,
        /// The component holding this one's change per second, in the same units (a velocity
        /// for a position): deltas are then coded against the baseline moved on by it. See
        /// [`AppReplicateExt::replicate_quantized_with_rate`].
        rate: Option<ComponentId>,
    },
}

/// How one registered component is encoded, applied and removed.
#[derive(Debug, Clone)]
pub struct ReplicationRule {
    /// The component's type name, for logs and the registry fingerprint.
    pub name: &'static str,
    /// The component's id in this app's world.
    pub component_id: ComponentId,
    /// How it travels.
    pub encoding: Encoding,
    /// Removes the component.
    pub remove: fn(&mut EntityWorldMut),
    /// The server's change scan: appends the replicated entities whose component changed after
    /// the given tick (all of them for `None`).
    pub changed: fn(&World, &mut ScanCache, Option<Tick>, &mut Vec<Entity>),
    /// Forgets what `changed` saw of an entity whose component was removed.
    pub forget: fn(&mut ScanCache, Entity),
}

/// A change scan returning `(entity, quantized value)`.
pub type QuantizedScan = fn(&World, &mut ScanCache, Option<Tick>, &mut Vec<(Entity, Quantized)>);

/// The difference from `base` to `value` for a field wrapping at `wrap` (0: no wrap), the
/// shortest way round.
pub fn field_delta(value: i32, base: i32, wrap: u32) -> i32 {
    if wrap == 0 {
        return value.wrapping_sub(base);
    }
    let wrap = i64::from(wrap);
    let delta = wrap_into(i64::from(value) - i64::from(base), wrap);
    (if delta >= wrap / 2 {
        delta - wrap
    } else {
        delta
    }) as i32
}

/// `rate` (units per second) times `ticks` at `tick_rate` ticks per second, rounded to the
/// nearest integer (halves up), computed the same way on every machine.
pub fn extrapolated(rate: i32, ticks: u32, tick_rate: u16) -> i32 {
    let tick_rate = i64::from(tick_rate.max(1));
    // Saturating: `ticks` comes from a peer's snapshot header; where it saturates, the result
    // is clamped to the same i32 bound as the exact quotient would be.
    let numerator = i64::from(rate)
        .saturating_mul(i64::from(ticks))
        .saturating_mul(2)
        .saturating_add(tick_rate);
    // The same division in 32 bits when it fits (most of the time, and faster).
    if let Ok(small) = i32::try_from(numerator) {
        return small.div_euclid(2 * tick_rate as i32);
    }
    let moved = numerator.div_euclid(2 * tick_rate);
    moved.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// The value a quantized component is predicted to have `ticks` after `base`, moved on by its
/// `rate` per second (when it has one); deltas are coded against it.
pub fn predicted(
    base: Quantized,
    rate: Option<Quantized>,
    ticks: u32,
    tick_rate: u16,
    fields: usize,
    wrap: [u32; 4],
) -> Quantized {
    let Some(rate) = rate else {
        return base;
    };
    let mut value = base;
    for field in 0..fields.min(4) {
        value[field] = apply_field_delta(
            base[field],
            extrapolated(rate[field], ticks, tick_rate),
            wrap[field],
        );
    }
    value
}

/// Inverse of [`field_delta`].
pub fn apply_field_delta(base: i32, delta: i32, wrap: u32) -> i32 {
    if wrap == 0 {
        return base.wrapping_add(delta);
    }
    wrap_into(i64::from(base) + i64::from(delta), i64::from(wrap)) as i32
}

/// `value.rem_euclid(wrap)`, with a mask for the usual power-of-two wrap.
fn wrap_into(value: i64, wrap: i64) -> i64 {
    if wrap & (wrap - 1) == 0 {
        value & (wrap - 1)
    } else {
        value.rem_euclid(wrap)
    }
}

/// Every replicated component, in registration order. The position of a rule is the component's
/// `kind` on the wire, so server and client must register the same components in the same order.
///
/// It also holds the rest of what the game registers for both apps: its input type (see
/// [`AppInputExt::add_input`](crate::input::AppInputExt::add_input)) and the registrations
/// waiting for the app's side (see [`side`](crate::side)).
#[derive(Resource, Debug, Default)]
pub struct ReplicationRegistry {
    rules: Vec<ReplicationRule>,
    input: Option<&'static str>,
    pub(crate) pending_sides: Vec<(fn(&mut App), fn(&mut App))>,
}

impl ReplicationRegistry {
    /// The game's input type, by name, once registered: part of the fingerprint.
    pub fn input_type(&self) -> Option<&'static str> {
        self.input
    }

    pub(crate) fn set_input_type(&mut self, name: &'static str) {
        self.input = Some(name);
    }

    /// The rule for a wire `kind`, if registered.
    pub fn get(&self, kind: u8) -> Option<&ReplicationRule> {
        self.rules.get(usize::from(kind))
    }

    /// All rules with their wire kind.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &ReplicationRule)> {
        // `replicate` caps the registry at 256 rules, so the index always fits.
        self.rules
            .iter()
            .enumerate()
            .map(|(index, rule)| (index as u8, rule))
    }

    /// Number of registered components.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no component is registered.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// A hash of the registered type names in order. The server sends it in its welcome so a
    /// client built with a different registry notices at once instead of misreading components.
    pub fn fingerprint(&self) -> u64 {
        fnv1a(
            FNV_OFFSET,
            self.rules.iter().flat_map(|rule| {
                let rate = matches!(rule.encoding, Encoding::Quantized { rate: Some(_), .. });
                [rule.name.as_bytes(), if rate { b"+rate" } else { b"" }]
            }),
        )
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `parts` (each followed by a zero byte), starting from `seed`: stable across builds
/// and platforms, unlike `DefaultHasher`.
pub fn fnv1a<'a>(seed: u64, parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut hash = seed;
    for part in parts {
        for &byte in part.iter().chain(&[0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Registers replicated components on an [`App`]. Each call returns the component's
/// [`ComponentRules`], to declare its prediction, interpolation and lag compensation in the same
/// chain.
pub trait AppReplicateExt {
    /// Replicates component `C` (encoded with serde + bincode) on every entity marked
    /// [`Replicated`]: its insertion, every change and its removal reach every client.
    ///
    /// # Panics
    /// If more than 256 components are registered.
    ///
    /// A write of the value the component already had is no change: it is compared (hence
    /// `PartialEq`), never encoded, so a game need not compare before it writes.
    fn replicate<C>(&mut self) -> ComponentRules<'_, C>
    where
        C: Component + Serialize + DeserializeOwned + PartialEq + Clone;

    /// Replicates component `C` as quantized integers, delta-coded against each client's
    /// baseline: a moving 2D position costs about two bytes per snapshot.
    ///
    /// # Panics
    /// If more than 256 components are registered, or `C::FIELDS` is not 1 to 4.
    fn replicate_quantized<C: Quantize>(&mut self) -> ComponentRules<'_, C>;

    /// Like [`Self::replicate_quantized`], for a component whose change per second is component
    /// `R`, quantized in the same units (a position and its velocity). Each delta is then coded
    /// against the client's baseline moved on by the baseline's `R`: a body moving steadily costs
    /// about a bit per field instead of its whole step. `R` must be replicated quantized too.
    ///
    /// # Panics
    /// As [`Self::replicate_quantized`].
    fn replicate_quantized_with_rate<C: Quantize, R: Quantize>(&mut self) -> ComponentRules<'_, C>;
}

impl AppReplicateExt for App {
    fn replicate<C>(&mut self) -> ComponentRules<'_, C>
    where
        C: Component + Serialize + DeserializeOwned + PartialEq + Clone,
    {
        register::<C>(
            self,
            Encoding::Serde {
                serialize: serialize_component::<C>,
                write: write_component::<C>,
            },
            crate::equal_writes::changed_unequal::<C>,
            crate::equal_writes::forget::<C>,
        );
        ComponentRules::new(self)
    }

    fn replicate_quantized<C: Quantize>(&mut self) -> ComponentRules<'_, C> {
        assert!(
            (1..=4).contains(&C::FIELDS),
            "{} declares {} quantized fields; 1 to 4 are supported",
            type_name::<C>(),
            C::FIELDS
        );
        register::<C>(
            self,
            Encoding::Quantized {
                fields: C::FIELDS,
                wrap: C::WRAP,
                quantize: quantize_component::<C>,
                write: write_quantized::<C>,
                changed_values: changed_quantized::<C>,
                rate: None,
            },
            changed_entities::<C>,
            crate::equal_writes::forget_nothing,
        );
        ComponentRules::new(self)
    }

    fn replicate_quantized_with_rate<C: Quantize, R: Quantize>(&mut self) -> ComponentRules<'_, C> {
        self.replicate_quantized::<C>();
        let rate = self.world_mut().register_component::<R>();
        let component = self.world_mut().register_component::<C>();
        let mut registry = self.world_mut().resource_mut::<ReplicationRegistry>();
        if let Some(rule) = registry
            .rules
            .iter_mut()
            .find(|rule| rule.component_id == component)
            && let Encoding::Quantized { rate: slot, .. } = &mut rule.encoding
        {
            *slot = Some(rate);
        }
        ComponentRules::new(self)
    }
}

impl ReplicationRegistry {
    /// For each kind: its quantized fields and wrap (0 fields: serde), and the kind of its rate
    /// component when it has a registered one.
    pub fn quantized_kinds(&self) -> Vec<(usize, [u32; 4], Option<u8>)> {
        self.rules
            .iter()
            .map(|rule| match rule.encoding {
                Encoding::Serde { .. } => (0, [0; 4], None),
                Encoding::Quantized {
                    fields, wrap, rate, ..
                } => {
                    let rate_kind = rate.and_then(|rate| {
                        self.rules.iter().position(|other| {
                            other.component_id == rate
                                && matches!(other.encoding, Encoding::Quantized { .. })
                        })
                    });
                    (fields, wrap, rate_kind.map(|kind| kind as u8))
                }
            })
            .collect()
    }
}

fn register<C: Component>(
    app: &mut App,
    encoding: Encoding,
    changed: fn(&World, &mut ScanCache, Option<Tick>, &mut Vec<Entity>),
    forget: fn(&mut ScanCache, Entity),
) {
    let component_id = app.world_mut().register_component::<C>();
    let mut registry = app
        .world_mut()
        .get_resource_or_init::<ReplicationRegistry>();
    assert!(
        registry.rules.len() < 256,
        "at most 256 replicated components can be registered"
    );
    if registry
        .rules
        .iter()
        .any(|rule| rule.component_id == component_id)
    {
        warn!(
            "{} is already replicated; ignoring the second registration",
            type_name::<C>()
        );
        return;
    }
    registry.rules.push(ReplicationRule {
        name: type_name::<C>(),
        component_id,
        encoding,
        remove: remove_component::<C>,
        changed,
        forget,
    });
    app.add_observer(queue_removal_of::<C>(component_id));
}

fn quantize_component<C: Quantize>(entity: &EntityRef) -> Option<Quantized> {
    entity.get::<C>().map(C::quantize)
}

fn write_quantized<C: Quantize>(entity: &mut EntityWorldMut, quantized: Quantized) {
    entity.insert(C::dequantize(quantized));
}

/// Largest encoding of one serde-replicated component; bigger values are not replicated (with a
/// warning), so a snapshot always stays far below what clients accept.
pub const MAX_COMPONENT_BYTES: usize = 4 * 1024;

fn serialize_component<C: Component + Serialize>(entity: &EntityRef, out: &mut Vec<u8>) -> bool {
    let Some(component) = entity.get::<C>() else {
        return false;
    };
    let bytes = protocol::encode(component);
    if bytes.len() > MAX_COMPONENT_BYTES {
        warn_once!(
            "{} encodes to {} bytes, over the {MAX_COMPONENT_BYTES}-byte limit: not replicated",
            type_name::<C>(),
            bytes.len()
        );
        return false;
    }
    out.extend_from_slice(&bytes);
    true
}

fn write_component<C: Component + DeserializeOwned>(
    entity: &mut EntityWorldMut,
    bytes: &[u8],
) -> Result<(), DecodeError> {
    let component: C = protocol::decode(bytes)?;
    entity.insert(component);
    Ok(())
}

fn remove_component<C: Component>(entity: &mut EntityWorldMut) {
    entity.remove::<C>();
}

#[cfg(test)]
mod tests {

    /// The mask for power-of-two wraps gives what the remainder gives.
    #[test]
    fn wrapping_by_mask_is_the_remainder() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..100_000 {
            let value = rng.i64(-(1 << 33)..1 << 33);
            let wrap = if rng.bool() {
                1 << rng.u32(0..31)
            } else {
                rng.i64(1..1 << 31)
            };
            assert_eq!(
                wrap_into(value, wrap),
                value.rem_euclid(wrap),
                "{value} % {wrap}"
            );
        }
    }

    /// The 32-bit shortcut of `extrapolated` gives what the 64-bit division gives.
    #[test]
    fn extrapolated_is_the_same_in_either_width() {
        let reference = |rate: i32, ticks: u32, tick_rate: u16| {
            let tick_rate = i64::from(tick_rate.max(1));
            let moved =
                (i64::from(rate) * i64::from(ticks) * 2 + tick_rate).div_euclid(2 * tick_rate);
            moved.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
        };
        let mut rng = fastrand::Rng::with_seed(2);
        for _ in 0..100_000 {
            let rate = match rng.u8(0..3) {
                0 => rng.i32(-2000..2000),
                1 => rng.i32(..),
                _ => rng.i32(-1 << 24..1 << 24),
            };
            let ticks = rng.u32(0..70);
            let tick_rate = rng.u16(..);
            assert_eq!(
                extrapolated(rate, ticks, tick_rate),
                reference(rate, ticks, tick_rate),
                "{rate} x {ticks} at {tick_rate}"
            );
        }
    }

    use super::*;

    #[derive(Component, Clone, Serialize, Deserialize, PartialEq, Debug)]
    struct Armor(u8);

    #[test]
    fn registered_component_round_trips_through_its_rule() {
        let mut app = App::new();
        app.replicate::<Armor>();
        let rule = app
            .world()
            .resource::<ReplicationRegistry>()
            .get(0)
            .unwrap()
            .clone();
        let Encoding::Serde { serialize, write } = rule.encoding else {
            panic!("replicate registers a serde encoding");
        };

        let source = app.world_mut().spawn(Armor(77)).id();
        let mut bytes = Vec::new();
        assert!(serialize(&app.world().entity(source), &mut bytes));

        let mut target = app.world_mut().spawn_empty();
        write(&mut target, &bytes).expect("bytes from serialize must decode");
        let target = target.id();
        assert_eq!(app.world().get::<Armor>(target), Some(&Armor(77)));

        (rule.remove)(&mut app.world_mut().entity_mut(target));
        assert!(app.world().get::<Armor>(target).is_none());
    }

    #[derive(Component, Clone, PartialEq, Serialize, Deserialize)]
    struct Blob(Vec<u8>);

    #[test]
    fn oversized_components_are_not_replicated() {
        let mut app = App::new();
        app.replicate::<Blob>();
        let Encoding::Serde { serialize, .. } = app
            .world()
            .resource::<ReplicationRegistry>()
            .get(0)
            .unwrap()
            .encoding
        else {
            panic!("replicate registers a serde encoding");
        };
        let small = app.world_mut().spawn(Blob(vec![7; 100])).id();
        let huge = app
            .world_mut()
            .spawn(Blob(vec![7; MAX_COMPONENT_BYTES]))
            .id();
        let mut bytes = Vec::new();
        assert!(serialize(&app.world().entity(small), &mut bytes));
        bytes.clear();
        assert!(
            !serialize(&app.world().entity(huge), &mut bytes),
            "over the cap: skipped"
        );
        assert!(bytes.is_empty());
    }

    #[test]
    fn wrapping_deltas_take_the_short_way_round() {
        assert_eq!(field_delta(10, 4090, 4096), 16);
        assert_eq!(field_delta(4090, 10, 4096), -16);
        assert_eq!(apply_field_delta(4090, 16, 4096), 10);
        assert_eq!(apply_field_delta(10, -16, 4096), 4090);
        assert_eq!(field_delta(i32::MIN, i32::MAX, 0), 1);
        assert_eq!(apply_field_delta(i32::MAX, 1, 0), i32::MIN);
        for (value, base) in [(0, 0), (100, 4000), (4095, 0), (2048, 0)] {
            let delta = field_delta(value, base, 4096);
            assert_eq!(apply_field_delta(base, delta, 4096), value);
        }
    }

    #[derive(Component, Clone, PartialEq, Serialize, Deserialize)]
    struct Mana(u8);

    #[test]
    fn fingerprint_depends_on_order() {
        let mut a = App::new();
        a.replicate::<Armor>().replicate::<Mana>();
        let mut b = App::new();
        b.replicate::<Mana>().replicate::<Armor>();
        let fingerprint = |app: &App| app.world().resource::<ReplicationRegistry>().fingerprint();
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn double_registration_is_ignored() {
        let mut app = App::new();
        app.replicate::<Armor>().replicate::<Armor>();
        assert_eq!(app.world().resource::<ReplicationRegistry>().len(), 1);
    }
}
