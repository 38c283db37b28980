//! Client networking, usable without any rendering: connect to a server, send the local input
//! every tick, receive snapshots and apply them to local entities through the server->local
//! [`ServerEntityMap`].

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bevy::ecs::world::EntityWorldMut;
use bevy::platform::collections::HashMap;
use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy_renet::{RenetClient, RenetClientPlugin, RenetReceive, RenetSend};
use skirmish_net::bits::{BitReader, OutOfBits};
use skirmish_net::messages::MessageRegistry;
use skirmish_net::netcode::{
    ClientAuthentication, ConnectToken, DisconnectReason as NetcodeDisconnectReason, NetcodeClient,
    generate_random_bytes,
};
use skirmish_net::replication::{Encoding, apply_field_delta};
use skirmish_net::snapshot::{read_header, read_id_step};
use skirmish_net::socket::{GameSocket, LinkConditioner};
use skirmish_shared::SharedPlugin;
use skirmish_shared::game::Killed;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::{
    INPUT_REDUNDANCY, MAX_MESSAGE_BYTES, PROTOCOL_ID, PROTOCOL_VERSION, Snapshot,
    connection_config, decode, encode,
};
use skirmish_shared::simulation::DEFAULT_TICK_RATE;

use crate::transport::{self, ClientTransport};

/// Ordering of the client's networking systems. Configured once by [`ClientPlugin`].
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientSystems {
    /// `PreUpdate`, after renet received packets: decode and apply server messages.
    Receive,
    /// `FixedUpdate`, after the tick advanced: sample [`InputState`] and send it.
    SendInput,
    /// `Update`: move the interpolation clock and place remote entities.
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
/// an older or newer client; a real client always announces [`PROTOCOL_VERSION`].
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnouncedVersion(pub u16);

/// Inputs kept for replay after a snapshot (about 4 s at 60 Hz).
const INPUT_HISTORY: usize = 256;

/// The client's networking: add it to any app (windowed or `MinimalPlugins`), then [`connect`].
pub struct ClientPlugin;

impl Plugin for ClientPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<StatesPlugin>() {
            app.add_plugins(StatesPlugin);
        }
        app.add_plugins((SharedPlugin, RenetClientPlugin, transport::plugin))
            .add_message::<SnapshotApplied>()
            .insert_resource(Time::<Fixed>::from_hz(f64::from(DEFAULT_TICK_RATE)))
            .init_resource::<ClientSession>()
            .init_resource::<ConnectionStatus>()
            .init_resource::<ConnectTimeout>()
            .init_resource::<InputState>()
            .init_resource::<ServerEntityMap>()
            .init_resource::<KillFeed>()
            .init_resource::<ReplicaHistory>()
            .configure_sets(PreUpdate, ClientSystems::Receive.after(RenetReceive))
            .configure_sets(
                FixedUpdate,
                ClientSystems::SendInput.after(SimulationSystems::Tick),
            )
            .add_systems(
                PreUpdate,
                (
                    receive_messages.run_if(resource_exists::<RenetClient>),
                    give_up_connecting,
                    track_connection,
                    mark_local_player,
                    record_kills,
                )
                    .chain()
                    .in_set(ClientSystems::Receive),
            )
            .add_systems(
                PostUpdate,
                send_game_messages
                    .run_if(resource_exists::<RenetClient>)
                    .before(RenetSend),
            )
            .add_systems(
                FixedUpdate,
                send_input
                    .in_set(ClientSystems::SendInput)
                    .before(RenetSend),
            )
            .add_plugins((
                crate::prediction::plugin,
                crate::interpolation::plugin,
                crate::stats::plugin,
            ));
    }
}

/// A headless client app: `MinimalPlugins` + [`ClientPlugin`]. Step it with `app.update()`.
pub fn headless_app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, ClientPlugin));
    app
}

/// What the local player wants to do right now. The window's input systems (or a bot, or a test)
/// write it; [`ClientSystems::SendInput`] sends it every tick.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq)]
pub struct InputState {
    /// Desired movement direction, length at most 1.
    pub movement: Vec2,
    /// Aim direction (any length; zero means not aiming).
    pub aim: Vec2,
    /// Whether the fire button is held.
    pub fire: bool,
}

/// Where the connection stands.
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

/// What the client knows about its session with the server.
#[derive(Resource, Debug, Default)]
pub struct ClientSession {
    /// Our netcode client id (also the `client_id` of our [`Player`]).
    pub client_id: u64,
    /// The name sent to the server once welcomed.
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
    /// When [`connect`] was called, to give up after [`ConnectTimeout`].
    connect_started: Option<Instant>,
    /// Whether our hello went out.
    hello_sent: bool,
    /// Whether this connection uses a connect token (a secure server).
    secure: bool,
    /// The reason the server gave in its goodbye, shown when the connection ends.
    goodbye: Option<String>,
    input_history: VecDeque<(u32, InputFrame)>,
    sent_this_tick: Option<InputFrame>,
}

impl ClientSession {
    /// The input frame sampled and sent on the current fixed tick, if connected.
    pub fn input_sent_this_tick(&self) -> Option<InputFrame> {
        self.sent_this_tick
    }

    /// Sent inputs newer than `tick` (all of them for `None`), oldest first.
    pub fn inputs_after(&self, tick: Option<u32>) -> impl Iterator<Item = &InputFrame> {
        self.input_history
            .iter()
            .filter(move |(at, _)| tick.is_none_or(|tick| *at > tick))
            .map(|(_, frame)| frame)
    }
}

/// Maps server network ids to the local entities that mirror them.
#[derive(Resource, Debug, Default)]
pub struct ServerEntityMap(HashMap<NetId, Entity>);

impl ServerEntityMap {
    /// The local entity mirroring a server entity.
    pub fn get(&self, net_id: NetId) -> Option<Entity> {
        self.0.get(&net_id).copied()
    }

    /// Number of replicated entities present locally.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no replicated entity is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The latest kills, oldest first: `(killer, victim)` client ids.
#[derive(Resource, Debug, Default, Clone)]
pub struct KillFeed(pub VecDeque<(u64, u64)>);

impl KillFeed {
    /// Kills kept.
    pub const CAPACITY: usize = 5;
}

/// Marks the [`Player`] entity this client controls.
#[derive(Component, Debug, Default, Clone, Copy)]
pub struct LocalPlayer;

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
    let authentication = ClientAuthentication::Unsecure {
        protocol_id: PROTOCOL_ID,
        client_id,
        server_addr: server,
        user_data: None,
    };
    start_connecting(world, authentication, server, client_id, name, conditioner)
}

/// Starts connecting to a secure server with a connect token (see
/// [`skirmish_net::tokens`]): the token names the server addresses. Our client id is inside the
/// token's encrypted part, so it is learnt from the server's welcome; until then it reads 0.
pub fn connect_with_token(
    world: &mut World,
    token: ConnectToken,
    name: &str,
    conditioner: LinkConditioner,
) -> Result<u64, ConnectError> {
    let server = *token
        .server_addresses
        .first()
        .ok_or_else(|| ConnectError::Netcode("the connect token names no server".into()))?;
    let client_id = 0;
    let authentication = ClientAuthentication::Secure {
        connect_token: token,
    };
    start_connecting(world, authentication, server, client_id, name, conditioner)
}

fn start_connecting(
    world: &mut World,
    authentication: ClientAuthentication,
    server: SocketAddr,
    client_id: u64,
    name: &str,
    conditioner: LinkConditioner,
) -> Result<u64, ConnectError> {
    let bind_ip: IpAddr = match (server.ip().is_loopback(), server.is_ipv4()) {
        (true, true) => Ipv4Addr::LOCALHOST.into(),
        (true, false) => Ipv6Addr::LOCALHOST.into(),
        (false, true) => Ipv4Addr::UNSPECIFIED.into(),
        (false, false) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(bind_ip, 0)).map_err(ConnectError::Socket)?;
    let secure = matches!(authentication, ClientAuthentication::Secure { .. });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let netcode = NetcodeClient::new(now, authentication)
        .map_err(|err| ConnectError::Netcode(err.to_string()))?;
    let socket = GameSocket::new(socket, conditioner).map_err(ConnectError::Socket)?;
    let transport = ClientTransport::new(netcode, socket);

    // A fresh session: forget anything from a previous connection.
    despawn_replicas(world);
    world.insert_resource(RenetClient::new(connection_config()));
    world.insert_resource(transport);
    world.insert_resource(ClientSession {
        client_id,
        name: name.to_owned(),
        connect_started: Some(Instant::now()),
        secure,
        ..default()
    });
    world.insert_resource(ConnectionStatus::Connecting { server });
    world.insert_resource(crate::stats::NetStats::default());
    world.insert_resource(crate::interpolation::InterpolationClock::default());
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
    let version = world
        .get_resource::<AnnouncedVersion>()
        .map_or(PROTOCOL_VERSION, |announced| announced.0);
    let mut session = world.resource_mut::<ClientSession>();
    session.hello_sent = true;
    let hello = ClientMessage::Hello {
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
/// snapshot). The fuzz targets in `fuzz/` drive the client's decoders through this.
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
                registry_fingerprint,
            } => {
                let ours = skirmish_net::protocol::registry_fingerprint(world);
                if registry_fingerprint != ours {
                    return Err(
                        "the server replicates different components or messages (incompatible \
                         build)"
                            .into(),
                    );
                }
                world.insert_resource(Time::<Fixed>::from_hz(f64::from(tick_rate.max(1))));
                let mut session = world.resource_mut::<ClientSession>();
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
        let entries = apply_snapshot(world, &snapshot)?;
        crate::interpolation::record_samples(world, snapshot.tick);
        let mut session = world.resource_mut::<ClientSession>();
        session.last_snapshot_tick = Some(snapshot.tick);
        session.last_input_ack = snapshot.last_input;
        session.snapshots_applied += 1;
        session.snapshot_payload_bytes += snapshot.payload.len() as u64;
        session.snapshot_entity_updates += entries;
        if let Some(acked) = snapshot.last_input {
            // The server will never need inputs it already simulated replayed.
            while session
                .input_history
                .front()
                .is_some_and(|(at, _)| *at <= acked)
            {
                session.input_history.pop_front();
            }
        }
        world.write_message(SnapshotApplied {
            tick: snapshot.tick,
            last_input: snapshot.last_input,
        });
    }
    Ok(())
}

/// Quantized values the client applied, per entity and kind, so deltas against a baseline tick
/// can be decoded. Mirrors the server's history.
#[derive(Resource, Debug, Default)]
struct ReplicaHistory(HashMap<(NetId, u8), VecDeque<(u32, Option<Quantized>)>>);

/// Quantized history kept, in ticks; twice the server's horizon so a client that fell behind
/// still has every baseline the server may use.
const HISTORY_TICKS: u32 = 128;

impl ReplicaHistory {
    fn value_at(&self, net_id: NetId, kind: u8, tick: u32) -> Option<Quantized> {
        self.0
            .get(&(net_id, kind))?
            .iter()
            .rev()
            .find(|(at, _)| *at <= tick)
            .and_then(|(_, value)| *value)
    }

    fn record(&mut self, net_id: NetId, kind: u8, tick: u32, value: Option<Quantized>) {
        let history = self.0.entry((net_id, kind)).or_default();
        if history.back().is_some_and(|(at, _)| *at == tick) {
            history.pop_back();
        }
        history.push_back((tick, value));
        let horizon = tick.saturating_sub(HISTORY_TICKS);
        while history.len() > 1 && history[1].0 <= horizon {
            history.pop_front();
        }
    }

    fn forget(&mut self, net_id: NetId) {
        self.0.retain(|(id, _), _| *id != net_id);
    }
}

/// Applies one snapshot's bit-packed payload (layout in [`skirmish_net::snapshot`]).
/// Returns how many entity entries it carried.
fn apply_snapshot(world: &mut World, snapshot: &Snapshot) -> Result<u64, String> {
    let rules: Vec<(Encoding, fn(&mut EntityWorldMut), &'static str)> = world
        .resource::<ReplicationRegistry>()
        .iter()
        .map(|(_, rule)| (rule.encoding, rule.remove, rule.name))
        .collect();
    let kinds = rules.len();
    let tick = snapshot.tick;
    let mut reader = BitReader::new(&snapshot.payload);
    let malformed = |err: OutOfBits| format!("malformed snapshot {tick}: {err}");
    world.resource_scope(|world, mut map: Mut<ServerEntityMap>| {
        world.resource_scope(|world, mut history: Mut<ReplicaHistory>| {
            let mut previous_id = u32::MAX;
            let mut previous_header = None;
            let mut entries = 0;
            while let Some(id) = read_id_step(&mut reader, previous_id).map_err(malformed)? {
                previous_id = id;
                entries += 1;
                let net_id = NetId(id);
                let header =
                    read_header(&mut reader, previous_header.as_ref(), kinds).map_err(malformed)?;
                previous_header = Some(header);
                let baseline = match header.back {
                    0 => None,
                    back => Some(tick.checked_sub(back).ok_or("baseline before tick 0")?),
                };
                let entity = match map.0.get(&net_id) {
                    Some(&entity) if world.get_entity(entity).is_ok() => entity,
                    _ => {
                        let entity = world.spawn(net_id).id();
                        map.0.insert(net_id, entity);
                        entity
                    }
                };
                for kind in header.changed.iter() {
                    let (encoding, _, name) = rules[usize::from(kind)];
                    match encoding {
                        Encoding::Serde { write, .. } => {
                            let bytes = reader.read_bytes(MAX_MESSAGE_BYTES).map_err(malformed)?;
                            write(&mut world.entity_mut(entity), &bytes)
                                .map_err(|err| format!("bad {name} for {net_id:?}: {err}"))?;
                        }
                        Encoding::Quantized {
                            fields,
                            wrap,
                            write,
                            ..
                        } => {
                            let base = baseline.and_then(|b| history.value_at(net_id, kind, b));
                            let mut value = [0; 4];
                            for field in 0..fields {
                                let read = reader.read_signed().map_err(malformed)?;
                                value[field] = match base {
                                    Some(base) => apply_field_delta(base[field], read, wrap[field]),
                                    None => read,
                                };
                            }
                            write(&mut world.entity_mut(entity), value);
                            history.record(net_id, kind, tick, Some(value));
                        }
                    }
                }
                for kind in header.removed.iter() {
                    let (_, remove, _) = rules[usize::from(kind)];
                    remove(&mut world.entity_mut(entity));
                    history.record(net_id, kind, tick, None);
                }
            }
            let despawns = reader.read_varint().map_err(malformed)?;
            let mut previous_id = u32::MAX;
            for _ in 0..despawns {
                let id = read_id_step(&mut reader, previous_id)
                    .map_err(malformed)?
                    .ok_or_else(|| format!("malformed snapshot {tick}: despawn list"))?;
                previous_id = id;
                history.forget(NetId(id));
                if let Some(entity) = map.0.remove(&NetId(id)) {
                    // The game may have despawned it already; that is fine.
                    let _ = world.try_despawn(entity);
                }
            }
            Ok(entries)
        })
    })
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

/// Ends a connection attempt that got no welcome within [`ConnectTimeout`].
fn give_up_connecting(world: &mut World) {
    let ConnectionStatus::Connecting { server } = *world.resource::<ConnectionStatus>() else {
        return;
    };
    let timeout = world.resource::<ConnectTimeout>().0;
    let started = world.resource::<ClientSession>().connect_started;
    if started.is_none_or(|started| started.elapsed() < timeout) {
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
    despawn_replicas(world);
}

fn despawn_replicas(world: &mut World) {
    if let Some(mut history) = world.get_resource_mut::<ReplicaHistory>() {
        history.0.clear();
    }
    let Some(mut map) = world.get_resource_mut::<ServerEntityMap>() else {
        return;
    };
    let entities: Vec<Entity> = map.0.drain().map(|(_, entity)| entity).collect();
    for entity in entities {
        let _ = world.try_despawn(entity);
    }
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

/// Marks our own player once both it and our client id are known. With a connect token the id
/// comes in the welcome, which (on the reliable channel) can arrive after the snapshot that
/// spawned the player, so every unmarked player is checked, not only new ones (a handful).
pub(crate) fn mark_local_player(
    mut commands: Commands,
    session: Res<ClientSession>,
    players: Query<(Entity, &Player), Without<LocalPlayer>>,
) {
    if !session.welcomed {
        return;
    }
    for (entity, player) in &players {
        if player.client_id == session.client_id {
            commands.entity(entity).insert(LocalPlayer);
        }
    }
}

/// Keeps the latest kills the server told us about.
fn record_kills(mut kills: MessageReader<Killed>, mut feed: ResMut<KillFeed>) {
    for kill in kills.read() {
        if feed.0.len() == KillFeed::CAPACITY {
            feed.0.pop_front();
        }
        feed.0.push_back((kill.killer, kill.victim));
    }
}

/// Sends the game's client messages (for example [`SetName`](skirmish_shared::protocol::SetName))
/// once welcomed.
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
            let message = ClientMessage::Message { kind, bytes };
            world
                .resource_mut::<RenetClient>()
                .send_message(ClientChannel::Command, encode(&message));
        }
    }
}

/// Samples [`InputState`] for this tick and sends it with the previous frames and our ack.
fn send_input(
    input: Res<InputState>,
    tick: Res<SimulationTick>,
    mut session: ResMut<ClientSession>,
    client: Option<ResMut<RenetClient>>,
) {
    session.sent_this_tick = None;
    let Some(mut client) = client else {
        return;
    };
    if !client.is_connected() {
        return;
    }
    let frame = InputFrame {
        movement: input.movement,
        aim: input.aim,
        fire: input.fire,
    }
    .sanitized();
    if session.input_history.len() == INPUT_HISTORY {
        session.input_history.pop_front();
    }
    session.input_history.push_back((tick.0, frame));
    session.sent_this_tick = Some(frame);
    let skip = session.input_history.len().saturating_sub(INPUT_REDUNDANCY);
    let first_tick = session.input_history[skip].0;
    let message = ClientMessage::Input {
        ack: session.last_snapshot_tick,
        first_tick,
        frames: session
            .input_history
            .iter()
            .skip(skip)
            .map(|(_, frame)| *frame)
            .collect(),
    };
    client.send_message(ClientChannel::Input, encode(&message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_player_is_marked_even_when_the_welcome_comes_after_it() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .init_resource::<ClientSession>()
            .add_systems(Update, mark_local_player);
        // A token client does not know its id before the welcome; the player arrives first.
        let ours = app.world_mut().spawn(Player { client_id: 4242 }).id();
        let theirs = app.world_mut().spawn(Player { client_id: 7 }).id();
        app.update();
        assert!(
            app.world().get::<LocalPlayer>(ours).is_none(),
            "not known yet"
        );
        {
            let mut session = app.world_mut().resource_mut::<ClientSession>();
            session.client_id = 4242;
            session.welcomed = true;
        }
        app.update();
        app.update();
        assert!(
            app.world().get::<LocalPlayer>(ours).is_some(),
            "marked after the welcome"
        );
        assert!(app.world().get::<LocalPlayer>(theirs).is_none());
    }
}
