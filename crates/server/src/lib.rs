//! The demo's authoritative server: a headless Bevy [`App`] (`MinimalPlugins`, no window, GPU or
//! audio). The networking is `skirmish-net`'s [`NetServerPlugin`]; this crate is the game on top:
//! [`players`] (a player per client that joins), [`combat`], [`bots`], the [`arena`], the
//! [`roster`], and operations ([`metrics`], [`health`], [`http`], [`shutdown`], Agones).
//!
//! ```no_run
//! use skirmish_server::{LogFormat, ServerSettings, headless_app};
//!
//! let settings = ServerSettings::default();
//! let mut app = headless_app(&settings, LogFormat::Human).expect("could not bind the server socket");
//! app.run();
//! ```

#[cfg(feature = "agones")]
pub mod agones;
mod app;
pub mod arena;
pub mod bots;
pub mod combat;
pub mod health;
pub mod http;
mod listen;
pub mod metrics;
pub mod players;
pub mod roster;
mod settings;
pub mod shutdown;
mod singleton;

use bevy::prelude::*;
use skirmish_net::server::NetServerPlugin;
use skirmish_shared::SharedPlugin;
use skirmish_shared::simulation::{DEFAULT_TICK_RATE, InputFrame};

pub use app::{LogFormat, headless_app, server_app, spawn_local_server};
pub use health::Heartbeat;
pub use listen::{listen, listen_on, listen_on_socket};
pub use metrics::{serve_metrics, serve_metrics_with};
pub use players::player_of;
pub use settings::{DEFAULT_PORT, ServerSettings};
pub use shutdown::{SHUTDOWN_REASON, ShutdownRequest};
pub use skirmish_net::server::{
    AckTimeout, ClientReplication, ConnectedClient, ConnectedClients, DEFAULT_ACK_TIMEOUT,
    FAREWELL_GRACE, Farewells, HELLO_TIMEOUT, IN_FLIGHT_SNAPSHOTS, MAX_CLIENTS_LIMIT,
    ReplicationFootprint, ReplicationState, ServerSystems, ServerTransport, SnapshotInterval,
    StartError, TickRate,
};
pub use skirmish_net::tokens::PrivateKey;

/// The server's systems, without transport: add it to an app with `MinimalPlugins`, then call
/// [`listen`] to open the socket.
pub struct ServerPlugin {
    /// Simulation ticks per second.
    pub tick_rate: u16,
}

impl Default for ServerPlugin {
    fn default() -> Self {
        Self {
            tick_rate: DEFAULT_TICK_RATE,
        }
    }
}

impl Plugin for ServerPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((
            SharedPlugin,
            NetServerPlugin::<InputFrame>::new(self.tick_rate),
        ))
        .add_plugins((
            arena::plugin,
            roster::plugin,
            bots::plugin,
            combat::plugin,
            players::plugin,
            health::plugin,
            metrics::plugin,
            shutdown::plugin,
        ));
    }
}
