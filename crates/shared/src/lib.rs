//! Code shared by the Skirmish server and client: the wire protocol, the replication registry and
//! the shared simulation.
//!
//! Both apps add [`SharedPlugin`]; it is the only code the two sides have in common, so anything
//! that must agree between them (channels, message types, replicated components, game rules)
//! lives here.

pub mod arena;
pub mod game;
pub mod protocol;
pub mod simulation;

use bevy::prelude::*;

/// Everything a game built on Skirmish usually needs from this crate.
pub mod prelude {
    pub use crate::SharedPlugin;
    pub use crate::arena::{Arena, ServerArena};
    pub use crate::game::{Health, Ping, PlayerSlot, Projectile, Roster, RosterEntry, Score};
    pub use crate::protocol::{ClientChannel, ClientMessage, ServerChannel, ServerMessage};
    pub use crate::simulation::{
        InputFrame, Player, PlayerInput, PlayerName, Position, Rotation, SimulationSystems,
        SimulationTick, Velocity,
    };
    pub use skirmish_net::input::NetInput;
    pub use skirmish_net::registry::{
        AppReplicateExt, NetId, Quantize, Quantized, Replicated, ReplicationRegistry,
    };
}

/// The protocol registry and shared simulation. Server and client both add it, so replicated
/// components are registered in the same order on both sides.
///
/// Register your own replicated components next to the demo's, in the `plugin` function of
/// `crates/shared/src/protocol.rs`, so both sides always agree.
pub struct SharedPlugin;

impl Plugin for SharedPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((protocol::plugin, simulation::plugin));
    }
}
