//! The Skirmish client.
//!
//! - [`net`] ([`ClientPlugin`]): connecting, sending inputs, receiving snapshots and applying them
//!   to local entities. Needs no window or GPU: tests and bots use it on `MinimalPlugins`.
//! - [`prediction`], [`interpolation`], [`stats`]: the local player predicted and reconciled,
//!   remote entities interpolated between snapshots, and the connection measured.
//! - [`bot`] ([`BotPlugin`]): a wandering bot that drives [`InputState`], for examples and load.
//! - `render` (`ClientRenderPlugin`, cargo feature `render`): the window, camera, a sprite per
//!   replicated player and keyboard input.

#[cfg(feature = "render")]
pub mod assets;
#[cfg(feature = "audio")]
pub mod audio;
pub mod bot;
pub mod interpolation;
pub mod net;
pub mod prediction;
#[cfg(feature = "render")]
pub mod render;
#[cfg(feature = "render")]
pub mod screens;
pub mod stats;
pub mod transport;

pub use bot::BotPlugin;
pub use interpolation::{Interpolated, InterpolationSettings};
pub use net::{
    AnnouncedVersion, ClientPlugin, ClientSession, ClientSystems, ConnectError, ConnectTimeout,
    ConnectionStatus, InputState, KillFeed, LocalPlayer, ServerEntityMap, SnapshotApplied,
    apply_server_messages, connect, connect_with, connect_with_token, disconnect, headless_app,
};
pub use prediction::{Predicted, PredictionSettings};
#[cfg(feature = "render")]
pub use render::ClientRenderPlugin;
pub use stats::NetStats;
