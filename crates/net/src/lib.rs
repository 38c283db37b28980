//! `skirmish-net`: the netcode under a Skirmish game, with no game types in it. A game registers
//! what it sends from its own plugins; a fork changes its game crates and never edits this one.
//!
//! A game has three parts, each a Bevy plugin of its own:
//!
//! ```
//! use bevy::prelude::*;
//! use serde::{Deserialize, Serialize};
//! use skirmish_net::prelude::*;
//!
//! // Shared: what both apps agree on, registered in the same order on both.
//! #[derive(Component, Clone, PartialEq, Serialize, Deserialize)]
//! struct Lantern { lit: bool }
//!
//! #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
//! struct Walk { north: bool }
//! impl NetInput for Walk {}
//!
//! #[derive(Message, Clone, Serialize, Deserialize)]
//! struct Bell;
//!
//! fn shared(app: &mut App) {
//!     app.insert_resource(GameProtocol { id: 0x4C41_4E54, version: 1 })
//!         .add_input::<Walk>()
//!         .replicate::<Lantern>()
//!         .add_server_message::<Bell>();
//! }
//!
//! // Server: the game's observer spawns what a joining client plays.
//! fn light_a_lantern(joined: On<ClientJoined>, mut commands: Commands) {
//!     commands.spawn((Replicated, Lantern { lit: true }, ControlledBy(joined.client)));
//! }
//!
//! let mut server = App::new();
//! server
//!     .add_plugins((MinimalPlugins, shared, NetServerPlugin::new(60)))
//!     .add_observer(light_a_lantern);
//!
//! // Client: everything replicated arrives as entities; `connect` to join.
//! let mut client = App::new();
//! client.add_plugins((MinimalPlugins, shared, NetClientPlugin));
//! ```
//!
//! `minimal/` in the repository is a complete small game on this crate (with prediction and
//! interpolation), and `docs/TEMPLATE.md` the forker's guide.
//!
//! Modules:
//! - [`registry`]: the replication registry (`replicate::<C>()`, [`registry::Quantize`]);
//! - [`messages`]: the game's typed messages in each direction;
//! - [`input`]: the game's input type ([`input::NetInput`]) and the server's input buffer;
//! - [`protocol`]: the connection protocol's messages (hello, welcome, goodbye, snapshots);
//! - [`blend`]: what prediction and interpolation need of a component ([`blend::Blend`]);
//! - [`tick`]: the simulation tick and the order of the simulation sets;
//! - [`server`]: the server half (transport, clients as entities, replication);
//! - [`client`]: the client half (connection, snapshots, input, prediction, interpolation,
//!   stats);
//! - [`channels`]: the renet channels of every connection and their settings;
//! - [`codec`]: the wire codec (bincode 2 with a size limit) every message goes through;
//! - [`netcode`]: our own implementation of the netcode protocol (netcode.io 1.02): connect and
//!   challenge tokens, the handshake, encrypted packets, client and server state machines;
//! - [`tokens`]: private keys and connect tokens as text, and minting tokens;
//! - [`socket`]: the UDP socket both ends use, with the link conditioner and traffic counters;
//! - [`log_limit`]: rate-limited logging for events a peer can trigger at will;
//! - `testing` (feature `test-utils`): a server and clients of any game in one process, on a
//!   test clock, over loopback or an in-memory network.
//!
//! Under the wire, public only with the feature `internals` (for benchmarks and fuzz targets):
//! `renet_guard` (checks of every renet packet a peer sends, before renet reads it), `bits` and
//! `snapshot_format` (bit packing and the snapshot's entity layout), and `internals` (the
//! server's replication pipeline step by step).

#[cfg(feature = "internals")]
pub mod bits;
#[cfg(not(feature = "internals"))]
mod bits;
pub mod blend;
pub mod channels;
pub mod client;
pub mod codec;
pub mod component_rules;
mod equal_writes;
pub mod input;
#[cfg(feature = "internals")]
pub mod internals;
pub mod log_limit;
pub mod messages;
pub mod netcode;
pub mod peer_text;
pub mod protocol;
pub mod registry;
#[cfg(feature = "internals")]
pub mod renet_guard;
#[cfg(not(feature = "internals"))]
mod renet_guard;
pub mod server;
pub mod side;
#[cfg(feature = "internals")]
pub mod snapshot_format;
#[cfg(not(feature = "internals"))]
mod snapshot_format;
pub mod socket;
#[cfg(feature = "test-utils")]
pub mod testing;
pub mod tick;
pub mod tokens;

/// The types a game built on `skirmish-net` uses most.
pub mod prelude {
    pub use crate::blend::Blend;
    pub use crate::client::{
        AppPredictionExt, ClientSession, ClientSystems, ConnectError, ConnectionStatus, Controlled,
        Interpolated, LocalInput, NetClientPlugin, Predicted, PredictedInput, PredictionStep,
        Shown,
    };
    pub use crate::component_rules::ComponentRules;
    pub use crate::input::{AppInputExt, NetInput};
    pub use crate::messages::{AppMessageExt, FromClient, SendTo, ToClients};
    pub use crate::protocol::GameProtocol;
    pub use crate::registry::{
        AppReplicateExt, NetId, Quantize, Quantized, Replicated, ReplicationRegistry, Teleported,
    };
    pub use crate::server::{
        ClientInput, ClientJoined, ClientLeft, ControlledBy, Controls, ListenConfig,
        NetServerPlugin, ServerSystems, StartError,
    };
    pub use crate::tick::{SimulationSystems, SimulationTick};
}
