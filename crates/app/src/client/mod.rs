//! The client's window side every game keeps (cargo feature `render`): the window app, the
//! [`Screen`]s (main menu, connecting, in game, disconnected with its reason), the F3 network
//! overlay, and the [`Theme`] a game dresses them in.

pub mod overlay;
pub mod screens;
mod screenshot;
mod theme;
pub(crate) mod window;

use bevy::prelude::*;

pub use overlay::{NetOverlay, OverlayShown};
pub use screens::{HostGame, MenuFields, Screen};
pub use screenshot::ScreenshotPlugin;
pub use theme::Theme;
pub use window::window_app;

/// The shell's screens and overlay. Needs `DefaultPlugins` (or, in tests, states, assets and
/// input) and the netcode's client plugin. A game inserts its own [`Theme`] to dress them;
/// `title` is the default theme's heading.
pub struct ClientShellPlugin {
    /// The main menu's heading when the game gives no [`Theme`].
    pub title: &'static str,
}

impl Plugin for ClientShellPlugin {
    fn build(&self, app: &mut App) {
        if !app.world().contains_resource::<Theme>() {
            app.insert_resource(Theme::titled(self.title));
        }
        app.add_plugins((screens::plugin, overlay::plugin));
    }
}
