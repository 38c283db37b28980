//! The demo's authoritative server: a headless Bevy [`App`] (`MinimalPlugins`, no window, GPU or
//! audio). The networking is `skirmish-net`'s [`NetServerPlugin`]; this crate is the game on top:
//! [`players`] (a player per client that joins), [`combat`], [`bots`], the [`arena`], the
//! [`roster`]. The app around it, its socket and its operations (metrics, health, shutdown,
//! Agones) come from the shell, `skirmish-app`: the launcher's `server` mode runs it.

pub mod arena;
pub mod bots;
pub mod combat;
pub mod players;
pub mod roster;
mod setup;
mod singleton;

use bevy::prelude::*;
use skirmish_net::server::NetServerPlugin;
use skirmish_shared::SharedPlugin;
use skirmish_shared::simulation::DEFAULT_TICK_RATE;

pub use players::player_of;
pub use setup::{MatchSettings, set_up};
pub use skirmish_net::server::{
    AckTimeout, ClientReplication, ConnectedClient, ConnectedClients, DEFAULT_ACK_TIMEOUT,
    FAREWELL_GRACE, Farewells, HELLO_TIMEOUT, IN_FLIGHT_SNAPSHOTS, MAX_CLIENTS_LIMIT,
    ReplicationFootprint, ReplicationState, ServerSystems, ServerTransport, SnapshotInterval,
    StartError, TickRate,
};
pub use skirmish_net::tokens::PrivateKey;

/// The demo's server systems, without transport: add it to an app with `MinimalPlugins`, then
/// [`set_up`] the match and open the socket (the shell's `listen`).
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
        app.add_plugins((SharedPlugin, NetServerPlugin::new(self.tick_rate)))
            .add_plugins((
                arena::plugin,
                roster::plugin,
                bots::plugin,
                combat::plugin,
                players::plugin,
            ));
    }
}
