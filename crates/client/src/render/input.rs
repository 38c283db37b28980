//! The local player's devices into [`InputState`]: WASD or arrows move, the mouse aims, the left
//! button or space fires; a gamepad (cargo feature `gamepad`) overrides them when moved.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use super::RenderSystems;
use crate::net::{InputState, LocalPlayer};
use skirmish_app::Screen;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        Update,
        (read_keyboard, read_mouse)
            .chain()
            .in_set(RenderSystems::Input)
            .run_if(in_state(Screen::InGame)),
    );
    #[cfg(feature = "gamepad")]
    app.add_systems(
        Update,
        read_gamepad
            .after(read_mouse)
            .in_set(RenderSystems::Input)
            .run_if(in_state(Screen::InGame)),
    );
}

/// WASD or arrow keys -> the movement of [`InputState`].
fn read_keyboard(keys: Res<ButtonInput<KeyCode>>, mut input: ResMut<InputState>) {
    let pressed = |a: KeyCode, b: KeyCode| keys.pressed(a) || keys.pressed(b);
    let mut movement = Vec2::ZERO;
    if pressed(KeyCode::KeyW, KeyCode::ArrowUp) {
        movement.y += 1.0;
    }
    if pressed(KeyCode::KeyS, KeyCode::ArrowDown) {
        movement.y -= 1.0;
    }
    if pressed(KeyCode::KeyA, KeyCode::ArrowLeft) {
        movement.x -= 1.0;
    }
    if pressed(KeyCode::KeyD, KeyCode::ArrowRight) {
        movement.x += 1.0;
    }
    input.movement = movement.normalize_or_zero();
}

/// Mouse aim (from the local player towards the cursor) and fire (left button or space).
fn read_mouse(
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    cameras: Query<(&Camera, &GlobalTransform), With<Camera2d>>,
    player: Query<&Transform, With<LocalPlayer>>,
    mut input: ResMut<InputState>,
) {
    input.fire = buttons.pressed(MouseButton::Left) || keys.pressed(KeyCode::Space);
    let (Ok(window), Ok((camera, camera_transform)), Ok(player)) =
        (windows.single(), cameras.single(), player.single())
    else {
        return;
    };
    let Some(cursor) = window.cursor_position() else {
        return;
    };
    if let Ok(target) = camera.viewport_to_world_2d(camera_transform, cursor) {
        input.aim = (target - player.translation.truncate()).normalize_or_zero();
    }
}

/// A gamepad, when one is connected and moved, overrides keyboard and mouse: left stick moves,
/// right stick aims, right trigger or South fires.
#[cfg(feature = "gamepad")]
fn read_gamepad(gamepads: Query<&Gamepad>, mut input: ResMut<InputState>) {
    const DEAD_ZONE: f32 = 0.2;
    for gamepad in &gamepads {
        let movement = gamepad.left_stick();
        if movement.length() > DEAD_ZONE {
            input.movement = movement.clamp_length_max(1.0);
        }
        let aim = gamepad.right_stick();
        if aim.length() > DEAD_ZONE {
            input.aim = aim.normalize();
        }
        if gamepad.any_pressed([GamepadButton::RightTrigger2, GamepadButton::South]) {
            input.fire = true;
        }
    }
}
