//! The camera: spawned once, then following the local player without showing beyond the arena.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use skirmish_shared::arena::Arena;

use super::RenderSystems;
use crate::net::LocalPlayer;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, spawn_camera)
        .add_systems(Update, follow_local_player.in_set(RenderSystems::Camera));
}

fn spawn_camera(mut commands: Commands) {
    commands.spawn((Name::new("Camera"), Camera2d));
}

/// Keeps the camera on the local player, but never shows beyond the arena's edge (unless the
/// window is larger than the arena).
fn follow_local_player(
    windows: Query<&Window, With<PrimaryWindow>>,
    arena: Res<Arena>,
    player: Query<&Transform, (With<LocalPlayer>, Without<Camera2d>)>,
    mut camera: Query<&mut Transform, With<Camera2d>>,
) {
    let (Ok(player), Ok(mut camera)) = (player.single(), camera.single_mut()) else {
        return;
    };
    let half_view = windows
        .single()
        .map_or(Vec2::ZERO, |window| window.size() * 0.5);
    let limit = (Vec2::splat(arena.half()) - half_view).max(Vec2::ZERO);
    let target = player.translation.truncate().clamp(-limit, limit);
    camera.translation.x = target.x;
    camera.translation.y = target.y;
}
