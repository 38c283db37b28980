//! The Skirmish client.
//!
//! - [`net`] ([`ClientPlugin`]): connecting, sending inputs, receiving snapshots and applying them
//!   to local entities. Needs no window or GPU: tests and bots use it on `MinimalPlugins`.
//! - [`bot`] ([`BotPlugin`]): a wandering bot that drives [`InputState`], for examples and load.
//! - `render` (`ClientRenderPlugin`, cargo feature `render`): the window, camera, a sprite per
//!   replicated player and keyboard input.

pub mod bot;
pub mod net;
#[cfg(feature = "render")]
pub mod render;

pub use bot::BotPlugin;
pub use net::{
    ClientPlugin, ClientSession, ClientSystems, ConnectError, ConnectionStatus, InputState,
    LocalPlayer, ServerEntityMap, connect, headless_app,
};
#[cfg(feature = "render")]
pub use render::ClientRenderPlugin;
