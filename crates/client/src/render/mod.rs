//! The client's window side (cargo feature `render`), one module per job:
//!
//! - [`input`]: keyboard, mouse and gamepad into [`InputState`](crate::InputState);
//! - [`arena`]: the floor and walls of the game screen;
//! - [`sprites`]: a sprite per player and projectile, placed where prediction or interpolation
//!   says;
//! - [`camera`]: the camera following the local player;
//! - [`hud`]: the status line, own health and score, kill feed and scoreboard;
//! - [`overlay`]: the F3 network overlay.

pub mod arena;
pub mod camera;
pub mod hud;
pub mod input;
pub mod overlay;
pub mod sprites;

use bevy::prelude::*;
use skirmish_net::client::ClientSystems;

use crate::ClientPlugin;
use crate::assets::GameAssets;

pub use overlay::{NetOverlay, OverlayShown};

/// The game window app: `DefaultPlugins` (a 1280x720 window titled "Skirmish"), [`ClientPlugin`]
/// and [`ClientRenderPlugin`]. Call [`connect`](crate::connect) on it, then `run` it.
pub fn window_app() -> App {
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "Skirmish".into(),
            resolution: (1280, 720).into(),
            ..default()
        }),
        ..default()
    }))
    .add_plugins((ClientPlugin, ClientRenderPlugin));
    app
}

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

/// Rendering and input for the client. Needs `DefaultPlugins` (a window) and [`ClientPlugin`].
pub struct ClientRenderPlugin;

impl Plugin for ClientRenderPlugin {
    fn build(&self, app: &mut App) {
        let assets = GameAssets::load(app.world_mut());
        app.insert_resource(assets)
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
                crate::screens::plugin,
                input::plugin,
                arena::plugin,
                sprites::plugin,
                camera::plugin,
                hud::plugin,
                overlay::plugin,
            ));
        #[cfg(feature = "audio")]
        app.add_plugins(crate::audio::plugin);
    }
}
