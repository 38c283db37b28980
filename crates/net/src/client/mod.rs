//! The client half of the netcode: add [`NetClientPlugin`] (with the game's input type) to any
//! app, windowed or `MinimalPlugins`, then [`connect`].
//!
//! - [`transport`]: our netcode layer on the UDP socket, feeding renet, every packet guarded;
//! - this module: the connection ([`ConnectionStatus`], the [`ConnectionState`] state), the
//!   server's messages, the game's messages both ways;
//! - [`snapshot`]: snapshots applied to local entities ([`ServerEntityMap`]);
//! - [`input`]: the local input sampled and sent every tick ([`LocalInput`]);
//! - [`prediction`] and [`interpolation`]: any registered component predicted (the entities this
//!   client controls) or interpolated (everything else), see [`AppPredictionExt`];
//! - [`spawns`]: entities the client spawns at once, matched to the server's when they arrive;
//! - [`stats`]: what the client measures about its connection ([`NetStats`]).

pub mod input;
pub mod interpolation;
pub mod prediction;
pub mod snapshot;
pub mod spawns;
pub mod stats;
pub mod transport;

use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy_renet::{RenetClient, RenetClientPlugin, RenetReceive, RenetSend};

use crate::channels::{ClientChannel, ServerChannel, connection_config};
use crate::codec::{decode, encode};
use crate::input::NetInput;
use crate::messages::MessageRegistry;
use crate::netcode::{
    ClientAuthentication, ConnectToken, DisconnectReason as NetcodeDisconnectReason, NetcodeClient,
    generate_random_bytes,
};
use crate::protocol::{ClientMessage, GameProtocol, ServerMessage, registry_fingerprint};
use crate::replication::ReplicationRegistry;
use crate::socket::{GameSocket, LinkConditioner};
use crate::tick::{DEFAULT_TICK_RATE, SimulationSystems, TickPlugin};

pub use input::{InputHistory, LocalInput};
pub use interpolation::{Interpolated, InterpolationClock, InterpolationSettings};
pub use prediction::{
    AppPredictionExt, Blend, Controlled, Predicted, PredictedInput, PredictionSettings,
    PredictionStep,
};
pub use snapshot::ServerEntityMap;
pub use spawns::{PredictedSpawn, SpawnKey, SpawnMatched, SpawnRefused};
pub use stats::NetStats;
pub use transport::ClientTransport;

/// Ordering of the client's network systems. Configured by [`NetClientPlugin`].
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientSystems {
    /// `PreUpdate`, after renet received packets: decode and apply server messages.
    Receive,
    /// `PreUpdate`, after `Receive`: predictions restart from the newest snapshot. Game systems
    /// that react to what a snapshot brought (marking the entity this client controls) run
    /// between the two.
    Reconcile,
    /// `FixedUpdate`, in [`SimulationSystems::Input`]: sample [`LocalInput`], send it and predict.
    SendInput,
    /// `Update`: move the interpolation clock and place interpolated entities.
    Interpolate,
}

/// Written once per snapshot applied, in tick order.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotApplied {
    /// The snapshot's server tick.
    pub tick: u32,
    /// Our newest input the server had simulated by then.
    pub last_input: Option<u32>,
}

/// How long [`connect`] waits for the server's welcome before giving up with a reason. The
/// default is 10 s; tests shorten it.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectTimeout(pub Duration);

impl Default for ConnectTimeout {
    fn default() -> Self {
        Self(Duration::from_secs(10))
    }
}

/// Overrides the protocol version this client announces in its hello. Only for tests that play
/// an older or newer client; a real client announces its [`GameProtocol::version`].
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnouncedVersion(pub u16);

/// The client's networking for a game whose input type is `I`: add it to any app (windowed or
/// `MinimalPlugins`), after the game's shared plugin, then [`connect`].
pub struct NetClientPlugin<I>(PhantomData<fn() -> I>);

impl<I> Default for NetClientPlugin<I> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<I: NetInput> Plugin for NetClientPlugin<I> {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<StatesPlugin>() {
            app.add_plugins(StatesPlugin);
        }
        if !app.is_plugin_added::<TickPlugin>() {
            app.add_plugins(TickPlugin);
        }
        app.add_plugins(RenetClientPlugin)
            .init_state::<ConnectionState>()
            .add_message::<SnapshotApplied>()
            .init_resource::<ReplicationRegistry>()
            .init_resource::<MessageRegistry>()
            .insert_resource(Time::<Fixed>::from_hz(f64::from(DEFAULT_TICK_RATE)))
            .init_resource::<ClientSession>()
            .init_resource::<ConnectionStatus>()
            .init_resource::<ConnectTimeout>()
            .insert_resource(crate::protocol::InputTypeName(std::any::type_name::<I>()))
            .init_resource::<LocalInput<I>>()
            .init_resource::<InputHistory<I>>()
            .init_resource::<ServerEntityMap>()
            .init_resource::<snapshot::ReplicaHistory>()
            .configure_sets(
                PreUpdate,
                (ClientSystems::Receive, ClientSystems::Reconcile)
                    .chain()
                    .after(RenetReceive),
            )
            .configure_sets(
                FixedUpdate,
                ClientSystems::SendInput.in_set(SimulationSystems::Input),
            )
            .add_systems(
                PreUpdate,
                (
                    receive_messages.run_if(resource_exists::<RenetClient>),
                    give_up_connecting,
                    track_connection,
                    forget_simulated_inputs::<I>,
                    sync_connection_state,
                    pace_clock,
                )
                    .chain()
                    .in_set(ClientSystems::Receive),
            )
            .add_systems(
                FixedUpdate,
                input::send_input::<I>
                    .in_set(ClientSystems::SendInput)
                    .before(RenetSend),
            )
            .add_systems(
                PostUpdate,
                send_game_messages
                    .run_if(resource_exists::<RenetClient>)
                    .before(RenetSend),
            )
            .add_plugins((
                transport::plugin,
                prediction::plugin::<I>,
                interpolation::plugin,
                spawns::plugin,
                stats::plugin,
            ));
    }
}

impl Default for ClientSession {
    fn default() -> Self {
        Self {
            client_id: 0,
            name: String::new(),
            welcomed: false,
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

/// Where the connection stands, with the details (the server dialled, why it ended).
#[derive(Resource, Debug, Default, Clone, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// [`connect`] was not called yet.
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

/// The connection as a Bevy state, following [`ConnectionStatus`]: gate systems with
/// `in_state(ConnectionState::Connected)`, or react with `OnEnter` / `OnExit`.
#[derive(States, Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Not connected (never, or no longer: [`ConnectionStatus`] says why).
    #[default]
    Disconnected,
    /// Handshaking, or waiting for the welcome.
    Connecting,
    /// Welcomed: playing.
    Connected,
}

/// What the client knows about its session with the server.
#[derive(Resource, Debug)]
pub struct ClientSession {
    /// Our netcode client id.
    pub client_id: u64,
    /// The name sent in our hello.
    pub name: String,
    /// Whether the server's welcome arrived.
    pub welcomed: bool,
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
    /// When [`connect`] was called (on the app's real-time clock, which a test can step), to give
    /// up after [`ConnectTimeout`].
    connect_started: Option<Duration>,
    /// Whether our hello went out.
    hello_sent: bool,
    /// Whether this connection uses a connect token (a secure server).
    secure: bool,
    /// The reason the server gave in its goodbye, shown when the connection ends.
    goodbye: Option<String>,
}

/// Why [`connect`] failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The local UDP socket could not be opened.
    Socket(std::io::Error),
    /// netcode refused the connection settings.
    Netcode(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Socket(err) => write!(f, "cannot open a UDP socket: {err}"),
            Self::Netcode(err) => write!(f, "cannot start the connection: {err}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Starts connecting to an unsecure server at `server`. Progress shows in [`ConnectionStatus`].
/// Returns the client id chosen for this connection.
pub fn connect(world: &mut World, server: SocketAddr, name: &str) -> Result<u64, ConnectError> {
    connect_with(world, server, name, LinkConditioner::default())
}

/// Like [`connect`], with simulated latency, jitter and loss on the client's socket.
pub fn connect_with(
    world: &mut World,
    server: SocketAddr,
    name: &str,
    conditioner: LinkConditioner,
) -> Result<u64, ConnectError> {
    let client_id = u64::from_le_bytes(generate_random_bytes::<8>());
    let socket = bind_socket(server, conditioner)?;
    connect_unsecure_on(world, socket, server, client_id, name)
}

/// Like [`connect`], on a [`GameSocket`] made by the caller (for example one on a test clock or
/// an in-memory network, see `testing`).
pub fn connect_on(
    world: &mut World,
    socket: GameSocket,
    server: SocketAddr,
    name: &str,
) -> Result<u64, ConnectError> {
    let client_id = u64::from_le_bytes(generate_random_bytes::<8>());
    connect_unsecure_on(world, socket, server, client_id, name)
}

/// Starts connecting to an unsecure server at `server` as `client_id`, on a [`GameSocket`] made
/// by the caller.
pub(crate) fn connect_unsecure_on(
    world: &mut World,
    socket: GameSocket,
    server: SocketAddr,
    client_id: u64,
    name: &str,
) -> Result<u64, ConnectError> {
    let protocol_id = world
        .get_resource::<GameProtocol>()
        .ok_or_else(|| {
            ConnectError::Netcode("no GameProtocol resource: add the game's shared plugin".into())
        })?
        .id;
    let authentication = ClientAuthentication::Unsecure {
        protocol_id,
        client_id,
        server_addr: server,
        user_data: None,
    };
    start_connecting(world, authentication, socket, server, client_id, name)
}

/// Starts connecting to a secure server with a connect token (see
/// [`crate::tokens`]): the token names the server addresses. Our client id is inside the
/// token's encrypted part, so it is learnt from the server's welcome; until then it reads 0.
pub fn connect_with_token(
    world: &mut World,
    token: ConnectToken,
    name: &str,
    conditioner: LinkConditioner,
) -> Result<u64, ConnectError> {
    let server = token_server(&token)?;
    let socket = bind_socket(server, conditioner)?;
    connect_with_token_on(world, socket, token, name)
}

/// Like [`connect_with_token`], on a [`GameSocket`] made by the caller (for example one on a test
/// clock or an in-memory network, see `testing`).
pub fn connect_with_token_on(
    world: &mut World,
    socket: GameSocket,
    token: ConnectToken,
    name: &str,
) -> Result<u64, ConnectError> {
    let server = token_server(&token)?;
    let authentication = ClientAuthentication::Secure {
        connect_token: token,
    };
    start_connecting(world, authentication, socket, server, 0, name)
}

/// The first server a token names: the one we dial.
fn token_server(token: &ConnectToken) -> Result<SocketAddr, ConnectError> {
    token
        .server_addresses
        .first()
        .copied()
        .ok_or_else(|| ConnectError::Netcode("the connect token names no server".into()))
}

/// A UDP socket on an OS-assigned port, on loopback when `server` is.
fn bind_socket(
    server: SocketAddr,
    conditioner: LinkConditioner,
) -> Result<GameSocket, ConnectError> {
    let bind_ip: IpAddr = match (server.ip().is_loopback(), server.is_ipv4()) {
        (true, true) => Ipv4Addr::LOCALHOST.into(),
        (true, false) => Ipv6Addr::LOCALHOST.into(),
        (false, true) => Ipv4Addr::UNSPECIFIED.into(),
        (false, false) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(bind_ip, 0)).map_err(ConnectError::Socket)?;
    GameSocket::new(socket, conditioner).map_err(ConnectError::Socket)
}

fn start_connecting(
    world: &mut World,
    authentication: ClientAuthentication,
    socket: GameSocket,
    server: SocketAddr,
    client_id: u64,
    name: &str,
) -> Result<u64, ConnectError> {
    let secure = matches!(authentication, ClientAuthentication::Secure { .. });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let netcode = NetcodeClient::new(now, authentication)
        .map_err(|err| ConnectError::Netcode(err.to_string()))?;
    let transport = ClientTransport::new(netcode, socket);

    // A fresh session: forget anything from a previous connection.
    snapshot::despawn_replicas(world);
    world.insert_resource(RenetClient::new(connection_config()));
    world.insert_resource(transport);
    world.insert_resource(ClientSession {
        client_id,
        name: name.to_owned(),
        connect_started: Some(real_elapsed(world)),
        secure,
        ..default()
    });
    world.insert_resource(ConnectionStatus::Connecting { server });
    world.insert_resource(NetStats::default());
    world.insert_resource(InterpolationClock::default());
    Ok(client_id)
}

/// The first message of every connection, as soon as netcode is connected: our protocol version
/// and name. The server answers with a welcome or a goodbye.
fn say_hello(world: &mut World) {
    if world.resource::<ClientSession>().hello_sent
        || !world.resource::<RenetClient>().is_connected()
    {
        return;
    }
    let version = match world.get_resource::<AnnouncedVersion>() {
        Some(announced) => announced.0,
        None => world
            .get_resource::<GameProtocol>()
            .map_or(0, |protocol| protocol.version),
    };
    let mut session = world.resource_mut::<ClientSession>();
    session.hello_sent = true;
    // The hello's layout is the same for every input type.
    let hello = ClientMessage::<()>::Hello {
        version,
        name: session.name.clone(),
    };
    world
        .resource_mut::<RenetClient>()
        .send_message(ClientChannel::Command, encode(&hello));
}

/// Drains both server channels, applying snapshots in tick order. Anything malformed ends the
/// connection with a reason instead of a panic.
fn receive_messages(world: &mut World) {
    say_hello(world);
    let mut reliable = Vec::new();
    let mut snapshots = Vec::new();
    {
        let mut client = world.resource_mut::<RenetClient>();
        while let Some(bytes) = client.receive_message(ServerChannel::Reliable) {
            reliable.push(bytes);
        }
        while let Some(bytes) = client.receive_message(ServerChannel::Snapshot) {
            snapshots.push(bytes);
        }
    }
    if let Err(reason) = handle_messages(world, &reliable, &snapshots) {
        error!("disconnecting: {reason}");
        world.resource_mut::<RenetClient>().disconnect();
        world.insert_resource(ConnectionStatus::Disconnected { reason });
    }
}

/// Applies server messages as if they had just arrived on the reliable and snapshot channels,
/// snapshots in tick order. An error is what would end the connection (a malformed message or
/// snapshot). The fuzz targets drive the client's decoders through this.
pub fn apply_server_messages<B: AsRef<[u8]>>(
    world: &mut World,
    reliable: &[B],
    snapshots: &[B],
) -> Result<(), String> {
    handle_messages(world, reliable, snapshots)
}

fn handle_messages<B: AsRef<[u8]>>(
    world: &mut World,
    reliable: &[B],
    snapshots: &[B],
) -> Result<(), String> {
    for bytes in reliable {
        match decode::<ServerMessage>(bytes.as_ref())
            .map_err(|err| format!("bad server message: {err}"))?
        {
            ServerMessage::Welcome {
                client_id,
                tick_rate,
                registry_fingerprint: theirs,
            } => {
                if theirs != registry_fingerprint(world) {
                    return Err(
                        "the server registers different components, messages or input than this \
                         game (another build): use the same game version as the server"
                            .into(),
                    );
                }
                world.insert_resource(Time::<Fixed>::from_hz(f64::from(tick_rate.max(1))));
                let mut session = world.resource_mut::<ClientSession>();
                session.tick_rate = tick_rate.max(1);
                if session.client_id != client_id && session.client_id != 0 {
                    warn!(
                        "server knows us as {client_id}, we chose {}",
                        session.client_id
                    );
                }
                session.client_id = client_id;
                session.welcomed = true;
                world.insert_resource(ConnectionStatus::Connected);
            }
            ServerMessage::Message { kind, bytes } => {
                let rule = world
                    .resource::<MessageRegistry>()
                    .server_messages()
                    .get(usize::from(kind))
                    .copied()
                    .ok_or_else(|| format!("unknown server message kind {kind}"))?;
                (rule.deliver)(world, None, &bytes)
                    .map_err(|err| format!("bad {}: {err}", rule.name))?;
            }
            ServerMessage::Goodbye { reason } => {
                info!("the server says goodbye: {reason}");
                world.resource_mut::<ClientSession>().goodbye = Some(reason);
            }
            ServerMessage::Snapshot(_) => {
                return Err("snapshot on the reliable channel".into());
            }
        }
    }

    let mut decoded = Vec::with_capacity(snapshots.len());
    for bytes in snapshots {
        match decode::<ServerMessage>(bytes.as_ref())
            .map_err(|err| format!("bad snapshot: {err}"))?
        {
            ServerMessage::Snapshot(snapshot) => decoded.push(snapshot),
            ServerMessage::Welcome { .. }
            | ServerMessage::Message { .. }
            | ServerMessage::Goodbye { .. } => {
                return Err("a reliable message on the snapshot channel".into());
            }
        }
    }
    decoded.sort_by_key(|snapshot| snapshot.tick);
    for snapshot in decoded {
        let last = world.resource::<ClientSession>().last_snapshot_tick;
        // Each snapshot is complete relative to what we acknowledged: older ones add nothing.
        if last.is_some_and(|last| snapshot.tick <= last) {
            continue;
        }
        let entries = snapshot::apply_snapshot(world, &snapshot)?;
        interpolation::record_samples(world, snapshot.tick);
        let mut session = world.resource_mut::<ClientSession>();
        session.last_snapshot_tick = Some(snapshot.tick);
        session.last_input_ack = snapshot.last_input;
        session.snapshots_applied += 1;
        session.snapshot_payload_bytes += snapshot.payload.len() as u64;
        session.snapshot_entity_updates += entries;
        session.clock_advice = f32::from(snapshot.clock) / 4.0;
        if let Some(total) = snapshot.total {
            session.server_entities = Some(total);
        }
        session.input_buffer = f32::from(snapshot.buffer) / 4.0;
        world.write_message(SnapshotApplied {
            tick: snapshot.tick,
            last_input: snapshot.last_input,
        });
    }
    Ok(())
}

/// The server will never need inputs it already simulated replayed; a new connection starts
/// with none.
fn forget_simulated_inputs<I: NetInput>(
    session: Res<ClientSession>,
    status: Res<ConnectionStatus>,
    mut history: ResMut<InputHistory<I>>,
) {
    if !matches!(
        *status,
        ConnectionStatus::Connected | ConnectionStatus::Connecting { .. }
    ) {
        history.clear();
        return;
    }
    if session.is_changed()
        && let Some(acked) = session.last_input_ack
    {
        history.acknowledge(acked);
    }
}

/// Runs the simulation clock a little faster or slower, as the server advises, so our inputs
/// arrive just ahead of when the server needs them.
fn pace_clock(
    session: Res<ClientSession>,
    mut fixed: ResMut<Time<Fixed>>,
    mut stats: ResMut<NetStats>,
) {
    if !session.is_changed() {
        return;
    }
    let rate = if session.welcomed {
        crate::input::clock_rate(session.clock_advice)
    } else {
        1.0
    };
    let timestep = Duration::from_secs_f64(session.tick_secs() / f64::from(rate));
    if fixed.timestep() != timestep {
        fixed.set_timestep(timestep);
    }
    stats.clock_rate = rate;
    stats.input_buffer_ticks = session.input_buffer;
}

/// Keeps [`ConnectionState`] in step with [`ConnectionStatus`].
fn sync_connection_state(
    status: Res<ConnectionStatus>,
    state: Res<State<ConnectionState>>,
    mut next: ResMut<NextState<ConnectionState>>,
) {
    let wanted = match *status {
        ConnectionStatus::Idle | ConnectionStatus::Disconnected { .. } => {
            ConnectionState::Disconnected
        }
        ConnectionStatus::Connecting { .. } => ConnectionState::Connecting,
        ConnectionStatus::Connected => ConnectionState::Connected,
    };
    if *state.get() != wanted {
        next.set(wanted);
    }
}

/// Sends the game's client messages once welcomed.
fn send_game_messages(world: &mut World) {
    let connected = world.resource::<RenetClient>().is_connected()
        && world.resource::<ClientSession>().welcomed;
    if !connected {
        return;
    }
    let rules: Vec<_> = world
        .resource::<MessageRegistry>()
        .client_messages()
        .to_vec();
    let mut outgoing = Vec::new();
    for (kind, rule) in (0u8..).zip(&rules) {
        (rule.take_outgoing)(world, &mut outgoing);
        for (_, bytes) in outgoing.drain(..) {
            let message = ClientMessage::<()>::Message { kind, bytes };
            world
                .resource_mut::<RenetClient>()
                .send_message(ClientChannel::Command, encode(&message));
        }
    }
}

/// Leaves the server now (or stops connecting): tells the server, drops the connection and the
/// replicated world, and sets [`ConnectionStatus::Idle`].
pub fn disconnect(world: &mut World) {
    if let Some(mut transport) = world.get_resource_mut::<ClientTransport>() {
        transport.disconnect();
    }
    cleanup_transport(world);
    world.insert_resource(ConnectionStatus::Idle);
}

/// The app's real time since it started (zero in an app without `Time`).
fn real_elapsed(world: &World) -> Duration {
    world
        .get_resource::<Time<Real>>()
        .map_or(Duration::ZERO, Time::elapsed)
}

/// Ends a connection attempt that got no welcome within [`ConnectTimeout`].
fn give_up_connecting(world: &mut World) {
    let ConnectionStatus::Connecting { server } = *world.resource::<ConnectionStatus>() else {
        return;
    };
    let timeout = world.resource::<ConnectTimeout>().0;
    let started = world.resource::<ClientSession>().connect_started;
    let now = real_elapsed(world);
    if started.is_none_or(|started| now.saturating_sub(started) < timeout) {
        return;
    }
    let secure = world.resource::<ClientSession>().secure;
    let reason = describe_disconnect(
        Some(NetcodeDisconnectReason::ConnectionRequestTimedOut),
        None,
        secure,
    );
    info!("giving up on {server} after {timeout:?}: {reason}");
    if let Some(mut transport) = world.get_resource_mut::<ClientTransport>() {
        transport.disconnect();
    }
    world.insert_resource(ConnectionStatus::Disconnected { reason });
    cleanup_transport(world);
}

/// Turns the transport's state into [`ConnectionStatus`], and clears the replicated world when
/// the connection ends.
fn track_connection(world: &mut World) {
    let Some(client) = world.get_resource::<RenetClient>() else {
        return;
    };
    if !client.is_disconnected() {
        return;
    }
    if matches!(
        *world.resource::<ConnectionStatus>(),
        ConnectionStatus::Disconnected { .. }
    ) {
        // Already reported (for example by a protocol error); just drop the transport.
        cleanup_transport(world);
        return;
    }
    let renet_reason = client.disconnect_reason();
    let netcode_reason = world
        .get_resource::<ClientTransport>()
        .and_then(|transport| transport.disconnect_reason());
    let mut session = world.resource_mut::<ClientSession>();
    let secure = session.secure;
    // The server's own words first, when it said goodbye.
    let reason = session
        .goodbye
        .take()
        .unwrap_or_else(|| describe_disconnect(netcode_reason, renet_reason, secure));
    info!("disconnected: {reason}");
    world.insert_resource(ConnectionStatus::Disconnected { reason });
    cleanup_transport(world);
}

fn cleanup_transport(world: &mut World) {
    world.remove_resource::<ClientTransport>();
    world.remove_resource::<RenetClient>();
    snapshot::despawn_replicas(world);
}

/// A player-facing sentence for why a connection ended. `secure`: the connection used a connect
/// token. netcode answers a bad token with silence, so a secure attempt without an answer most
/// likely had its token refused.
pub fn describe_disconnect(
    netcode: Option<NetcodeDisconnectReason>,
    renet: Option<bevy_renet::renet::DisconnectReason>,
    secure: bool,
) -> String {
    use NetcodeDisconnectReason as N;
    match netcode {
        Some(N::ConnectionDenied) => "the server refused the connection (it may be full)".into(),
        Some(N::ConnectTokenExpired) => "the connect token expired".into(),
        Some(N::ConnectionRequestTimedOut | N::ConnectionResponseTimedOut) if secure => {
            "the server did not accept the connect token (expired, made for another server, or \
             signed with another key), or it is not running"
                .into()
        }
        Some(N::ConnectionRequestTimedOut | N::ConnectionResponseTimedOut) => {
            "no answer from the server (wrong address, server down, or it requires a connect \
             token)"
                .into()
        }
        Some(N::ConnectionTimedOut) => "connection lost: the server stopped answering".into(),
        Some(N::DisconnectedByServer) => "disconnected by the server".into(),
        Some(N::DisconnectedByClient) => "you left the game".into(),
        None => match renet {
            Some(reason) => format!("connection closed: {reason}"),
            None => "connection closed".into(),
        },
    }
}
