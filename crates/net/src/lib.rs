//! `skirmish-net`: the netcode under a Skirmish game, with no game types in it. A forker changes
//! the game crates and never needs to edit this one.
//!
//! Today it holds:
//! - [`channels`]: the renet channels of every connection and their settings;
//! - [`renet_guard`]: checks of every renet packet a peer sends, before renet reads it;
//! - [`codec`]: the wire codec (bincode 2 with a size limit) every message goes through;
//! - [`bits`] and [`snapshot`]: bit packing and the snapshot's entity layout;
//! - [`netcode`]: our own implementation of the netcode protocol (netcode.io 1.02): connect and
//!   challenge tokens, the handshake, encrypted packets, client and server state machines;
//! - [`tokens`]: private keys and connect tokens as text, and minting tokens;
//! - [`socket`]: the UDP socket both ends use, with the link conditioner and traffic counters;
//! - [`log_limit`]: rate-limited logging for events a peer can trigger at will.
//!
//! - [`replication`]: the replication registry (`replicate::<C>()`, [`replication::Quantize`]);
//! - [`tick`]: the simulation tick and the order of the simulation sets.
//!
//! The rest of the netcode (the connection protocol's messages,
//! prediction and interpolation) moves here from `skirmish-shared`, `skirmish-server`
//! and `skirmish-client` step by step.

pub mod bits;
pub mod channels;
pub mod client;
pub mod codec;
pub mod input;
pub mod log_limit;
pub mod messages;
pub mod netcode;
pub mod protocol;
pub mod renet_guard;
pub mod replication;
pub mod server;
pub mod snapshot;
pub mod socket;
pub mod tick;
pub mod tokens;

/// The types a game built on `skirmish-net` uses most.
pub mod prelude {
    pub use crate::replication::{
        AppReplicateExt, NetId, Quantize, Quantized, Replicated, ReplicationRegistry,
    };
    pub use crate::tick::{SimulationSystems, SimulationTick};
}
