//! Starting a connection: unsecure (a locally made token) or with a connect token, on a UDP
//! socket of our own or on one the caller made (a test clock, an in-memory network).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

use bevy::prelude::*;
use bevy_renet::RenetClient;

use super::session::{ClientSession, ConnectionStatus};
use super::transport::ClientTransport;
use super::{InterpolationClock, NetStats, replica};
use crate::channels::connection_config;
use crate::netcode::{ClientAuthentication, ConnectToken, NetcodeClient, generate_random_bytes};
use crate::protocol::GameProtocol;
use crate::socket::{GameSocket, LinkConditioner};

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
    replica::despawn_replicas(world);
    world.insert_resource(RenetClient::new(connection_config()));
    world.insert_resource(transport);
    world.insert_resource(ClientSession {
        client_id,
        name: name.to_owned(),
        connect_started: Some(super::session::real_elapsed(world)),
        secure,
        ..default()
    });
    world.insert_resource(ConnectionStatus::Connecting { server });
    world.insert_resource(NetStats::default());
    world.insert_resource(InterpolationClock::default());
    Ok(client_id)
}
