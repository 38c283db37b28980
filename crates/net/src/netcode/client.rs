//! The netcode client: from a connect token to a connection, through the standard's states
//! (sending request → sending response → connected), trying each server address of the token in
//! turn, with timeouts and token expiry.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::packet::{Packet, PacketType, read_packet, write_packet};
use super::replay::ReplayProtection;
use super::server::MAX_TIMEOUT;
use super::token::{ConnectToken, TokenError};
use super::{
    CHALLENGE_TOKEN_BYTES, DISCONNECT_PACKETS, KEY_BYTES, MAX_PACKET_BYTES, MAX_PAYLOAD_BYTES,
    SEND_INTERVAL, USER_DATA_BYTES,
};

/// How the client gets its connect token.
#[derive(Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "made once per connection attempt and moved into the client"
)]
pub enum ClientAuthentication {
    /// A token minted by whoever holds the server's key.
    Secure {
        /// The token.
        connect_token: ConnectToken,
    },
    /// Mint a token locally with a key of zeros: only an unsecure server accepts it.
    Unsecure {
        /// The game's protocol id.
        protocol_id: u64,
        /// The id to claim.
        client_id: u64,
        /// The server to join.
        server_addr: SocketAddr,
        /// Data for the game.
        user_data: Option<[u8; USER_DATA_BYTES]>,
    },
}

impl fmt::Debug for ClientAuthentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secure { connect_token } => f
                .debug_struct("Secure")
                .field("connect_token", connect_token)
                .finish(),
            Self::Unsecure {
                protocol_id,
                client_id,
                server_addr,
                ..
            } => f
                .debug_struct("Unsecure")
                .field("protocol_id", protocol_id)
                .field("client_id", client_id)
                .field("server_addr", server_addr)
                .finish_non_exhaustive(),
        }
    }
}

/// Why the client is not connected (the standard's negative states, and the two ways a
/// connection ends on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The token expired before any server let us in.
    ConnectTokenExpired,
    /// No server answered the connection request in time.
    ConnectionRequestTimedOut,
    /// No server answered the challenge response in time.
    ConnectionResponseTimedOut,
    /// The server fell silent for the token's timeout.
    ConnectionTimedOut,
    /// The server refused us (full).
    ConnectionDenied,
    /// The server sent a disconnect packet.
    DisconnectedByServer,
    /// We disconnected.
    DisconnectedByClient,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ConnectTokenExpired => "the connect token expired",
            Self::ConnectionRequestTimedOut => "the server did not answer the connection request",
            Self::ConnectionResponseTimedOut => "the server did not answer the challenge response",
            Self::ConnectionTimedOut => "the connection timed out",
            Self::ConnectionDenied => "the server denied the connection",
            Self::DisconnectedByServer => "the server closed the connection",
            Self::DisconnectedByClient => "disconnected",
        })
    }
}

/// Where the client is in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Sending connection requests, waiting for a challenge.
    SendingRequest,
    /// Sending the challenge back, waiting for a keep-alive.
    SendingResponse,
    /// Connected: payloads flow.
    Connected,
    /// Not connected, and why.
    Disconnected(DisconnectReason),
}

/// The client side of the netcode protocol (sans-IO).
pub struct NetcodeClient {
    token: ConnectToken,
    client_id: Option<u64>,
    server_index: usize,
    state: ClientState,
    /// Time since this client started.
    time: Duration,
    /// When the current server address was first tried.
    attempt_started: Duration,
    last_received: Duration,
    last_sent: Option<Duration>,
    timeout: Duration,
    token_lifetime: Duration,
    sequence: u64,
    replay: ReplayProtection,
    challenge: Option<(u64, [u8; CHALLENGE_TOKEN_BYTES])>,
    client_index: u32,
    max_clients: u32,
    out: Box<[u8; MAX_PACKET_BYTES]>,
}

impl fmt::Debug for NetcodeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetcodeClient")
            .field("state", &self.state)
            .field("server_addr", &self.server_addr())
            .finish_non_exhaustive()
    }
}

impl NetcodeClient {
    /// A client about to send its first connection request. `now` is the time since the Unix
    /// epoch (unsecure clients mint their token with it).
    pub fn new(now: Duration, authentication: ClientAuthentication) -> Result<Self, TokenError> {
        let (token, client_id) = match authentication {
            ClientAuthentication::Secure { connect_token } => (connect_token, None),
            ClientAuthentication::Unsecure {
                protocol_id,
                client_id,
                server_addr,
                user_data,
            } => (
                ConnectToken::generate(
                    now,
                    protocol_id,
                    300,
                    client_id,
                    15,
                    vec![server_addr],
                    user_data.as_ref(),
                    &[0; KEY_BYTES],
                )?,
                Some(client_id),
            ),
        };
        if token.server_addresses.is_empty() || token.create_timestamp > token.expire_timestamp {
            return Err(TokenError::Malformed);
        }
        let timeout = match u64::try_from(token.timeout_seconds) {
            Ok(seconds) if seconds > 0 => Duration::from_secs(seconds).min(MAX_TIMEOUT),
            _ => MAX_TIMEOUT,
        };
        let token_lifetime = Duration::from_secs(token.expire_timestamp - token.create_timestamp);
        Ok(Self {
            token,
            client_id,
            server_index: 0,
            state: ClientState::SendingRequest,
            time: Duration::ZERO,
            attempt_started: Duration::ZERO,
            last_received: Duration::ZERO,
            last_sent: None,
            timeout,
            token_lifetime,
            sequence: 0,
            replay: ReplayProtection::default(),
            challenge: None,
            client_index: 0,
            max_clients: 0,
            out: Box::new([0; MAX_PACKET_BYTES]),
        })
    }

    /// The state of the connection.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// Whether the handshake is still going.
    pub fn is_connecting(&self) -> bool {
        matches!(
            self.state,
            ClientState::SendingRequest | ClientState::SendingResponse
        )
    }

    /// Whether payloads flow.
    pub fn is_connected(&self) -> bool {
        self.state == ClientState::Connected
    }

    /// Whether the connection is over (or never happened).
    pub fn is_disconnected(&self) -> bool {
        matches!(self.state, ClientState::Disconnected(_))
    }

    /// Why the client is not connected, once it has stopped trying.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self.state {
            ClientState::Disconnected(reason) => Some(reason),
            _ => None,
        }
    }

    /// The server address being tried (or connected to).
    pub fn server_addr(&self) -> SocketAddr {
        self.token.server_addresses[self.server_index]
    }

    /// The id this client claimed, when it minted its own token (unsecure).
    pub fn client_id(&self) -> Option<u64> {
        self.client_id
    }

    /// Our slot on the server and its number of slots, once connected.
    pub fn client_slot(&self) -> (u32, u32) {
        (self.client_index, self.max_clients)
    }

    /// Handles one datagram from the server address. Returns a payload when connected.
    pub fn process_packet<'a>(&mut self, datagram: &'a mut [u8]) -> Option<&'a [u8]> {
        if self.is_disconnected() {
            return None;
        }
        let client_accepts = |packet_type: PacketType| {
            !matches!(
                packet_type,
                PacketType::ConnectionRequest | PacketType::Response
            )
        };
        let key = self.token.server_to_client_key;
        let (_, packet) = read_packet(
            datagram,
            self.token.protocol_id,
            client_accepts,
            Some(&key),
            Some(&mut self.replay),
        )
        .ok()?;
        match (self.state, packet) {
            (
                ClientState::SendingRequest | ClientState::SendingResponse,
                Packet::ConnectionDenied,
            ) => {
                self.next_server(DisconnectReason::ConnectionDenied);
                None
            }
            (
                ClientState::SendingRequest,
                Packet::Challenge {
                    token_sequence,
                    token,
                },
            ) => {
                self.challenge = Some((token_sequence, *token));
                self.state = ClientState::SendingResponse;
                self.last_received = self.time;
                self.last_sent = None;
                None
            }
            (
                ClientState::SendingResponse,
                Packet::KeepAlive {
                    client_index,
                    max_clients,
                },
            ) => {
                self.client_index = client_index;
                self.max_clients = max_clients;
                self.state = ClientState::Connected;
                self.last_received = self.time;
                None
            }
            (ClientState::Connected, Packet::KeepAlive { .. }) => {
                self.last_received = self.time;
                None
            }
            (ClientState::Connected, Packet::Payload(payload)) => {
                self.last_received = self.time;
                Some(payload)
            }
            (ClientState::Connected, Packet::Disconnect) => {
                self.state = ClientState::Disconnected(DisconnectReason::DisconnectedByServer);
                None
            }
            // Payloads before the keep-alive, stray challenges and the like are ignored.
            _ => None,
        }
    }

    /// Advances time by `delta`, checks timeouts, and returns the packet due now (a request, a
    /// response or a keep-alive), if any.
    pub fn update(&mut self, delta: Duration) -> Option<(SocketAddr, &[u8])> {
        self.time += delta;
        if self.is_disconnected() {
            return None;
        }
        if self.is_connecting() && self.time >= self.token_lifetime {
            self.state = ClientState::Disconnected(DisconnectReason::ConnectTokenExpired);
            return None;
        }
        let silent_since = match self.state {
            ClientState::SendingRequest => self.attempt_started,
            _ => self.last_received,
        };
        if self.time.saturating_sub(silent_since) >= self.timeout {
            let reason = match self.state {
                ClientState::SendingRequest => DisconnectReason::ConnectionRequestTimedOut,
                ClientState::SendingResponse => DisconnectReason::ConnectionResponseTimedOut,
                _ => DisconnectReason::ConnectionTimedOut,
            };
            if self.state == ClientState::Connected {
                self.state = ClientState::Disconnected(reason);
            } else {
                self.next_server(reason);
            }
            return None;
        }
        if self
            .last_sent
            .is_some_and(|sent| self.time.saturating_sub(sent) < SEND_INTERVAL)
        {
            return None;
        }
        let len = match self.state {
            ClientState::SendingRequest => write_packet(
                &Packet::ConnectionRequest {
                    protocol_id: self.token.protocol_id,
                    expire_timestamp: self.token.expire_timestamp,
                    nonce: self.token.nonce,
                    private_data: &self.token.private_data,
                },
                0,
                &self.token.client_to_server_key,
                self.token.protocol_id,
                &mut self.out,
            ),
            ClientState::SendingResponse => {
                let (token_sequence, token) = self.challenge?;
                self.seal(&Packet::Response {
                    token_sequence,
                    token: &token,
                })
            }
            ClientState::Connected => self.seal(&Packet::KeepAlive {
                client_index: 0,
                max_clients: 0,
            }),
            ClientState::Disconnected(_) => return None,
        };
        self.last_sent = Some(self.time);
        Some((self.server_addr(), &self.out[..len]))
    }

    fn seal(&mut self, packet: &Packet<'_>) -> usize {
        let sequence = self.sequence;
        self.sequence += 1;
        write_packet(
            packet,
            sequence,
            &self.token.client_to_server_key,
            self.token.protocol_id,
            &mut self.out,
        )
    }

    /// A payload packet for the server, if connected and the payload is 1 to
    /// [`MAX_PAYLOAD_BYTES`] bytes.
    pub fn payload_packet(&mut self, payload: &[u8]) -> Option<(SocketAddr, &[u8])> {
        if !self.is_connected() || payload.is_empty() || payload.len() > MAX_PAYLOAD_BYTES {
            return None;
        }
        let len = self.seal(&Packet::Payload(payload));
        self.last_sent = Some(self.time);
        Some((self.server_addr(), &self.out[..len]))
    }

    /// Ends the connection: hands `send` the redundant disconnect packets (when connected) and
    /// moves to [`DisconnectReason::DisconnectedByClient`].
    pub fn disconnect(&mut self, mut send: impl FnMut(SocketAddr, &[u8])) {
        if self.is_connected() {
            for _ in 0..DISCONNECT_PACKETS {
                let len = self.seal(&Packet::Disconnect);
                send(self.server_addr(), &self.out[..len]);
            }
        }
        if !self.is_disconnected() {
            self.state = ClientState::Disconnected(DisconnectReason::DisconnectedByClient);
        }
    }

    /// After a failed attempt: the next address of the token, or the end with `reason`.
    fn next_server(&mut self, reason: DisconnectReason) {
        if self.server_index + 1 < self.token.server_addresses.len() {
            self.server_index += 1;
            self.state = ClientState::SendingRequest;
            self.attempt_started = self.time;
            self.last_sent = None;
            self.challenge = None;
            // The sequence goes on counting: the next server shares the token's keys, and a
            // nonce must never be reused under them.
            self.replay = ReplayProtection::default();
        } else {
            self.state = ClientState::Disconnected(reason);
        }
    }
}
