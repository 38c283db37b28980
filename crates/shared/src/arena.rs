//! The arena's geometry: its bounds and the walls inside it, defined once here so the server's
//! simulation, the client's prediction and the renderer agree exactly.
//!
//! The arena is a square of [`Arena::tiles`] x `tiles` tiles, each [`TILE_SIZE`] units wide and
//! holding the same walls ([`TILE_WALLS`]) around its own centre. The server chooses it (its
//! settings) and replicates it on one entity ([`ServerArena`]), so clients predict and draw the
//! server's arena.

use bevy::math::{Rect, Vec2};
use bevy::prelude::{Component, Resource};
use serde::{Deserialize, Serialize};

/// The side of one tile, in world units.
pub const TILE_SIZE: f32 = 2000.0;

/// The largest arena side, in tiles.
pub const MAX_ARENA_TILES: u8 = 8;

/// One tile's solid walls (axis-aligned rectangles, world units, relative to the tile's centre).
/// Symmetric, with the centre (where players spawn) kept clear, and all within 760 units of the
/// centre, so circles smaller than [`WALL_MARGIN`] only ever touch their own tile's walls.
pub const TILE_WALLS: [Rect; 8] = [
    rect(-520.0, 300.0, -360.0, 340.0),
    rect(360.0, -340.0, 520.0, -300.0),
    rect(-340.0, -520.0, -300.0, -360.0),
    rect(300.0, 360.0, 340.0, 520.0),
    rect(-760.0, -60.0, -700.0, 60.0),
    rect(700.0, -60.0, 760.0, 60.0),
    rect(-60.0, 700.0, 60.0, 760.0),
    rect(-60.0, -760.0, 60.0, -700.0),
];

/// The clear band between a tile's walls and its edge: circles must have a smaller radius for
/// [`Arena::circle_hits_wall`] to see every wall they touch.
pub const WALL_MARGIN: f32 = TILE_SIZE / 2.0 - 760.0;

// Players and projectiles fit in the margin, so `circle_hits_wall` sees every wall they touch.
const _: () = assert!(
    crate::game::PLAYER_RADIUS < WALL_MARGIN && crate::game::PROJECTILE_RADIUS < WALL_MARGIN
);

const fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Rect {
    Rect {
        min: Vec2::new(x0, y0),
        max: Vec2::new(x1, y1),
    }
}

/// The arena: `tiles` x `tiles` tiles of [`TILE_SIZE`] units, centred on the origin. A resource
/// in both apps, read by the simulation; the server sends its own to clients in [`ServerArena`].
/// The default, one tile, is a 2000 x 2000 square.
///
/// `tiles` is clamped to `1..=`[`MAX_ARENA_TILES`] wherever it is used, so any value (one off the
/// wire included) is a valid arena.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arena {
    /// The arena's side, in tiles (`1..=`[`MAX_ARENA_TILES`]).
    pub tiles: u8,
}

/// The arena the server runs, on the one replicated entity (named "Arena", without a place, so
/// every client gets it) that tells clients which [`Arena`] to predict and draw. A component of
/// its own because in Bevy a resource type cannot also be a component of another entity.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerArena(pub Arena);

impl Default for Arena {
    fn default() -> Self {
        Self { tiles: 1 }
    }
}

impl Arena {
    /// An arena `tiles` tiles wide, clamped to `1..=`[`MAX_ARENA_TILES`].
    pub const fn new(tiles: u8) -> Self {
        let tiles = if tiles == 0 {
            1
        } else if tiles > MAX_ARENA_TILES {
            MAX_ARENA_TILES
        } else {
            tiles
        };
        Self { tiles }
    }

    /// The side in tiles, clamped to `1..=`[`MAX_ARENA_TILES`].
    pub fn side(&self) -> u8 {
        self.tiles.clamp(1, MAX_ARENA_TILES)
    }

    /// How many tiles the arena has (`side` squared).
    pub fn tile_count(&self) -> usize {
        usize::from(self.side()).pow(2)
    }

    /// Half the side, in world units: positions stay in `[-half, half]` on both axes.
    pub fn half(&self) -> f32 {
        f32::from(self.side()) * TILE_SIZE / 2.0
    }

    /// Whether `point` is inside the arena (bounds included).
    pub fn contains(&self, point: Vec2) -> bool {
        point.abs().max_element() <= self.half()
    }

    /// The centre of tile `index` (row by row from the lowest, leftmost tile; wraps around past
    /// the last tile).
    pub fn tile_centre(&self, index: usize) -> Vec2 {
        let side = usize::from(self.side());
        let index = index % (side * side);
        let cell = Vec2::new((index % side) as f32, (index / side) as f32);
        (cell + 0.5) * TILE_SIZE - self.half()
    }

    /// The centre of the tile `point` is in (the nearest tile for a point outside the arena).
    fn tile_centre_at(&self, point: Vec2) -> Vec2 {
        let last = i32::from(self.side()) - 1;
        // Non-finite coordinates cast to 0 or saturate: always a tile.
        let cell = |v: f32| ((v + self.half()) / TILE_SIZE).floor() as i32;
        let cell = Vec2::new(
            cell(point.x).clamp(0, last) as f32,
            cell(point.y).clamp(0, last) as f32,
        );
        (cell + 0.5) * TILE_SIZE - self.half()
    }

    /// Every wall of every tile, in world coordinates (for drawing).
    pub fn walls(&self) -> impl Iterator<Item = Rect> {
        let arena = *self;
        (0..arena.tile_count()).flat_map(move |index| {
            let centre = arena.tile_centre(index);
            TILE_WALLS.iter().map(move |wall| Rect {
                min: wall.min + centre,
                max: wall.max + centre,
            })
        })
    }

    /// Whether a circle overlaps a wall. Only the walls of the tile its centre is in are checked:
    /// `radius` must be below [`WALL_MARGIN`] (players and projectiles are far smaller).
    pub fn circle_hits_wall(&self, center: Vec2, radius: f32) -> bool {
        let local = center - self.tile_centre_at(center);
        TILE_WALLS.iter().any(|wall| {
            let closest = local.clamp(wall.min, wall.max);
            closest.distance_squared(local) < radius * radius
        })
    }

    /// Whether a flying circle (a projectile) ends here: outside the arena or against a wall.
    pub fn stops(&self, center: Vec2, radius: f32) -> bool {
        !self.contains(center) || self.circle_hits_wall(center, radius)
    }

    /// Moves a circle from `from` by `step`, sliding along walls: each axis moves only if it does
    /// not end inside a wall, and the result stays inside the arena.
    pub fn slide(&self, from: Vec2, step: Vec2, radius: f32) -> Vec2 {
        let bound = self.half();
        let mut at = from;
        let along_x = Vec2::new((at.x + step.x).clamp(-bound, bound), at.y);
        if !self.circle_hits_wall(along_x, radius) {
            at = along_x;
        }
        let along_y = Vec2::new(at.x, (at.y + step.y).clamp(-bound, bound));
        if !self.circle_hits_wall(along_y, radius) {
            at = along_y;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::{PLAYER_RADIUS, PROJECTILE_RADIUS};

    fn every_arena() -> impl Iterator<Item = Arena> {
        (1..=MAX_ARENA_TILES).map(Arena::new)
    }

    #[test]
    fn walls_block_and_let_you_slide() {
        let arena = Arena::default();
        let wall = TILE_WALLS[4]; // left of centre, x -760..-700, y -60..60
        let radius = 10.0;
        let start = Vec2::new(wall.max.x + radius + 5.0, 0.0);
        // Straight into the wall: stops short of it.
        let blocked = arena.slide(start, Vec2::new(-20.0, 0.0), radius);
        assert_eq!(blocked, start, "cannot move into the wall");
        // Diagonally: the blocked axis stays, the other slides.
        let slid = arena.slide(start, Vec2::new(-20.0, 7.0), radius);
        assert_eq!(slid, Vec2::new(start.x, 7.0));
        // Open space: moves freely.
        assert_eq!(
            arena.slide(Vec2::ZERO, Vec2::new(3.0, 4.0), radius),
            Vec2::new(3.0, 4.0)
        );
    }

    #[test]
    fn the_centre_is_clear_and_walls_stay_inside_the_arena() {
        for wall in TILE_WALLS {
            assert!(wall.min.x < wall.max.x && wall.min.y < wall.max.y);
            assert!(
                wall.min.abs().max_element() <= TILE_SIZE / 2.0 - WALL_MARGIN
                    && wall.max.abs().max_element() <= TILE_SIZE / 2.0 - WALL_MARGIN,
                "walls leave a margin at the tile's edge"
            );
        }
        for arena in every_arena() {
            assert!(
                !arena.circle_hits_wall(Vec2::ZERO, 250.0),
                "the centre of {arena:?} is clear for spawns"
            );
            for index in 0..arena.tile_count() {
                assert!(
                    !arena.circle_hits_wall(arena.tile_centre(index), 250.0),
                    "the centre of tile {index} of {arena:?} is clear for spawns"
                );
            }
            for wall in arena.walls() {
                assert!(arena.contains(wall.min) && arena.contains(wall.max));
            }
        }
    }

    #[test]
    fn one_tile_matches_the_old_geometry() {
        let arena = Arena::default();
        assert_eq!(arena, Arena { tiles: 1 });
        assert_eq!(arena.half(), 1000.0);
        assert_eq!(arena.walls().collect::<Vec<_>>(), TILE_WALLS.to_vec());
        assert_eq!(arena.tile_centre(0), Vec2::ZERO);
        assert_eq!(
            arena.slide(Vec2::splat(990.0), Vec2::splat(50.0), 10.0),
            Vec2::splat(1000.0),
            "the bound is 1000"
        );
    }

    #[test]
    fn the_walls_of_every_tile_block() {
        for arena in every_arena() {
            let walls: Vec<Rect> = arena.walls().collect();
            assert_eq!(walls.len(), arena.tile_count() * TILE_WALLS.len());
            for wall in walls {
                assert!(
                    arena.circle_hits_wall(wall.center(), PROJECTILE_RADIUS),
                    "{wall:?} of {arena:?} blocks"
                );
                // Just beyond its right side: a circle touching it is stopped there.
                let beside = Vec2::new(wall.max.x + PLAYER_RADIUS + 1.0, wall.center().y);
                assert!(!arena.circle_hits_wall(beside, PLAYER_RADIUS));
                assert_eq!(
                    arena.slide(beside, Vec2::new(-5.0, 0.0), PLAYER_RADIUS),
                    beside,
                    "{wall:?} of {arena:?} stops a player"
                );
            }
        }
    }

    #[test]
    fn the_bound_grows_with_tiles() {
        for arena in every_arena() {
            let half = f32::from(arena.tiles) * 1000.0;
            assert_eq!(arena.half(), half);
            let corner = Vec2::splat(half - 1.0);
            assert_eq!(
                arena.slide(corner, Vec2::splat(10.0), PLAYER_RADIUS),
                Vec2::splat(half),
                "{arena:?} stops at {half}"
            );
            assert!(arena.contains(Vec2::splat(-half)));
            assert!(!arena.contains(Vec2::new(half + 1.0, 0.0)));
        }
        assert_eq!(Arena::new(0), Arena { tiles: 1 });
        assert_eq!(Arena::new(200), Arena::new(MAX_ARENA_TILES));
        let wild = Arena { tiles: 255 };
        assert_eq!(wild.half(), Arena::new(MAX_ARENA_TILES).half(), "clamped");
        // A position that is not a number still picks a tile (no panic, no wall).
        assert!(!wild.circle_hits_wall(Vec2::NAN, 1.0));
    }
}
