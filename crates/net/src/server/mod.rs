//! The server half of the netcode: add [`NetServerPlugin`] to a headless app next to the game's own plugins, then [`listen`].
//!
//! - [`transport`]: our netcode layer on the UDP socket, feeding renet, every packet guarded;
//! - [`clients`]: connections as entities, [`ClientJoined`] and [`ClientLeft`],
//!   goodbyes;
//! - `control`: each client told which entities it controls ([`ControlledBy`]);
//! - [`receive`](self): hello, inputs, acks and the game's messages from each client;
//! - `replication`: what changed, per-client snapshots within a byte budget;
//! - [`lag_compensation`]: histories of hittable components, and how far back to judge a
//!   client's action;
//! - [`interest`]: which entities each client gets (space, rooms, per-client exceptions);
//! - [`names`]: player names made safe to show.

pub mod clients;
mod control;
pub mod interest;
pub mod lag_compensation;
pub mod names;
mod receive;
pub(crate) mod replication;
pub mod transport;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bevy::prelude::*;
use bevy_renet::{RenetReceive, RenetSend, RenetServer, RenetServerPlugin};

use crate::channels::{ServerChannel, connection_config};
use crate::codec::encode;
use crate::input::NetInput;
use crate::messages::{MessageRegistry, SendTo};
use crate::netcode::{ServerAuthentication, ServerConfig};
use crate::protocol::{GameProtocol, ServerMessage};
use crate::registry::ReplicationRegistry;
use crate::socket::{GameSocket, LinkConditioner};
use crate::tick::{DEFAULT_TICK_RATE, SimulationSystems, TickPlugin};
use crate::tokens::PrivateKey;

pub use clients::{
    AwaitingHello, ClientEntities, ClientInput, ClientJoined, ClientLeft, ConnectedClient,
    ConnectedClients, ControlledBy, Controls, FAREWELL_GRACE, Farewells, HELLO_TIMEOUT,
    ReservedClientIds,
};
pub use replication::{
    AckTimeout, ClientReplication, DEFAULT_ACK_TIMEOUT, IN_FLIGHT_SNAPSHOTS, MAX_CARRIED_DESPAWNS,
    ParallelSnapshots, ReplicationFootprint, ReplicationState, SNAPSHOT_BUDGET_BYTES,
    SnapshotInterval,
};
pub use transport::ServerTransport;

/// The most clients one server accepts (netcode's own limit is 1024).
pub const MAX_CLIENTS_LIMIT: usize = 256;

/// Ordering of the server's network systems. Configured by [`NetServerPlugin`].
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerSystems {
    /// `PreUpdate`, after renet received packets: decode, validate and apply client messages.
    Receive,
    /// `FixedUpdate`, in [`SimulationSystems::Input`]: every client's input for this tick is put
    /// in its [`ClientInput`]. Order the game's input systems after it.
    Inputs,
    /// `PostUpdate`, before renet sends packets: the game's messages, then snapshots.
    Send,
}

/// The server's tick rate, in Hz.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Deref)]
pub struct TickRate(pub u16);

/// The server's networking: connections, the game's input (see
/// [`AppInputExt::add_input`](crate::input::AppInputExt::add_input)), its messages and
/// replication. Add it with `MinimalPlugins`, then call [`listen`].
pub struct NetServerPlugin {
    /// Simulation ticks per second.
    pub tick_rate: u16,
}

impl NetServerPlugin {
    /// The plugin at `tick_rate` Hz.
    pub fn new(tick_rate: u16) -> Self {
        Self { tick_rate }
    }
}

impl Default for NetServerPlugin {
    fn default() -> Self {
        Self::new(DEFAULT_TICK_RATE)
    }
}

impl Plugin for NetServerPlugin {
    fn build(&self, app: &mut App) {
        crate::side::enter_side(app, crate::side::Side::Server);
        if !app.is_plugin_added::<TickPlugin>() {
            app.add_plugins(TickPlugin);
        }
        app.add_plugins(RenetServerPlugin)
            .init_resource::<ReplicationRegistry>()
            .init_resource::<MessageRegistry>()
            .insert_resource(Time::<Fixed>::from_hz(f64::from(self.tick_rate.max(1))))
            .insert_resource(TickRate(self.tick_rate))
            .configure_sets(PreUpdate, ServerSystems::Receive.after(RenetReceive))
            .configure_sets(
                FixedUpdate,
                ServerSystems::Inputs.in_set(SimulationSystems::Input),
            )
            .configure_sets(PostUpdate, ServerSystems::Send.before(RenetSend))
            .add_systems(
                PostUpdate,
                send_game_messages
                    .run_if(resource_exists::<RenetServer>)
                    .in_set(ServerSystems::Send),
            )
            .add_plugins((
                transport::plugin,
                clients::plugin,
                control::plugin,
                replication::plugin,
            ));
        crate::side::run_pending(app);
    }

    fn finish(&self, app: &mut App) {
        crate::input::default_to_no_input(app);
    }
}

/// The server's systems for the game's input type `I` (see
/// [`AppInputExt::add_input`](crate::input::AppInputExt::add_input)): clients' messages
/// received, their input frames buffered and consumed tick by tick.
pub(crate) fn install_input<I: NetInput>(app: &mut App) {
    app.add_systems(
        PreUpdate,
        receive::receive_messages::<I>.in_set(ServerSystems::Receive),
    )
    .add_systems(
        FixedUpdate,
        clients::take_inputs::<I>.in_set(ServerSystems::Inputs),
    );
}

/// Sends every message the game wrote as [`ToClients`](crate::messages::ToClients).
fn send_game_messages(world: &mut World) {
    let rules: Vec<_> = world
        .resource::<MessageRegistry>()
        .server_messages()
        .to_vec();
    if rules.is_empty() {
        return;
    }
    let mut outgoing = Vec::new();
    world.resource_scope(|world, mut server: Mut<RenetServer>| {
        for (kind, rule) in (0u8..).zip(&rules) {
            outgoing.clear();
            (rule.take_outgoing)(world, &mut outgoing);
            let clients = world.resource::<ConnectedClients>();
            for (to, bytes) in outgoing.drain(..) {
                let message = encode(&ServerMessage::Message { kind, bytes });
                for &client_id in clients.keys() {
                    if to.includes(client_id) {
                        server.send_message(client_id, ServerChannel::Reliable, message.clone());
                    }
                }
                if let SendTo::Client(id) = to
                    && !clients.contains_key(&id)
                {
                    debug!("{} for client {id}, who is not connected", rule.name);
                }
            }
        }
    });
}

/// What a server listens with.
#[derive(Clone)]
pub struct ListenConfig {
    /// Addresses clients dial to reach this server. Empty means "the bound address", or
    /// `127.0.0.1:<port>` when bound to an unspecified address such as `0.0.0.0`.
    pub public_addresses: Vec<SocketAddr>,
    /// Most clients connected at once (1 to [`MAX_CLIENTS_LIMIT`]).
    pub max_clients: usize,
    /// Snapshots per second sent to each client; at most the tick rate, which it should divide.
    /// `None` means one per tick.
    pub snapshot_rate: Option<u16>,
    /// Simulated latency, jitter and loss on the server's socket (testing only).
    pub conditioner: LinkConditioner,
    /// The netcode private key: with it the server is secure (clients need a connect token
    /// minted with it, see [`crate::tokens`]); without, it serves unsecure clients.
    pub private_key: Option<PrivateKey>,
}

impl std::fmt::Debug for ListenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenConfig")
            .field("public_addresses", &self.public_addresses)
            .field("max_clients", &self.max_clients)
            .field("snapshot_rate", &self.snapshot_rate)
            .field("conditioner", &self.conditioner)
            .field(
                "private_key",
                &format_args!(
                    "{}",
                    if self.private_key.is_some() {
                        "Some(<redacted>)"
                    } else {
                        "None"
                    }
                ),
            )
            .finish()
    }
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            public_addresses: Vec::new(),
            max_clients: 16,
            snapshot_rate: None,
            conditioner: LinkConditioner::default(),
            private_key: None,
        }
    }
}

/// Why a server could not start.
#[derive(Debug)]
pub enum StartError {
    /// The UDP socket could not be bound or configured.
    Socket(std::io::Error),
    /// A setting is out of range.
    InvalidSetting(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Socket(err) => write!(f, "cannot open the server socket: {err}"),
            Self::InvalidSetting(msg) => write!(f, "invalid setting: {msg}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Opens the server on `socket` (already bound) in an app with [`NetServerPlugin`]: inserts the
/// renet server and the transport. Returns the bound address (useful with port 0).
pub fn listen(
    world: &mut World,
    socket: UdpSocket,
    config: &ListenConfig,
) -> Result<SocketAddr, StartError> {
    let socket = GameSocket::new(socket, config.conditioner).map_err(StartError::Socket)?;
    listen_on(world, socket, config)
}

/// Like [`listen`], on a [`GameSocket`] made by the caller (for example one on a test clock or an
/// in-memory network, see `testing`); `config.conditioner` is not used: the socket has its own.
pub fn listen_on(
    world: &mut World,
    socket: GameSocket,
    config: &ListenConfig,
) -> Result<SocketAddr, StartError> {
    let conditioner = socket.conditioner();
    let tick_rate = world
        .get_resource::<TickRate>()
        .map_or(DEFAULT_TICK_RATE, |rate| rate.0);
    if config.max_clients == 0 || config.max_clients > MAX_CLIENTS_LIMIT {
        return Err(StartError::InvalidSetting(format!(
            "max clients must be between 1 and {MAX_CLIENTS_LIMIT}, got {}",
            config.max_clients
        )));
    }
    if tick_rate == 0 || tick_rate > crate::tick::MAX_TICK_RATE {
        return Err(StartError::InvalidSetting(format!(
            "tick rate must be between 1 and {} Hz, got {tick_rate}",
            crate::tick::MAX_TICK_RATE
        )));
    }
    let snapshot_interval = match config.snapshot_rate {
        None => 1,
        Some(rate) if rate >= 1 && rate <= tick_rate => u32::from(tick_rate.div_ceil(rate)),
        Some(rate) => {
            return Err(StartError::InvalidSetting(format!(
                "snapshot rate must be between 1 and the tick rate ({tick_rate}), got {rate}"
            )));
        }
    };
    let Some(protocol) = world.get_resource::<GameProtocol>().copied() else {
        return Err(StartError::InvalidSetting(
            "no GameProtocol resource: the game's shared plugin must insert it".into(),
        ));
    };
    world.insert_resource(SnapshotInterval(snapshot_interval));
    let local_addr = socket.local_addr().map_err(StartError::Socket)?;
    let public_addresses = if config.public_addresses.is_empty() {
        if local_addr.ip().is_unspecified() {
            vec![SocketAddr::new(
                Ipv4Addr::LOCALHOST.into(),
                local_addr.port(),
            )]
        } else {
            vec![local_addr]
        }
    } else {
        config.public_addresses.clone()
    };
    let netcode = ServerConfig {
        current_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO),
        max_clients: config.max_clients,
        protocol_id: protocol.id,
        public_addresses: public_addresses.clone(),
        authentication: match config.private_key {
            Some(private_key) => ServerAuthentication::Secure { private_key },
            None => ServerAuthentication::Unsecure,
        },
    };
    world.insert_resource(RenetServer::new(connection_config()));
    world.insert_resource(ServerTransport::new(netcode, socket));
    let security = if config.private_key.is_some() {
        "secure: connect tokens required"
    } else {
        "unsecure"
    };
    info!("listening on {local_addr} ({security}; clients dial {public_addresses:?})");
    if conditioner.is_active() {
        warn!("link conditioner active: {conditioner:?}");
    }
    Ok(local_addr)
}
