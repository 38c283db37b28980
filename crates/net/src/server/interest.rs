//! Interest management: each client gets only the entities relevant to it, so a large world or a
//! big lobby costs per client what that client sees, not what exists.
//!
//! - **Space.** Register where entities are with [`AppInterestExt::spatial_interest`] (any
//!   component implementing [`Located`]): a client then sees the located entities within its
//!   radius of its center (the place of the first entity it controls, or
//!   [`ClientInterest::center`]). One that saw an entity keeps it until it is `hysteresis`
//!   further, so nothing flickers at the border. Entities without a place are seen by everyone.
//! - **Rooms.** [`Rooms`] on an entity and [`ClientInterest::rooms`] on a client: bit sets that
//!   must share a bit (rooms, teams, matches on one server).
//! - **Per client.** [`ClientInterest::always`] and [`ClientInterest::never`] list entities a
//!   client always or never gets, whatever the rules above. A game's own rule (line of sight,
//!   fog of war) is a system that fills them before snapshots go out (in
//!   [`ServerSystems::Send`](crate::server::ServerSystems::Send), before
//!   [`InterestSystems`]).
//!
//! An entity leaving a client's interest is despawned on that client; coming back, it arrives
//! whole with its current state. Bytes, priority and budget apply to relevant entities only.

use bevy::ecs::change_detection::Tick;
use bevy::ecs::component::ComponentId;
use bevy::ecs::entity::EntityHashSet;
use bevy::ecs::world::EntityRef;
use bevy::prelude::*;

use crate::registry::{NetId, ScanCache, queue_removal_of, scan_changed};
use crate::server::clients::ConnectedClient;

/// Where an entity is, for spatial interest. Its place is read again whenever the component
/// implementing it changes (it need not be replicated itself).
pub trait Located: Component {
    /// The entity's place in the plane interest is computed in.
    fn location(&self) -> Vec2;
}

/// Spatial interest's defaults and grid.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct InterestSettings {
    /// How far a client sees, by default.
    pub radius: f32,
    /// How much further an entity it sees may go before it is dropped.
    pub hysteresis: f32,
    /// The side of a grid cell (about the radius is right).
    pub cell: f32,
}

impl Default for InterestSettings {
    fn default() -> Self {
        Self {
            radius: 1000.0,
            hysteresis: 100.0,
            cell: 1000.0,
        }
    }
}

/// On a replicated entity: the rooms it is in, as a bit set (without it: every room).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
#[component(on_remove = crate::registry::queue_removal)]
pub struct Rooms(pub u64);

/// On a client entity: what it may see. With spatial interest every [`ConnectedClient`] gets
/// one when it joins (the defaults of [`InterestSettings`]); edit it from the game's systems. A
/// client whose `ClientInterest` the game removes sees by the defaults, without one.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct ClientInterest {
    /// How far it sees.
    pub radius: f32,
    /// How much further a seen entity may go before it is dropped.
    pub hysteresis: f32,
    /// The rooms it is in (a bit set; all by default).
    pub rooms: u64,
    /// Where it sees from, instead of the first entity it controls.
    pub center: Option<Vec2>,
    /// Entities it always gets.
    pub always: EntityHashSet,
    /// Entities it never gets.
    pub never: EntityHashSet,
}

impl ClientInterest {
    /// The defaults of `settings`: its radius and hysteresis, every room, no exception.
    pub fn from_settings(settings: &InterestSettings) -> Self {
        Self {
            radius: settings.radius,
            hysteresis: settings.hysteresis,
            rooms: u64::MAX,
            center: None,
            always: EntityHashSet::default(),
            never: EntityHashSet::default(),
        }
    }
}

/// What a client may see at this snapshot, resolved for the snapshot builder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterestView {
    /// Where it sees from (`None`: no spatial limit).
    pub center: Option<Vec2>,
    /// How far.
    pub radius: f32,
    /// How much further a seen entity may go.
    pub hysteresis: f32,
    /// Its rooms.
    pub rooms: u64,
    /// Dense indices of entities it always gets.
    pub always: Vec<u32>,
    /// Dense indices of entities it never gets.
    pub never: Vec<u32>,
}

/// Resolving every client's [`InterestView`], in `PostUpdate` after changes are collected and
/// before snapshots are built.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InterestSystems;

/// Registers interest management on the server.
pub trait AppInterestExt {
    /// Clients see the entities with a `C` within their radius (and every entity without one).
    /// Call it once, while building the app: the grid keeps the cell of the first call.
    fn spatial_interest<C: Located>(&mut self, settings: InterestSettings) -> &mut Self;
}

impl AppInterestExt for App {
    fn spatial_interest<C: Located>(&mut self, settings: InterestSettings) -> &mut Self {
        let located = self.world_mut().register_component::<C>();
        self.insert_resource(settings)
            .insert_resource(SpatialLocator {
                locate: locate::<C>,
                scan: locate_changed::<C>,
                located,
                cell: settings.cell.max(1.0),
            })
            .add_observer(queue_removal_of::<C>(located));
        self.add_observer(give_default_interest);
        self
    }
}

/// A client that joins gets the defaults of [`InterestSettings`] (unless the game gave it one), for
/// the game to edit; it lands before the client's first snapshot.
fn give_default_interest(
    joined: On<Add, ConnectedClient>,
    settings: Option<Res<InterestSettings>>,
    mut commands: Commands,
) {
    let settings = settings.map_or_else(InterestSettings::default, |settings| *settings);
    commands
        .entity(joined.entity)
        .try_insert_if_new(ClientInterest::from_settings(&settings));
}

fn locate<C: Located>(entity: &EntityRef) -> Option<Vec2> {
    entity
        .get::<C>()
        .map(Located::location)
        .filter(|at| at.is_finite())
}

/// Places that changed since `last_run`: `(entity, place)` for every replicated entity whose
/// `C` changed.
fn locate_changed<C: Located>(
    world: &World,
    cache: &mut ScanCache,
    last_run: Option<Tick>,
    out: &mut Vec<(Entity, Option<Vec2>)>,
) {
    scan_changed::<C>(world, cache, last_run, |entity, component| {
        out.push((
            entity,
            Some(component.location()).filter(|at| at.is_finite()),
        ));
    });
}

/// The scan for places that changed.
pub(crate) type PlaceScan =
    fn(&World, &mut ScanCache, Option<Tick>, &mut Vec<(Entity, Option<Vec2>)>);

/// Where entities are, as [`AppInterestExt::spatial_interest`] registered it; the server's
/// record of the world takes it up at its next collection.
#[derive(Resource, Debug, Clone, Copy)]
pub(crate) struct SpatialLocator {
    /// Reads an entity's place.
    pub(crate) locate: fn(&EntityRef) -> Option<Vec2>,
    /// Finds the places that changed.
    pub(crate) scan: PlaceScan,
    /// The component places come from.
    pub(crate) located: ComponentId,
    /// The side of a grid cell.
    pub(crate) cell: f32,
}

/// The side of the smallest bucket square.
const MIN_SIDE: u32 = 16;

/// The located entities in a grid, and those without a place.
#[derive(Debug, Default)]
pub(crate) struct Space {
    /// How places are found (`None`: spatial interest is not registered).
    locator: Option<SpatialLocator>,
    pub(crate) scan_cache: ScanCache,
    pub(crate) scratch: Vec<(Entity, Option<Vec2>)>,
    /// The side of a grid cell.
    cell: f32,
    /// The grid, wrapped around a square of buckets: each bucket holds dense index, net id and
    /// place of the entities of the cells that fall on it (grown with the entities; a search
    /// walks the buckets of the cells in reach, no key compared, and the caller measures
    /// distances).
    buckets: Vec<Vec<(u32, NetId, Vec2)>>,
    /// Entities in buckets.
    filed_count: usize,
    /// The side of the bucket square.
    side: u32,
    /// Per dense index: the bucket it is filed in and its place there.
    filed: Vec<Option<(u32, u32)>>,
    /// Entities without a place (dense index, net id), sorted.
    unlocated: Vec<(u32, NetId)>,
    /// Despawned at the last collection.
    gone: Vec<u32>,
}

impl Space {
    /// Whether spatial interest is registered.
    pub(crate) fn enabled(&self) -> bool {
        self.locator.is_some()
    }

    /// Takes up `locator` once spatial interest is registered; the grid keeps its first one.
    pub(crate) fn use_locator(&mut self, locator: Option<&SpatialLocator>) {
        if let (None, Some(locator)) = (self.locator, locator) {
            self.locator = Some(*locator);
            self.cell = locator.cell;
        }
    }

    /// Where `entity` is, when spatial interest is registered and it has a place.
    pub(crate) fn locate(&self, entity: &EntityRef) -> Option<Vec2> {
        self.locator.and_then(|locator| (locator.locate)(entity))
    }

    /// The component places come from.
    pub(crate) fn located(&self) -> Option<ComponentId> {
        self.locator.map(|locator| locator.located)
    }

    /// The scan for places that changed.
    pub(crate) fn place_scan(&self) -> Option<PlaceScan> {
        self.locator.map(|locator| locator.scan)
    }

    fn key(&self, at: Vec2) -> (i32, i32) {
        let cell = (at / self.cell).floor();
        (cell.x as i32, cell.y as i32)
    }

    /// The bucket of cell `key`: the grid wrapped around a square of `side` x `side` buckets
    /// (a power of two), so neighbouring cells have neighbouring buckets.
    fn bucket(&self, key: (i32, i32)) -> usize {
        let mask = self.side - 1;
        (((key.1 as u32 & mask) << self.side.trailing_zeros()) | (key.0 as u32 & mask)) as usize
    }

    /// Files the entities whose place changed at the last collection (`moved`: dense index
    /// and new place, `None` when it has none or is gone); only those that changed bucket move.
    pub(crate) fn index(&mut self, moved: &[(u32, NetId, Option<Vec2>)]) {
        if !self.enabled() {
            return;
        }
        if self.buckets.is_empty() {
            self.rehash(0);
        }
        for &(dense, net_id, location) in moved {
            let dense_at = dense as usize;
            if self.filed.len() <= dense_at {
                self.filed.resize(dense_at + 1, None);
            }
            let want = location.map(|at| self.bucket(self.key(at)) as u32);
            let filed = self.filed[dense_at];
            if let (Some((bucket, place)), Some(at)) = (filed, location)
                && Some(bucket) == want
            {
                if let Some(entry) = self.buckets[bucket as usize].get_mut(place as usize) {
                    entry.2 = at; // Same bucket, new place.
                }
                continue;
            }
            if let Some((bucket, place)) = filed {
                let entries = &mut self.buckets[bucket as usize];
                entries.swap_remove(place as usize);
                if let Some(&(other, _, _)) = entries.get(place as usize) {
                    self.filed[other as usize] = Some((bucket, place));
                }
                self.filed_count -= 1;
            }
            self.filed[dense_at] = match (want, location) {
                (Some(bucket), Some(at)) => {
                    let entries = &mut self.buckets[bucket as usize];
                    entries.push((dense, net_id, at));
                    self.filed_count += 1;
                    Some((bucket, entries.len() as u32 - 1))
                }
                _ => None,
            };
            // Without a place (and still there): seen by every client within its rooms.
            let unlocated = location.is_none() && !self.gone.contains(&dense);
            match (
                unlocated,
                self.unlocated
                    .binary_search_by_key(&dense, |&(dense, _)| dense),
            ) {
                (true, Err(at)) => self.unlocated.insert(at, (dense, net_id)),
                (false, Ok(at)) => {
                    self.unlocated.remove(at);
                }
                _ => {}
            }
        }
        self.gone.clear();
        // About two entities per bucket at most: grow (and refile everything) past that.
        if self.filed_count > 2 * self.buckets.len() {
            self.rehash(self.filed_count);
        }
    }

    /// Refiles every entity into a square of about `entities / 2` buckets.
    fn rehash(&mut self, entities: usize) {
        let entries: Vec<(u32, NetId, Vec2)> = self.buckets.drain(..).flatten().collect();
        let side = ((entities / 2).isqrt() + 1)
            .next_power_of_two()
            .min(1 << 15) as u32;
        self.side = side.max(MIN_SIDE);
        self.buckets
            .resize_with((self.side * self.side) as usize, Vec::new);
        for (dense, net_id, at) in entries {
            let bucket = self.bucket(self.key(at));
            let entries = &mut self.buckets[bucket];
            entries.push((dense, net_id, at));
            self.filed[dense as usize] = Some((bucket as u32, entries.len() as u32 - 1));
        }
    }

    /// Marks entities despawned this collection, so they are not kept as placeless.
    pub(crate) fn forget(&mut self, dense: u32) {
        if self.enabled() {
            self.gone.push(dense);
        }
    }

    /// Calls `found` with every located entity whose cell is within `reach` of `center` (dense
    /// index, net id, place; some further away too, some twice), then every entity without a
    /// place.
    pub(crate) fn near(
        &self,
        center: Vec2,
        reach: f32,
        mut found: impl FnMut(u32, NetId, Option<Vec2>),
    ) {
        let (low, high) = (self.key(center - reach), self.key(center + reach));
        let span =
            (i64::from(high.0) - i64::from(low.0) + 1) * (i64::from(high.1) - i64::from(low.1) + 1);
        if !reach.is_finite() || span > self.buckets.len() as i64 {
            // A reach over more cells than there are buckets (a huge or infinite radius):
            // every bucket, rather than every cell in reach.
            for entries in &self.buckets {
                for &(dense, net_id, at) in entries {
                    found(dense, net_id, Some(at));
                }
            }
        } else if !self.buckets.is_empty() {
            // Row by row, only the cells the circle of `reach` touches. (Two cells may share a
            // bucket: the caller sees those entities twice.)
            let cells = |y: i32| {
                let (bottom, top) = (y as f32 * self.cell, (y as f32 + 1.0) * self.cell);
                let dy = (bottom - center.y).max(center.y - top).max(0.0);
                let half_chord = (reach * reach - dy * dy).max(0.0).sqrt();
                let from = self.key(Vec2::new(center.x - half_chord, 0.0)).0.max(low.0);
                let to = self
                    .key(Vec2::new(center.x + half_chord, 0.0))
                    .0
                    .min(high.0);
                (from..=to).map(move |x| self.bucket((x, y)))
            };
            // First a read of each bucket's start, all independent: the buckets are fetched
            // from memory together instead of one after the other.
            let mut first = 0;
            for y in low.1..=high.1 {
                for bucket in cells(y) {
                    first ^= self.buckets[bucket].first().map_or(0, |entry| entry.0);
                }
            }
            std::hint::black_box(first);
            for y in low.1..=high.1 {
                for bucket in cells(y) {
                    for &(dense, net_id, at) in &self.buckets[bucket] {
                        found(dense, net_id, Some(at));
                    }
                }
            }
        }
        for &(dense, net_id) in &self.unlocated {
            found(dense, net_id, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grid search finds every entity within reach, for any centre, reach and cell size
    /// (it may offer more; the caller measures the distance).
    #[test]
    fn near_finds_everything_within_reach() {
        let mut rng = fastrand::Rng::with_seed(5);
        for cell in [37.0, 100.0, 400.0] {
            let mut space = Space::default();
            space.use_locator(Some(&SpatialLocator {
                locate: |_| None,
                scan: |_, _, _, _| {},
                located: ComponentId::new(0),
                cell,
            }));
            let places: Vec<Vec2> = (0..2000)
                .map(|_| Vec2::new(rng.f32() * 2000.0 - 1000.0, rng.f32() * 2000.0 - 1000.0))
                .collect();
            let moved: Vec<(u32, NetId, Option<Vec2>)> = places
                .iter()
                .enumerate()
                .map(|(dense, at)| (dense as u32, NetId(dense as u32), Some(*at)))
                .collect();
            space.index(&moved);
            for _ in 0..50 {
                let center = Vec2::new(rng.f32() * 2400.0 - 1200.0, rng.f32() * 2400.0 - 1200.0);
                let reach = rng.f32() * 500.0;
                let mut found = Vec::new();
                space.near(center, reach, |dense, net_id, _| {
                    assert_eq!(net_id, NetId(dense));
                    found.push(dense);
                });
                found.sort_unstable();
                for (dense, at) in places.iter().enumerate() {
                    if at.distance(center) <= reach {
                        assert!(
                            found.binary_search(&(dense as u32)).is_ok(),
                            "cell {cell}: {at} within {reach} of {center} was missed"
                        );
                    }
                }
            }
        }
    }
}
