//! A game's server: its apps ([`server_app`], [`headless_server`], [`spawn_local_server`]), its
//! [`ServerSettings`], the dedicated-server mode, and the operations every public server needs:
//! [`metrics`] with the bounded [`http`] endpoint, [`health`], graceful [`shutdown`] and Agones.
//! Nothing here pulls in a window, GPU or audio crate.

#[cfg(feature = "agones")]
pub mod agones;
mod dedicated;
mod headless;
pub mod health;
pub mod http;
pub mod metrics;
mod settings;
pub mod shutdown;

use bevy::prelude::*;

pub(crate) use dedicated::{ServerArgs, run_dedicated};
pub use headless::{LogFormat, headless_server, listen, server_app, spawn_local_server};
pub use health::Heartbeat;
pub use metrics::{serve_metrics, serve_metrics_with};
pub use settings::{DEFAULT_PORT, ServerSettings};
pub use shutdown::{SHUTDOWN_REASON, ShutdownRequest, shut_down_on_signals};

/// The operations of a server app: the [`Heartbeat`] health reads, the metrics of every frame,
/// and the graceful shutdown on a [`ShutdownRequest`]. Needs the netcode's server plugin.
pub struct ServerOpsPlugin;

impl Plugin for ServerOpsPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((health::plugin, metrics::plugin, shutdown::plugin));
    }
}
