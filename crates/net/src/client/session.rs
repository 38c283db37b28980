//! What the client knows of its connection: [`ClientSession`], where the connection stands
//! ([`ConnectionStatus`], with its reason when it ended), the connection's settings, and the
//! entities it controls ([`Controlled`]).

use std::net::SocketAddr;
use std::time::Duration;

use bevy::prelude::*;

use crate::tick::DEFAULT_TICK_RATE;

/// How long [`connect`](super::connect) waits for the server's welcome before giving up with a reason. The
/// default is 10 s; tests shorten it.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectTimeout(pub Duration);

impl Default for ConnectTimeout {
    fn default() -> Self {
        Self(Duration::from_secs(10))
    }
}

/// Overrides the protocol version this client announces in its hello. Only for tests that play
/// an older or newer client; a real client announces its
/// [`GameProtocol::version`](crate::protocol::GameProtocol::version).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnouncedVersion(pub u16);

/// Where the connection stands, with the details (the server dialled, why it ended): the one
/// state of the connection. Gate systems with the run condition [`connected`]; react to a change
/// with `resource_changed::<ConnectionStatus>`.
#[derive(Resource, Debug, Default, Clone, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// [`connect`](super::connect) was not called yet.
    #[default]
    Idle,
    /// Handshaking with `server`.
    Connecting {
        /// The server being dialled.
        server: SocketAddr,
    },
    /// Connected and welcomed by the server.
    Connected,
    /// The connection ended; `reason` says why, in words a player understands.
    Disconnected {
        /// Why the connection ended.
        reason: String,
    },
}

impl ConnectionStatus {
    /// Whether the server welcomed this client and it is still connected.
    pub fn is_connected(&self) -> bool {
        *self == Self::Connected
    }
}

/// Run condition: the client is connected and welcomed.
pub fn connected(status: Res<ConnectionStatus>) -> bool {
    status.is_connected()
}

/// What the client knows about its session with the server.
#[derive(Resource, Debug)]
pub struct ClientSession {
    /// Our netcode client id.
    pub client_id: u64,
    /// The name sent in our hello.
    pub name: String,
    /// Tick of the newest snapshot applied (and acknowledged).
    pub last_snapshot_tick: Option<u32>,
    /// Number of snapshots applied.
    pub snapshots_applied: u64,
    /// Our newest input the server had simulated at the last applied snapshot.
    pub last_input_ack: Option<u32>,
    /// Payload bytes (entities and despawns) of all applied snapshots, in total.
    pub snapshot_payload_bytes: u64,
    /// Entity entries (spawns or changes) in all applied snapshots, in total.
    pub snapshot_entity_updates: u64,
    /// The server's tick rate, from its welcome (the default until then).
    pub tick_rate: u16,
    /// The server's latest advice to our clock, in ticks (positive: run faster).
    pub clock_advice: f32,
    /// The input lead the server's jitter buffer aims for with us, in ticks.
    pub input_buffer: f32,
    /// How many entities the server replicates in all (we may get only those relevant to us).
    pub server_entities: Option<u32>,
    /// When [`connect`](super::connect) was called (on the app's real-time clock, which a test can step), to give
    /// up after [`ConnectTimeout`].
    pub(super) connect_started: Option<Duration>,
    /// Whether our hello went out.
    pub(super) hello_sent: bool,
    /// Whether this connection uses a connect token (a secure server).
    pub(super) secure: bool,
    /// The reason the server gave in its goodbye, shown when the connection ends.
    pub(super) goodbye: Option<String>,
}

impl Default for ClientSession {
    fn default() -> Self {
        Self {
            client_id: 0,
            name: String::new(),
            last_snapshot_tick: None,
            snapshots_applied: 0,
            last_input_ack: None,
            snapshot_payload_bytes: 0,
            snapshot_entity_updates: 0,
            tick_rate: DEFAULT_TICK_RATE,
            clock_advice: 0.0,
            input_buffer: 0.0,
            server_entities: None,
            connect_started: None,
            hello_sent: false,
            secure: false,
            goodbye: None,
        }
    }
}

impl ClientSession {
    /// The length of one simulation tick, as the server runs it: what prediction steps by,
    /// whatever pace the client's own clock keeps.
    pub fn tick_secs(&self) -> f64 {
        1.0 / f64::from(self.tick_rate.max(1))
    }
}

/// The app's real time since it started (zero in an app without `Time`): what connection
/// timeouts are measured on, so a test that steps the clock steps them too.
pub(super) fn real_elapsed(world: &World) -> Duration {
    world
        .get_resource::<Time<Real>>()
        .map_or(Duration::ZERO, Time::elapsed)
}

/// Marks an entity this client controls (its own player): its registered components are
/// predicted rather than interpolated. Inserted when the server says so (the entity has a
/// [`ControlledBy`](crate::server::ControlledBy) there); a game may also insert it itself.
#[derive(Component, Debug, Default, Clone, Copy)]
pub struct Controlled;
