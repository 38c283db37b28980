//! The demo's client app, on `skirmish-net`'s client (connection, snapshots, input sending,
//! prediction, interpolation, stats).
//!
//! - [`ClientPlugin`] gathers [`net`], [`movement`] and [`shooting`];
//! - [`net`]: the demo's networking glue (its input, its own player marked,
//!   the kill feed). Needs no window or GPU: tests and bots use it on `MinimalPlugins`.
//! - [`movement`]: the local player's movement predicted, everyone else's interpolated.
//! - [`bot`] ([`BotPlugin`]): a wandering bot that drives [`InputState`], for examples and load.
//! - `render` (`ClientRenderPlugin`, cargo feature `render`): camera, arena, a sprite per
//!   replicated player, the HUD and keyboard input, in the shell's window (`skirmish-app`).

#[cfg(feature = "render")]
pub mod assets;
#[cfg(feature = "audio")]
pub mod audio;
pub mod bot;
pub mod movement;
pub mod net;
#[cfg(feature = "render")]
pub mod render;
pub mod shooting;

/// Helpers for this crate's tests.
#[cfg(all(test, feature = "render"))]
pub(crate) mod test_support {
    use bevy::prelude::*;

    /// How many entities are named `name`.
    pub(crate) fn count_named(app: &mut App, name: &str) -> usize {
        let mut names = app.world_mut().query::<&Name>();
        names
            .iter(app.world())
            .filter(|n| n.as_str() == name)
            .count()
    }
}

use bevy::prelude::*;

pub use bot::BotPlugin;
pub use net::{
    AnnouncedVersion, ClientSession, ConnectError, ConnectTimeout, ConnectionStatus, InputState,
    KillFeed, LocalPlayer, ServerEntityMap, SnapshotApplied, apply_server_messages, connect,
    connect_with, connect_with_token, disconnect,
};

/// The demo client's networking, movement and shooting: add it to any app (windowed or
/// `MinimalPlugins`), then [`connect`].
pub struct ClientPlugin;

impl Plugin for ClientPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((net::plugin, movement::plugin, shooting::plugin));
    }
}

/// A headless client app: `MinimalPlugins` + [`ClientPlugin`]. Step it with `app.update()`.
pub fn headless_app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, ClientPlugin));
    app
}
#[cfg(feature = "render")]
pub use render::ClientRenderPlugin;
pub use skirmish_net::client::{
    ClientSystems, Interpolated, InterpolationSettings, NetStats, Predicted, PredictionSettings,
};
