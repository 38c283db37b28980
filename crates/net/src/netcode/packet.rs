//! Netcode packets: the unencrypted connection request and the six encrypted types, written and
//! read exactly as the standard lays them out. Reading validates the prefix, the sequence length
//! and every size before it slices anything, checks replay protection before decrypting and
//! advances it only after the tag matched.

use std::fmt;

use super::crypto::{decrypt, encrypt};
use super::replay::ReplayProtection;
use super::wire::Reader;
use super::{
    CHALLENGE_TOKEN_BYTES, CONNECT_TOKEN_NONCE_BYTES, CONNECT_TOKEN_PRIVATE_BYTES,
    CONNECTION_REQUEST_BYTES, KEY_BYTES, MAC_BYTES, MAX_PACKET_BYTES, MAX_PAYLOAD_BYTES,
    VERSION_INFO,
};

/// The seven packet types, numbered as on the wire (low 4 bits of the prefix byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// Client → server, unencrypted: the connect token's private part.
    ConnectionRequest = 0,
    /// Server → client: no room, or the request could not be served.
    ConnectionDenied = 1,
    /// Server → client: prove you receive packets at your address.
    Challenge = 2,
    /// Client → server: the challenge, sent back.
    Response = 3,
    /// Both ways: the connection is alive (server → client: the client's slot).
    KeepAlive = 4,
    /// Both ways: the game's bytes.
    Payload = 5,
    /// Both ways: the connection ends.
    Disconnect = 6,
}

impl PacketType {
    /// The type of a prefix byte, if it names one.
    pub fn from_prefix(prefix: u8) -> Option<Self> {
        Some(match prefix & 0x0F {
            // The request's prefix is the whole byte 0: no sequence follows.
            0 if prefix == 0 => Self::ConnectionRequest,
            1 => Self::ConnectionDenied,
            2 => Self::Challenge,
            3 => Self::Response,
            4 => Self::KeepAlive,
            5 => Self::Payload,
            6 => Self::Disconnect,
            _ => return None,
        })
    }

    /// The types whose sequence numbers go through replay protection.
    pub fn replay_protected(self) -> bool {
        matches!(self, Self::KeepAlive | Self::Payload | Self::Disconnect)
    }

    /// Bytes of per-packet data (before the tag) this type must carry.
    fn data_len_allowed(self, len: usize) -> bool {
        match self {
            Self::ConnectionDenied | Self::Disconnect => len == 0,
            Self::Challenge | Self::Response => len == 8 + CHALLENGE_TOKEN_BYTES,
            Self::KeepAlive => len == 8,
            Self::Payload => (1..=MAX_PAYLOAD_BYTES).contains(&len),
            Self::ConnectionRequest => false,
        }
    }
}

/// One decoded packet; byte fields borrow from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// The connection request (not encrypted).
    ConnectionRequest {
        /// The game's protocol id.
        protocol_id: u64,
        /// The token's expiry (seconds since the Unix epoch), signed by the private part.
        expire_timestamp: u64,
        /// Nonce of the private part.
        nonce: [u8; CONNECT_TOKEN_NONCE_BYTES],
        /// The encrypted private part of the connect token.
        private_data: &'a [u8; CONNECT_TOKEN_PRIVATE_BYTES],
    },
    /// Connection denied.
    ConnectionDenied,
    /// A challenge, or (the same fields) the client's response to it.
    Challenge {
        /// The challenge token's sequence (its nonce).
        token_sequence: u64,
        /// The encrypted challenge token.
        token: &'a [u8; CHALLENGE_TOKEN_BYTES],
    },
    /// The client's response to a challenge.
    Response {
        /// The challenge token's sequence (its nonce).
        token_sequence: u64,
        /// The encrypted challenge token, as received.
        token: &'a [u8; CHALLENGE_TOKEN_BYTES],
    },
    /// Keep-alive.
    KeepAlive {
        /// The client's slot on the server.
        client_index: u32,
        /// The server's number of slots.
        max_clients: u32,
    },
    /// The game's bytes.
    Payload(&'a [u8]),
    /// Disconnect.
    Disconnect,
}

impl Packet<'_> {
    /// This packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::ConnectionRequest { .. } => PacketType::ConnectionRequest,
            Self::ConnectionDenied => PacketType::ConnectionDenied,
            Self::Challenge { .. } => PacketType::Challenge,
            Self::Response { .. } => PacketType::Response,
            Self::KeepAlive { .. } => PacketType::KeepAlive,
            Self::Payload(_) => PacketType::Payload,
            Self::Disconnect => PacketType::Disconnect,
        }
    }
}

/// Why a datagram was not a packet we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketError {
    /// Empty, shorter than the smallest packet, or sizes that do not add up.
    Malformed,
    /// A packet type this side never accepts (or no type at all).
    UnexpectedType,
    /// The version or protocol id is not ours.
    WrongProtocol,
    /// A sequence number already received, or too old.
    Replayed,
    /// The tag did not match: not from this peer, or altered.
    Decrypt,
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed",
            Self::UnexpectedType => "unexpected packet type",
            Self::WrongProtocol => "other protocol",
            Self::Replayed => "replayed",
            Self::Decrypt => "failed to decrypt",
        })
    }
}

/// Associated data of an encrypted packet: version, protocol id and prefix byte (so the type
/// cannot be changed).
fn packet_aad(protocol_id: u64, prefix: u8) -> [u8; 22] {
    let mut aad = [0u8; 22];
    aad[..13].copy_from_slice(VERSION_INFO);
    aad[13..21].copy_from_slice(&protocol_id.to_le_bytes());
    aad[21] = prefix;
    aad
}

/// Bytes the sequence number takes on the wire (high zero bytes omitted, at least one).
fn sequence_bytes(sequence: u64) -> usize {
    (8 - sequence.leading_zeros() as usize / 8).max(1)
}

/// Writes `packet` into `out` and returns its length. Encrypted types are sealed with `key` under
/// `sequence`; the connection request ignores both.
///
/// # Panics
/// If a payload is empty or longer than [`MAX_PAYLOAD_BYTES`]: callers check what they send.
pub fn write_packet(
    packet: &Packet<'_>,
    sequence: u64,
    key: &[u8; KEY_BYTES],
    protocol_id: u64,
    out: &mut [u8; MAX_PACKET_BYTES],
) -> usize {
    if let Packet::ConnectionRequest {
        protocol_id,
        expire_timestamp,
        nonce,
        private_data,
    } = packet
    {
        out[0] = PacketType::ConnectionRequest as u8;
        out[1..14].copy_from_slice(VERSION_INFO);
        out[14..22].copy_from_slice(&protocol_id.to_le_bytes());
        out[22..30].copy_from_slice(&expire_timestamp.to_le_bytes());
        out[30..54].copy_from_slice(nonce);
        out[54..CONNECTION_REQUEST_BYTES].copy_from_slice(*private_data);
        return CONNECTION_REQUEST_BYTES;
    }
    let sequence_len = sequence_bytes(sequence);
    let prefix = ((sequence_len as u8) << 4) | packet.packet_type() as u8;
    out[0] = prefix;
    out[1..1 + sequence_len].copy_from_slice(&sequence.to_le_bytes()[..sequence_len]);
    let start = 1 + sequence_len;
    let mut end = start;
    let mut put = |bytes: &[u8]| {
        out[end..end + bytes.len()].copy_from_slice(bytes);
        end += bytes.len();
    };
    match packet {
        Packet::Challenge {
            token_sequence,
            token,
        }
        | Packet::Response {
            token_sequence,
            token,
        } => {
            put(&token_sequence.to_le_bytes());
            put(*token);
        }
        Packet::KeepAlive {
            client_index,
            max_clients,
        } => {
            put(&client_index.to_le_bytes());
            put(&max_clients.to_le_bytes());
        }
        Packet::Payload(payload) => {
            assert!(
                (1..=MAX_PAYLOAD_BYTES).contains(&payload.len()),
                "payloads are 1 to {MAX_PAYLOAD_BYTES} bytes"
            );
            put(payload);
        }
        Packet::ConnectionDenied | Packet::Disconnect | Packet::ConnectionRequest { .. } => {}
    }
    encrypt(
        &mut out[start..end + MAC_BYTES],
        sequence,
        key,
        &packet_aad(protocol_id, prefix),
    );
    end + MAC_BYTES
}

/// The sequence number and type of an encrypted datagram, read without decrypting, once its
/// prefix and length are known to be valid. `None` for anything else (including requests).
pub fn peek_sequence(datagram: &[u8]) -> Option<(PacketType, u64)> {
    let (&prefix, rest) = datagram.split_first()?;
    let packet_type = PacketType::from_prefix(prefix)?;
    let sequence_len = usize::from(prefix >> 4);
    // The standard writes 1 to 8 bytes; renetcode writes sequence 0 with none, which we read
    // (the tag covers the prefix either way) but never write.
    if packet_type == PacketType::ConnectionRequest
        || sequence_len > 8
        || rest.len() < sequence_len + MAC_BYTES
    {
        return None;
    }
    let mut sequence = [0u8; 8];
    sequence[..sequence_len].copy_from_slice(&rest[..sequence_len]);
    Some((packet_type, u64::from_le_bytes(sequence)))
}

/// Reads one datagram. `accepts` says which types this side takes at all (the server never takes
/// a challenge, the client never a request or response); encrypted types need `key`, and
/// `replay` (when given) guards keep-alives, payloads and disconnects.
///
/// Payload bytes are decrypted in place and borrowed from `datagram`.
pub fn read_packet<'a>(
    datagram: &'a mut [u8],
    protocol_id: u64,
    accepts: impl Fn(PacketType) -> bool,
    key: Option<&[u8; KEY_BYTES]>,
    replay: Option<&mut ReplayProtection>,
) -> Result<(u64, Packet<'a>), PacketError> {
    let prefix = *datagram.first().ok_or(PacketError::Malformed)?;
    let packet_type = PacketType::from_prefix(prefix).ok_or(PacketError::UnexpectedType)?;
    if !accepts(packet_type) {
        return Err(PacketError::UnexpectedType);
    }
    if packet_type == PacketType::ConnectionRequest {
        return read_request(datagram, protocol_id).map(|packet| (0, packet));
    }
    if datagram.len() < 1 + MAC_BYTES || datagram.len() > MAX_PACKET_BYTES {
        return Err(PacketError::Malformed);
    }
    let (_, sequence) = peek_sequence(datagram).ok_or(PacketError::Malformed)?;
    let start = 1 + usize::from(prefix >> 4);
    let data_len = datagram.len() - start - MAC_BYTES;
    if !packet_type.data_len_allowed(data_len) {
        return Err(PacketError::Malformed);
    }
    let key = key.ok_or(PacketError::Decrypt)?;
    let protect = packet_type.replay_protected();
    if protect
        && replay
            .as_ref()
            .is_some_and(|replay| replay.already_received(sequence))
    {
        return Err(PacketError::Replayed);
    }
    let sealed = &mut datagram[start..];
    if !decrypt(sealed, sequence, key, &packet_aad(protocol_id, prefix)) {
        return Err(PacketError::Decrypt);
    }
    if protect && let Some(replay) = replay {
        replay.advance(sequence);
    }
    let data: &'a [u8] = &sealed[..data_len];
    let mut reader = Reader::new(data);
    let packet = match packet_type {
        PacketType::ConnectionDenied => Packet::ConnectionDenied,
        PacketType::Disconnect => Packet::Disconnect,
        PacketType::Payload => Packet::Payload(data),
        PacketType::KeepAlive => Packet::KeepAlive {
            client_index: reader.u32().ok_or(PacketError::Malformed)?,
            max_clients: reader.u32().ok_or(PacketError::Malformed)?,
        },
        PacketType::Challenge | PacketType::Response => {
            let token_sequence = reader.u64().ok_or(PacketError::Malformed)?;
            let token = reader
                .take(CHALLENGE_TOKEN_BYTES)
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or(PacketError::Malformed)?;
            if packet_type == PacketType::Challenge {
                Packet::Challenge {
                    token_sequence,
                    token,
                }
            } else {
                Packet::Response {
                    token_sequence,
                    token,
                }
            }
        }
        PacketType::ConnectionRequest => return Err(PacketError::UnexpectedType),
    };
    Ok((sequence, packet))
}

fn read_request(datagram: &[u8], protocol_id: u64) -> Result<Packet<'_>, PacketError> {
    if datagram.len() != CONNECTION_REQUEST_BYTES {
        return Err(PacketError::Malformed);
    }
    let mut reader = Reader::new(&datagram[1..]);
    let malformed = PacketError::Malformed;
    if reader.array::<13>().ok_or(malformed)? != *VERSION_INFO {
        return Err(PacketError::WrongProtocol);
    }
    let packet_protocol = reader.u64().ok_or(malformed)?;
    if packet_protocol != protocol_id {
        return Err(PacketError::WrongProtocol);
    }
    Ok(Packet::ConnectionRequest {
        protocol_id: packet_protocol,
        expire_timestamp: reader.u64().ok_or(malformed)?,
        nonce: reader.array().ok_or(malformed)?,
        private_data: reader
            .take(CONNECT_TOKEN_PRIVATE_BYTES)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(malformed)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTOCOL: u64 = 77;
    const KEY: [u8; 32] = [5; 32];

    fn write(packet: &Packet<'_>, sequence: u64) -> Vec<u8> {
        let mut out = [0u8; MAX_PACKET_BYTES];
        let len = write_packet(packet, sequence, &KEY, PROTOCOL, &mut out);
        out[..len].to_vec()
    }

    fn read_all(bytes: &mut [u8]) -> Result<(u64, Packet<'_>), PacketError> {
        read_packet(bytes, PROTOCOL, |_| true, Some(&KEY), None)
    }

    #[test]
    fn prefix_and_sequence_follow_the_standard() {
        // The standard's example: sequence 1000 takes two bytes, written low byte first.
        let bytes = write(&Packet::Disconnect, 1000);
        assert_eq!(bytes[0], (2 << 4) | 6);
        assert_eq!(&bytes[1..3], &[0xE8, 0x03]);
        assert_eq!(bytes.len(), 1 + 2 + 16, "disconnect: no data, a tag");
        assert_eq!(
            write(&Packet::Disconnect, 0)[0],
            (1 << 4) | 6,
            "at least one byte"
        );
        assert_eq!(write(&Packet::Disconnect, 1 << 63)[0], (8 << 4) | 6);
    }

    #[test]
    fn every_type_has_its_standard_size_and_round_trips() {
        let token = [3u8; CHALLENGE_TOKEN_BYTES];
        let private = [4u8; CONNECT_TOKEN_PRIVATE_BYTES];
        let packets = [
            (Packet::ConnectionDenied, 1 + 1 + 16),
            (
                Packet::Challenge {
                    token_sequence: 9,
                    token: &token,
                },
                1 + 1 + 308 + 16,
            ),
            (
                Packet::Response {
                    token_sequence: 9,
                    token: &token,
                },
                1 + 1 + 308 + 16,
            ),
            (
                Packet::KeepAlive {
                    client_index: 3,
                    max_clients: 8,
                },
                1 + 1 + 8 + 16,
            ),
            (Packet::Payload(&[1, 2, 3]), 1 + 1 + 3 + 16),
            (Packet::Disconnect, 1 + 1 + 16),
            (
                Packet::ConnectionRequest {
                    protocol_id: PROTOCOL,
                    expire_timestamp: 99,
                    nonce: [6; 24],
                    private_data: &private,
                },
                1078,
            ),
        ];
        for (packet, size) in packets {
            let mut bytes = write(&packet, 5);
            assert_eq!(bytes.len(), size, "{packet:?}");
            let (sequence, back) = read_all(&mut bytes).unwrap();
            assert_eq!(back, packet);
            if packet.packet_type() != PacketType::ConnectionRequest {
                assert_eq!(sequence, 5);
            }
        }
    }

    #[test]
    fn connection_request_layout() {
        let private = [4u8; CONNECT_TOKEN_PRIVATE_BYTES];
        let bytes = write(
            &Packet::ConnectionRequest {
                protocol_id: PROTOCOL,
                expire_timestamp: 99,
                nonce: [6; 24],
                private_data: &private,
            },
            0,
        );
        assert_eq!(bytes[0], 0);
        assert_eq!(&bytes[1..14], b"NETCODE 1.02\0");
        assert_eq!(bytes[14..22], PROTOCOL.to_le_bytes());
        assert_eq!(bytes[22..30], 99u64.to_le_bytes());
        assert_eq!(bytes[30..54], [6u8; 24]);
        assert_eq!(bytes[54..], private);
        let mut other = bytes.clone();
        assert_eq!(
            read_packet(&mut other, PROTOCOL + 1, |_| true, None, None),
            Err(PacketError::WrongProtocol)
        );
    }

    #[test]
    fn hostile_prefixes_are_refused_before_anything_is_sliced() {
        // The datagram that stops renetcode: a sequence length of 9 in the prefix.
        let mut bytes = [0u8; 18];
        bytes[0] = 0x95;
        assert_eq!(read_all(&mut bytes), Err(PacketError::Malformed));
        for prefix in 0..=255u8 {
            for len in [0usize, 1, 2, 9, 17, 18, 19, 25, 326, 1077, 1078, 1079, 1500] {
                let mut bytes = vec![0xA5u8; len];
                if let Some(first) = bytes.first_mut() {
                    *first = prefix;
                }
                assert!(
                    read_all(&mut bytes).is_err(),
                    "prefix {prefix:#x}, {len} bytes"
                );
            }
        }
    }

    #[test]
    fn wrong_sizes_types_and_tampering_are_refused() {
        let mut keep_alive = write(
            &Packet::KeepAlive {
                client_index: 0,
                max_clients: 1,
            },
            1,
        );
        // Claiming another type changes the associated data: the tag fails.
        keep_alive[0] = (keep_alive[0] & 0xF0) | 5;
        assert_eq!(read_all(&mut keep_alive), Err(PacketError::Decrypt));

        let mut payload = write(&Packet::Payload(&[1; 8]), 1);
        payload[0] = (payload[0] & 0xF0) | 4;
        assert_eq!(read_all(&mut payload).unwrap_err(), PacketError::Decrypt);

        let mut short_keep_alive = write(&Packet::Payload(&[1; 7]), 1);
        short_keep_alive[0] = (short_keep_alive[0] & 0xF0) | 4;
        assert_eq!(read_all(&mut short_keep_alive), Err(PacketError::Malformed));

        let mut challenge = write(&Packet::ConnectionDenied, 1);
        assert_eq!(
            read_packet(
                &mut challenge,
                PROTOCOL,
                |t| t != PacketType::ConnectionDenied,
                Some(&KEY),
                None
            ),
            Err(PacketError::UnexpectedType)
        );
        let mut other_key = write(&Packet::Disconnect, 1);
        assert_eq!(
            read_packet(&mut other_key, PROTOCOL, |_| true, Some(&[6; 32]), None),
            Err(PacketError::Decrypt)
        );
    }

    #[test]
    fn replays_are_refused_and_only_authentic_packets_advance_the_window() {
        let mut replay = ReplayProtection::default();
        let original = write(&Packet::Payload(&[1, 2]), 40);
        let mut first = original.clone();
        assert!(
            read_packet(
                &mut first,
                PROTOCOL,
                |_| true,
                Some(&KEY),
                Some(&mut replay)
            )
            .is_ok()
        );
        let mut again = original;
        assert_eq!(
            read_packet(
                &mut again,
                PROTOCOL,
                |_| true,
                Some(&KEY),
                Some(&mut replay)
            ),
            Err(PacketError::Replayed)
        );
        // A forged packet with a huge sequence does not move the window.
        let mut forged = write(&Packet::Payload(&[1, 2]), 1 << 40);
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(
            read_packet(
                &mut forged,
                PROTOCOL,
                |_| true,
                Some(&KEY),
                Some(&mut replay)
            )
            .is_err()
        );
        let mut next = write(&Packet::Payload(&[3]), 41);
        assert!(read_packet(&mut next, PROTOCOL, |_| true, Some(&KEY), Some(&mut replay)).is_ok());
    }
}
