//! The client's window side (cargo feature `render`), one module per job:
//!
//! - [`input`]: keyboard, mouse and gamepad into [`InputState`](crate::InputState);
//! - [`arena`]: the floor and walls of the game screen;
//! - [`sprites`]: a sprite per player and projectile, placed where prediction or interpolation
//!   says;
//! - [`camera`]: the camera following the local player;
//! - [`hud`]: the status line, own health and score, kill feed and scoreboard.
//!
//! The menus, connection screens and F3 overlay are the shell's (`skirmish-app`), dressed in the
//! demo's [`Theme`].

pub mod arena;
pub mod camera;
pub mod hud;
pub mod input;
pub mod sprites;
#[cfg(test)]
mod tests;

use bevy::prelude::*;
use skirmish_app::Theme;
use skirmish_net::client::ClientSystems;

use crate::assets::GameAssets;

/// The order of the window side's work in `Update`, every frame.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenderSystems {
    /// Read the devices into the input.
    Input,
    /// Place and dress sprites (after interpolation).
    Sprites,
    /// Move the camera to where the local player is drawn.
    Camera,
    /// Update texts.
    Ui,
}

/// Rendering and input for the client. Needs `DefaultPlugins` (a window), the shell's screens and
/// [`ClientPlugin`](crate::ClientPlugin).
pub struct ClientRenderPlugin;

impl Plugin for ClientRenderPlugin {
    fn build(&self, app: &mut App) {
        let assets = GameAssets::load(app.world_mut());
        app.insert_resource(Theme {
            heading_font: assets.bold.clone(),
            mono_font: assets.mono.clone(),
            ..Theme::titled("SKIRMISH")
        })
        .insert_resource(assets)
        .insert_resource(ClearColor(Color::srgb(0.06, 0.07, 0.09)))
        .configure_sets(
            Update,
            (
                RenderSystems::Input,
                RenderSystems::Sprites.after(ClientSystems::Interpolate),
                RenderSystems::Camera,
                RenderSystems::Ui,
            )
                .chain(),
        )
        .add_plugins((
            input::plugin,
            arena::plugin,
            sprites::plugin,
            camera::plugin,
            hud::plugin,
        ));
        #[cfg(feature = "audio")]
        app.add_plugins(crate::audio::plugin);
    }
}
