//! Skirmish's own implementation of the netcode protocol (netcode.io 1.02, from the published
//! standard and its errata), client and server, in place of renetcode.
//!
//! It is sans-IO: the transports own the socket and hand datagrams in; this module decides what
//! they mean and what to answer. Everything a peer can make it store is bounded, every datagram is
//! validated before anything is sliced, and nothing here logs: what it throws away is counted in
//! [`DropCounters`] for the transport to report.
//!
//! Where it differs from renetcode 2.0 (and why):
//! - the packet prefix is validated before the sequence is read (renetcode panics on a sequence
//!   length above 8);
//! - the server's global sequence (challenge and denied packets) starts at `1 << 63` on every
//!   start, so it never shares an AEAD nonce with a connection's own packets under the same key;
//! - replay protection cannot overflow;
//! - only an authenticated packet refreshes a connected client, and pending handshakes end at the
//!   token's timeout;
//! - every payload sent to a client that has not yet answered is preceded by a keep-alive (as the
//!   standard asks), so a lost first keep-alive cannot stall the handshake;
//! - connect tokens use the standard 2048-byte layout (renetcode's own framing is still read).

mod client;
mod crypto;
mod packet;
mod replay;
mod server;
mod token;
mod wire;

#[cfg(test)]
mod tests;

pub use client::{ClientAuthentication, ClientState, DisconnectReason, NetcodeClient};
pub use crypto::generate_random_bytes;
pub use packet::{Packet, PacketError, PacketType, peek_sequence, read_packet, write_packet};
pub use replay::ReplayProtection;
pub use server::{
    DropCounters, GLOBAL_SEQUENCE_START, MAX_PENDING_PER_IP, MAX_PENDING_TIME, MAX_TIMEOUT,
    NetcodeServer, SendError, ServerAuthentication, ServerConfig, ServerDisconnectReason,
    ServerEvent,
};
pub use token::{ChallengeToken, ConnectToken, PrivateConnectToken, TokenError};

use std::time::Duration;

/// The version string every token and packet is bound to: "NETCODE 1.02" with a null terminator.
pub const VERSION_INFO: &[u8; 13] = b"NETCODE 1.02\0";
/// Bytes of a key (private key, client-to-server and server-to-client keys).
pub const KEY_BYTES: usize = 32;
/// Bytes of an AEAD tag.
pub const MAC_BYTES: usize = 16;
/// Bytes of the user data carried in a connect token.
pub const USER_DATA_BYTES: usize = 256;
/// Bytes of a connect token's encrypted private part.
pub const CONNECT_TOKEN_PRIVATE_BYTES: usize = 1024;
/// Bytes of a whole connect token in the standard layout.
pub const CONNECT_TOKEN_BYTES: usize = 2048;
/// Bytes of a connect token's `XChaCha20` nonce.
pub const CONNECT_TOKEN_NONCE_BYTES: usize = 24;
/// Bytes of an encrypted challenge token.
pub const CHALLENGE_TOKEN_BYTES: usize = 300;
/// Most server addresses a connect token can name.
pub const MAX_SERVER_ADDRESSES: usize = 32;
/// Largest payload a payload packet carries. The standard says 1200; renet's packets (a 1200-byte
/// slice plus its header) need a little more, as renetcode allows, so both ends accept this much.
pub const MAX_PAYLOAD_BYTES: usize = 1300;
/// Largest netcode packet either side sends or accepts.
pub const MAX_PACKET_BYTES: usize = 1400;
/// Bytes of a connection request packet: prefix, version, protocol id, expiry, nonce, private token.
pub const CONNECTION_REQUEST_BYTES: usize =
    1 + 13 + 8 + 8 + CONNECT_TOKEN_NONCE_BYTES + CONNECT_TOKEN_PRIVATE_BYTES;
/// Packets each side sends a second while it has nothing else to say (requests, responses,
/// keep-alives): the standard suggests 10 Hz.
pub const SEND_INTERVAL: Duration = Duration::from_millis(100);
/// Redundant disconnect packets sent when a connection ends on purpose.
pub const DISCONNECT_PACKETS: usize = 5;
