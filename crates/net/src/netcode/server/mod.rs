//! The netcode server: handshakes (request → challenge → response → keep-alive), connected
//! clients in slots, timeouts, and encryption of everything it sends.
//!
//! Datagrams come in through [`NetcodeServer::process_packet`]; packets to send collect in an
//! outbox that [`NetcodeServer::send_packets`] drains. Every map a peer can grow is bounded
//! (pending handshakes, used tokens), a connected client is refreshed only by its own
//! authenticated packets, and every refused datagram is counted in [`DropCounters`].

mod handshake;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bevy::platform::collections::HashMap;

use handshake::{IpKey, Pending, UsedToken, release_ip};

use super::crypto::generate_random_bytes;
use super::packet::{Packet, PacketError, PacketType, read_packet, write_packet};
use super::replay::ReplayProtection;
use super::{
    DISCONNECT_PACKETS, KEY_BYTES, MAC_BYTES, MAX_PACKET_BYTES, MAX_PAYLOAD_BYTES, SEND_INTERVAL,
    USER_DATA_BYTES,
};

/// The longest timeout a token may ask for; longer (and negative, "none") become this, so a
/// vanished client never holds a slot for ever.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Connect tokens remembered (by their tag) to refuse a token used from two addresses, or used
/// again once it connected.
const TOKEN_HISTORY: usize = 4096;
/// The lowest global sequence: every server start picks its first one at random in
/// `[1 << 63, 1 << 63 | 1 << 62)`, the top half of the sequence space, which a connection's own
/// packets (counting from 0) never reach. Random, so two starts (or two servers one token names)
/// do not reuse a nonce under the same token key either.
pub const GLOBAL_SEQUENCE_START: u64 = 1 << 63;
/// The longest a handshake may stay pending, whatever the token's timeout.
pub const MAX_PENDING_TIME: Duration = Duration::from_secs(10);
/// Handshakes pending at once from one IP address (one /64 for IPv6), so one host cannot fill
/// the table.
pub const MAX_PENDING_PER_IP: u8 = 16;

/// How the server checks connect tokens.
#[derive(Clone)]
pub enum ServerAuthentication {
    /// Tokens must be signed with this private key.
    Secure {
        /// The key shared with whoever mints tokens. Never logged or printed.
        private_key: [u8; KEY_BYTES],
    },
    /// Anyone who knows the protocol id may join (clients mint their own tokens with a key of
    /// zeros). For local play and tests only.
    Unsecure,
}

impl fmt::Debug for ServerAuthentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Secure { .. } => "Secure { private_key: <redacted> }",
            Self::Unsecure => "Unsecure",
        })
    }
}

/// What a server is.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Now, as time since the Unix epoch (token expiry is checked against it).
    pub current_time: Duration,
    /// Client slots.
    pub max_clients: usize,
    /// The game's protocol id.
    pub protocol_id: u64,
    /// Addresses clients dial; a token must name one of them.
    pub public_addresses: Vec<SocketAddr>,
    /// How tokens are checked.
    pub authentication: ServerAuthentication,
}

/// Something the game needs to know about a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEvent {
    /// A client completed the handshake and has a slot.
    Connected {
        /// Its id (from its connect token).
        client_id: u64,
        /// Its address.
        addr: SocketAddr,
    },
    /// A client's slot was freed.
    Disconnected {
        /// Its id.
        client_id: u64,
        /// Its address.
        addr: SocketAddr,
        /// Why.
        reason: ServerDisconnectReason,
    },
}

/// Why the server freed a client's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerDisconnectReason {
    /// The client said goodbye (disconnect packet).
    ClientDisconnected,
    /// Nothing authentic came from the client within its timeout.
    TimedOut,
    /// The server disconnected it ([`NetcodeServer::disconnect`]).
    DisconnectedByServer,
}

/// Datagrams the server threw away, by why. Cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Wrong sizes, unknown types, another protocol or version.
    pub malformed: u64,
    /// Encrypted packets from an address with no connection or handshake.
    pub unknown_sender: u64,
    /// Sequence numbers already used (or too old).
    pub replayed: u64,
    /// Packets whose tag did not match.
    pub decrypt_failed: u64,
    /// Connection requests refused: expired, forged, for another server, a token reused from
    /// another address, or a client id already connected.
    pub token_refused: u64,
    /// Connection requests ignored because the address is connected, or the table of pending
    /// handshakes is full.
    pub request_ignored: u64,
}

impl DropCounters {
    /// All datagrams dropped.
    pub fn total(&self) -> u64 {
        self.malformed
            + self.unknown_sender
            + self.replayed
            + self.decrypt_failed
            + self.token_refused
            + self.request_ignored
    }

    fn count(&mut self, error: PacketError) {
        match error {
            PacketError::Malformed | PacketError::UnexpectedType | PacketError::WrongProtocol => {
                self.malformed += 1;
            }
            PacketError::Replayed => self.replayed += 1,
            PacketError::Decrypt => self.decrypt_failed += 1,
        }
    }
}

/// Packets waiting to be sent, in one reused buffer (no allocation per packet).
#[derive(Default)]
struct Outbox {
    bytes: Vec<u8>,
    packets: Vec<(SocketAddr, usize, usize)>,
}

impl Outbox {
    fn push(&mut self, addr: SocketAddr, packet: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(packet);
        self.packets.push((addr, start, self.bytes.len()));
    }
}

/// A client with a slot.
struct Connection {
    client_id: u64,
    addr: SocketAddr,
    send_key: [u8; KEY_BYTES],
    receive_key: [u8; KEY_BYTES],
    sequence: u64,
    replay: ReplayProtection,
    last_received: Duration,
    last_sent: Duration,
    timeout: Duration,
    /// Whether the client has shown it knows it is connected (sent a keep-alive or payload).
    /// Until then every payload to it is preceded by a keep-alive.
    confirmed: bool,
    user_data: [u8; USER_DATA_BYTES],
}

/// Why [`NetcodeServer::send_payload`] sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No connected client has this id.
    UnknownClient,
    /// Empty or longer than [`MAX_PAYLOAD_BYTES`].
    PayloadSize,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownClient => "no such client",
            Self::PayloadSize => "payload size out of range",
        })
    }
}

impl std::error::Error for SendError {}

/// The server side of the netcode protocol (sans-IO).
pub struct NetcodeServer {
    protocol_id: u64,
    private_key: [u8; KEY_BYTES],
    public_addresses: Vec<SocketAddr>,
    /// Now, since the Unix epoch.
    time: Duration,
    global_sequence: u64,
    challenge_sequence: u64,
    challenge_key: [u8; KEY_BYTES],
    slots: Vec<Option<Connection>>,
    by_addr: HashMap<SocketAddr, usize>,
    by_id: HashMap<u64, usize>,
    pending: HashMap<SocketAddr, Pending>,
    max_pending: usize,
    used_tokens: HashMap<[u8; MAC_BYTES], UsedToken>,
    /// Tags of `used_tokens`, oldest first (the next to forget when full).
    used_order: VecDeque<[u8; MAC_BYTES]>,
    pending_per_ip: HashMap<IpKey, u8>,
    outbox: Outbox,
    events: VecDeque<ServerEvent>,
    drops: DropCounters,
    scratch: Box<[u8; MAX_PACKET_BYTES]>,
}

impl fmt::Debug for NetcodeServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetcodeServer")
            .field("protocol_id", &self.protocol_id)
            .field("public_addresses", &self.public_addresses)
            .field("connected", &self.by_id.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl NetcodeServer {
    /// A server with empty slots, a fresh challenge key and the global sequence at `1 << 63`.
    pub fn new(config: ServerConfig) -> Self {
        let max_clients = config.max_clients.max(1);
        Self {
            protocol_id: config.protocol_id,
            private_key: match config.authentication {
                ServerAuthentication::Secure { private_key } => private_key,
                ServerAuthentication::Unsecure => [0; KEY_BYTES],
            },
            public_addresses: config.public_addresses,
            time: config.current_time,
            global_sequence: GLOBAL_SEQUENCE_START
                | (u64::from_le_bytes(generate_random_bytes()) >> 2),
            challenge_sequence: 0,
            challenge_key: generate_random_bytes(),
            slots: (0..max_clients).map(|_| None).collect(),
            by_addr: HashMap::default(),
            by_id: HashMap::default(),
            pending: HashMap::default(),
            max_pending: (4 * max_clients).max(256),
            used_tokens: HashMap::default(),
            used_order: VecDeque::new(),
            pending_per_ip: HashMap::default(),
            outbox: Outbox::default(),
            events: VecDeque::new(),
            drops: DropCounters::default(),
            scratch: Box::new([0; MAX_PACKET_BYTES]),
        }
    }

    /// Addresses clients dial.
    pub fn public_addresses(&self) -> &[SocketAddr] {
        &self.public_addresses
    }

    /// Client slots.
    pub fn max_clients(&self) -> usize {
        self.slots.len()
    }

    /// Connected clients.
    pub fn connected_clients(&self) -> usize {
        self.by_id.len()
    }

    /// Handshakes in progress.
    pub fn pending_clients(&self) -> usize {
        self.pending.len()
    }

    /// Addresses the per-host count of handshakes tracks.
    #[cfg(test)]
    pub(crate) fn tracked_hosts(&self) -> usize {
        self.pending_per_ip.len()
    }

    /// Ids of the connected clients.
    pub fn clients_id(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_id.keys().copied()
    }

    /// Whether a client with this id is connected.
    pub fn is_client_connected(&self, client_id: u64) -> bool {
        self.by_id.contains_key(&client_id)
    }

    /// The address of a connected client.
    pub fn client_addr(&self, client_id: u64) -> Option<SocketAddr> {
        self.connection(client_id).map(|connection| connection.addr)
    }

    /// The user data of a connected client's token.
    pub fn user_data(&self, client_id: u64) -> Option<&[u8; USER_DATA_BYTES]> {
        self.connection(client_id)
            .map(|connection| &connection.user_data)
    }

    /// What was dropped so far.
    pub fn drops(&self) -> DropCounters {
        self.drops
    }

    /// The next global sequence number (challenge and denied packets).
    pub fn global_sequence(&self) -> u64 {
        self.global_sequence
    }

    /// Now, since the Unix epoch.
    pub fn current_time(&self) -> Duration {
        self.time
    }

    fn connection(&self, client_id: u64) -> Option<&Connection> {
        self.slots[*self.by_id.get(&client_id)?].as_ref()
    }

    /// Handles one datagram from `addr`. Returns the payload of a connected client's payload
    /// packet (decrypted in place in `datagram`); anything to answer goes to the outbox, and
    /// joins and leaves to [`Self::take_event`].
    pub fn process_packet<'a>(
        &mut self,
        addr: SocketAddr,
        datagram: &'a mut [u8],
    ) -> Option<(u64, &'a [u8])> {
        let server_accepts = |packet_type: PacketType| {
            !matches!(
                packet_type,
                PacketType::Challenge | PacketType::ConnectionDenied
            )
        };
        if let Some(&slot) = self.by_addr.get(&addr) {
            return self.process_connected(slot, datagram, server_accepts);
        }
        let Some(prefix) = datagram.first() else {
            self.drops.malformed += 1;
            return None;
        };
        match PacketType::from_prefix(*prefix) {
            Some(PacketType::ConnectionRequest) => {
                match read_packet(datagram, self.protocol_id, server_accepts, None, None) {
                    Ok((_, packet)) => self.process_request(addr, &packet),
                    Err(error) => self.drops.count(error),
                }
            }
            Some(PacketType::Response) => match self.pending.get(&addr) {
                Some(pending) => {
                    let key = pending.receive_key;
                    match read_packet(datagram, self.protocol_id, server_accepts, Some(&key), None)
                    {
                        Ok((
                            _,
                            Packet::Response {
                                token_sequence,
                                token,
                            },
                        )) => {
                            self.process_response(addr, token_sequence, token);
                        }
                        Ok(_) => self.drops.malformed += 1,
                        Err(error) => self.drops.count(error),
                    }
                }
                None => self.drops.unknown_sender += 1,
            },
            Some(_) => self.drops.unknown_sender += 1,
            None => self.drops.malformed += 1,
        }
        None
    }

    fn process_connected<'a>(
        &mut self,
        slot: usize,
        datagram: &'a mut [u8],
        accepts: impl Fn(PacketType) -> bool,
    ) -> Option<(u64, &'a [u8])> {
        let time = self.time;
        let connection = self.slots[slot].as_mut()?;
        let key = connection.receive_key;
        let handshake = |packet_type: PacketType| {
            matches!(
                packet_type,
                PacketType::ConnectionRequest | PacketType::Response
            )
        };
        let is_handshake = datagram
            .first()
            .and_then(|prefix| PacketType::from_prefix(*prefix))
            .is_some_and(handshake);
        // Requests and responses from a connected address are ignored without decrypting or
        // refreshing anything: they could be recordings (responses carry no replay protection).
        // A client that missed its first keep-alive gets the next one within `SEND_INTERVAL`.
        let accepts = |packet_type: PacketType| !handshake(packet_type) && accepts(packet_type);
        let result = read_packet(
            datagram,
            self.protocol_id,
            accepts,
            Some(&key),
            Some(&mut connection.replay),
        );
        let packet = match result {
            Ok((_, packet)) => packet,
            Err(PacketError::UnexpectedType) if is_handshake => {
                self.drops.request_ignored += 1;
                return None;
            }
            Err(error) => {
                self.drops.count(error);
                return None;
            }
        };
        // Only an authenticated, replay-protected packet gets here: now it may refresh the
        // connection.
        match packet {
            Packet::Payload(payload) => {
                connection.last_received = time;
                connection.confirmed = true;
                Some((connection.client_id, payload))
            }
            Packet::KeepAlive { .. } => {
                connection.last_received = time;
                connection.confirmed = true;
                None
            }
            Packet::Disconnect => {
                self.remove(slot, ServerDisconnectReason::ClientDisconnected);
                None
            }
            Packet::ConnectionRequest { .. }
            | Packet::Response { .. }
            | Packet::ConnectionDenied
            | Packet::Challenge { .. } => None,
        }
    }

    fn next_global_sequence(&mut self) -> u64 {
        let sequence = self.global_sequence;
        self.global_sequence = self
            .global_sequence
            .wrapping_add(1)
            .max(GLOBAL_SEQUENCE_START);
        sequence
    }

    fn send(
        &mut self,
        addr: SocketAddr,
        packet: &Packet<'_>,
        sequence: u64,
        key: &[u8; KEY_BYTES],
    ) {
        let len = write_packet(packet, sequence, key, self.protocol_id, &mut self.scratch);
        self.outbox.push(addr, &self.scratch[..len]);
    }

    /// Sends a packet on a connection (its own sequence and key).
    fn send_on(&mut self, slot: usize, packet: &Packet<'_>) {
        let time = self.time;
        let Some(connection) = self.slots[slot].as_mut() else {
            return;
        };
        let sequence = connection.sequence;
        connection.sequence += 1;
        connection.last_sent = time;
        let (addr, key) = (connection.addr, connection.send_key);
        self.send(addr, packet, sequence, &key);
    }

    fn send_keep_alive(&mut self, slot: usize) {
        let max_clients = self.slots.len() as u32;
        self.send_on(
            slot,
            &Packet::KeepAlive {
                client_index: slot as u32,
                max_clients,
            },
        );
    }

    /// Queues `payload` for a connected client (preceded by a keep-alive while the client has
    /// not confirmed its connection).
    pub fn send_payload(&mut self, client_id: u64, payload: &[u8]) -> Result<(), SendError> {
        if payload.is_empty() || payload.len() > MAX_PAYLOAD_BYTES {
            return Err(SendError::PayloadSize);
        }
        let slot = *self.by_id.get(&client_id).ok_or(SendError::UnknownClient)?;
        if self.slots[slot].as_ref().is_some_and(|c| !c.confirmed) {
            self.send_keep_alive(slot);
        }
        self.send_on(slot, &Packet::Payload(payload));
        Ok(())
    }

    /// Advances time by `delta`: drops handshakes past their deadline, disconnects clients
    /// silent for their timeout, and queues keep-alives to clients nothing was sent to lately.
    pub fn update(&mut self, delta: Duration) {
        self.time += delta;
        let now = self.time;
        let per_ip = &mut self.pending_per_ip;
        self.pending.retain(|addr, pending| {
            let keep = pending.deadline > now;
            if !keep {
                release_ip(per_ip, *addr);
            }
            keep
        });
        for slot in 0..self.slots.len() {
            let Some(connection) = &self.slots[slot] else {
                continue;
            };
            if now.saturating_sub(connection.last_received) >= connection.timeout {
                self.remove(slot, ServerDisconnectReason::TimedOut);
            } else if now.saturating_sub(connection.last_sent) >= SEND_INTERVAL {
                self.send_keep_alive(slot);
            }
        }
    }

    /// Disconnects a client: redundant disconnect packets, then its slot is freed.
    pub fn disconnect(&mut self, client_id: u64) {
        let Some(&slot) = self.by_id.get(&client_id) else {
            return;
        };
        for _ in 0..DISCONNECT_PACKETS {
            self.send_on(slot, &Packet::Disconnect);
        }
        self.remove(slot, ServerDisconnectReason::DisconnectedByServer);
    }

    /// Disconnects every client.
    pub fn disconnect_all(&mut self) {
        let ids: Vec<u64> = self.by_id.keys().copied().collect();
        for client_id in ids {
            self.disconnect(client_id);
        }
    }

    fn remove(&mut self, slot: usize, reason: ServerDisconnectReason) {
        if let Some(connection) = self.slots[slot].take() {
            self.by_addr.remove(&connection.addr);
            self.by_id.remove(&connection.client_id);
            self.events.push_back(ServerEvent::Disconnected {
                client_id: connection.client_id,
                addr: connection.addr,
                reason,
            });
        }
    }

    /// The next join or leave, oldest first.
    pub fn take_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Hands every queued packet to `send` and empties the outbox.
    pub fn send_packets(&mut self, mut send: impl FnMut(SocketAddr, &[u8])) {
        for &(addr, start, end) in &self.outbox.packets {
            send(addr, &self.outbox.bytes[start..end]);
        }
        self.outbox.packets.clear();
        self.outbox.bytes.clear();
    }
}
