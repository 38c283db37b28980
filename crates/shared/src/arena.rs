//! The arena's fixed geometry: its bounds and the walls inside it, defined once here so the
//! server's simulation, the client's prediction and the renderer agree exactly.

use bevy::math::{Rect, Vec2};

use crate::simulation::ARENA_HALF;

/// Solid walls (axis-aligned rectangles, world units). Symmetric, with the centre (where players
/// spawn) kept clear.
pub const WALLS: [Rect; 8] = [
    rect(-520.0, 300.0, -360.0, 340.0),
    rect(360.0, -340.0, 520.0, -300.0),
    rect(-340.0, -520.0, -300.0, -360.0),
    rect(300.0, 360.0, 340.0, 520.0),
    rect(-760.0, -60.0, -700.0, 60.0),
    rect(700.0, -60.0, 760.0, 60.0),
    rect(-60.0, 700.0, 60.0, 760.0),
    rect(-60.0, -760.0, 60.0, -700.0),
];

const fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Rect {
    Rect {
        min: Vec2::new(x0, y0),
        max: Vec2::new(x1, y1),
    }
}

/// Whether a circle overlaps any wall.
pub fn circle_hits_wall(center: Vec2, radius: f32) -> bool {
    WALLS.iter().any(|wall| {
        let closest = center.clamp(wall.min, wall.max);
        closest.distance_squared(center) < radius * radius
    })
}

/// Moves a circle from `from` by `step`, sliding along walls: each axis moves only if it does
/// not end inside a wall, and the result stays inside the arena.
pub fn slide(from: Vec2, step: Vec2, radius: f32) -> Vec2 {
    let bound = Vec2::splat(ARENA_HALF);
    let mut at = from;
    let along_x = Vec2::new((at.x + step.x).clamp(-bound.x, bound.x), at.y);
    if !circle_hits_wall(along_x, radius) {
        at = along_x;
    }
    let along_y = Vec2::new(at.x, (at.y + step.y).clamp(-bound.y, bound.y));
    if !circle_hits_wall(along_y, radius) {
        at = along_y;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walls_block_and_let_you_slide() {
        let wall = WALLS[4]; // left of centre, x -760..-700, y -60..60
        let radius = 10.0;
        let start = Vec2::new(wall.max.x + radius + 5.0, 0.0);
        // Straight into the wall: stops short of it.
        let blocked = slide(start, Vec2::new(-20.0, 0.0), radius);
        assert_eq!(blocked, start, "cannot move into the wall");
        // Diagonally: the blocked axis stays, the other slides.
        let slid = slide(start, Vec2::new(-20.0, 7.0), radius);
        assert_eq!(slid, Vec2::new(start.x, 7.0));
        // Open space: moves freely.
        assert_eq!(
            slide(Vec2::ZERO, Vec2::new(3.0, 4.0), radius),
            Vec2::new(3.0, 4.0)
        );
    }

    #[test]
    fn the_centre_is_clear_and_walls_stay_inside_the_arena() {
        assert!(!circle_hits_wall(Vec2::ZERO, 250.0));
        for wall in WALLS {
            assert!(wall.min.x < wall.max.x && wall.min.y < wall.max.y);
            assert!(wall.min.abs().max_element() < ARENA_HALF);
            assert!(wall.max.abs().max_element() < ARENA_HALF);
        }
    }
}
