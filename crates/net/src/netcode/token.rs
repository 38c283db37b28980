//! Connect tokens (public and private parts) and challenge tokens, in the standard's layouts.
//!
//! A connect token is minted by whoever holds the server's private key (a matchmaker, or
//! `skirmish token`) and given to one client. Its private part, readable only with the key,
//! names the client, the servers it may join and the two session keys; its public part tells the
//! client the same addresses and keys, and when the token expires.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::crypto::{decrypt, decrypt_x, encrypt, encrypt_x, generate_random_bytes};
use super::wire::{Reader, Writer};
use super::{
    CHALLENGE_TOKEN_BYTES, CONNECT_TOKEN_BYTES, CONNECT_TOKEN_NONCE_BYTES,
    CONNECT_TOKEN_PRIVATE_BYTES, KEY_BYTES, MAC_BYTES, MAX_SERVER_ADDRESSES, USER_DATA_BYTES,
    VERSION_INFO,
};

/// Why a token could not be made or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// A token needs between 1 and 32 server addresses.
    ServerAddressCount,
    /// The bytes are not a token of a layout we know (size, version or fields).
    Malformed,
    /// The private part did not decrypt with this key, protocol id and expiry.
    Decrypt,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ServerAddressCount => "a connect token needs between 1 and 32 server addresses",
            Self::Malformed => "not a netcode 1.02 connect token",
            Self::Decrypt => "the connect token was not made with this server's key",
        })
    }
}

impl std::error::Error for TokenError {}

/// Associated data of a token's private part: version, protocol id and expiry, so none of them
/// can be changed without failing the tag.
fn private_aad(protocol_id: u64, expire_timestamp: u64) -> [u8; 29] {
    let mut aad = [0u8; 29];
    aad[..13].copy_from_slice(VERSION_INFO);
    aad[13..21].copy_from_slice(&protocol_id.to_le_bytes());
    aad[21..].copy_from_slice(&expire_timestamp.to_le_bytes());
    aad
}

/// The private part of a connect token, as the server reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateConnectToken {
    /// The client's id, unique among connected clients.
    pub client_id: u64,
    /// Seconds without packets before either side gives up (negative: the token asks for none).
    pub timeout_seconds: i32,
    /// Servers the token is valid for.
    pub server_addresses: Vec<SocketAddr>,
    /// Key of packets from the client.
    pub client_to_server_key: [u8; KEY_BYTES],
    /// Key of packets to the client.
    pub server_to_client_key: [u8; KEY_BYTES],
    /// Data for the game, opaque to netcode.
    pub user_data: [u8; USER_DATA_BYTES],
}

impl fmt::Debug for PrivateConnectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateConnectToken")
            .field("client_id", &self.client_id)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("server_addresses", &self.server_addresses)
            .finish_non_exhaustive()
    }
}

impl PrivateConnectToken {
    /// The encrypted 1024 bytes: fields, zero padding, tag.
    pub fn encrypt(
        &self,
        protocol_id: u64,
        expire_timestamp: u64,
        nonce: &[u8; CONNECT_TOKEN_NONCE_BYTES],
        private_key: &[u8; KEY_BYTES],
    ) -> [u8; CONNECT_TOKEN_PRIVATE_BYTES] {
        let mut plain = Vec::with_capacity(CONNECT_TOKEN_PRIVATE_BYTES);
        plain.put_u64(self.client_id);
        plain.put_i32(self.timeout_seconds);
        plain.put_addresses(&self.server_addresses);
        plain.put(&self.client_to_server_key);
        plain.put(&self.server_to_client_key);
        plain.put(&self.user_data);
        let mut data = [0u8; CONNECT_TOKEN_PRIVATE_BYTES];
        data[..plain.len()].copy_from_slice(&plain);
        encrypt_x(
            &mut data,
            nonce,
            private_key,
            &private_aad(protocol_id, expire_timestamp),
        );
        data
    }

    /// Decrypts and reads the private part; any failure is an error, nothing panics.
    pub fn decrypt(
        data: &[u8; CONNECT_TOKEN_PRIVATE_BYTES],
        protocol_id: u64,
        expire_timestamp: u64,
        nonce: &[u8; CONNECT_TOKEN_NONCE_BYTES],
        private_key: &[u8; KEY_BYTES],
    ) -> Result<Self, TokenError> {
        let mut plain = *data;
        let aad = private_aad(protocol_id, expire_timestamp);
        if !decrypt_x(&mut plain, nonce, private_key, &aad) {
            return Err(TokenError::Decrypt);
        }
        Self::read(&plain[..CONNECT_TOKEN_PRIVATE_BYTES - MAC_BYTES]).ok_or(TokenError::Malformed)
    }

    /// Reads the fields of a decrypted private part (trailing padding ignored).
    pub fn read(plain: &[u8]) -> Option<Self> {
        let reader = &mut Reader::new(plain);
        Some(Self {
            client_id: reader.u64()?,
            timeout_seconds: reader.i32()?,
            server_addresses: reader.addresses(MAX_SERVER_ADDRESSES)?,
            client_to_server_key: reader.array()?,
            server_to_client_key: reader.array()?,
            user_data: reader.array()?,
        })
    }
}

/// A connect token as a client holds it (the standard's public layout, 2048 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectToken {
    /// The game's protocol id; the server refuses other games' tokens.
    pub protocol_id: u64,
    /// When it was minted (seconds since the Unix epoch).
    pub create_timestamp: u64,
    /// When it stops being accepted (seconds since the Unix epoch).
    pub expire_timestamp: u64,
    /// Nonce of the private part.
    pub nonce: [u8; CONNECT_TOKEN_NONCE_BYTES],
    /// The encrypted private part, passed on to the server as it is.
    pub private_data: [u8; CONNECT_TOKEN_PRIVATE_BYTES],
    /// Seconds without packets before either side gives up (negative: none requested).
    pub timeout_seconds: i32,
    /// Servers to try, in order.
    pub server_addresses: Vec<SocketAddr>,
    /// Key of packets to the server.
    pub client_to_server_key: [u8; KEY_BYTES],
    /// Key of packets from the server.
    pub server_to_client_key: [u8; KEY_BYTES],
}

impl fmt::Debug for ConnectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectToken")
            .field("protocol_id", &self.protocol_id)
            .field("create_timestamp", &self.create_timestamp)
            .field("expire_timestamp", &self.expire_timestamp)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("server_addresses", &self.server_addresses)
            .finish_non_exhaustive()
    }
}

impl ConnectToken {
    /// Mints a token for `client_id`, valid from `now` (since the Unix epoch) for
    /// `expire_seconds`, with fresh random session keys and nonce.
    pub fn generate(
        now: Duration,
        protocol_id: u64,
        expire_seconds: u64,
        client_id: u64,
        timeout_seconds: i32,
        server_addresses: Vec<SocketAddr>,
        user_data: Option<&[u8; USER_DATA_BYTES]>,
        private_key: &[u8; KEY_BYTES],
    ) -> Result<Self, TokenError> {
        if server_addresses.is_empty() || server_addresses.len() > MAX_SERVER_ADDRESSES {
            return Err(TokenError::ServerAddressCount);
        }
        let create_timestamp = now.as_secs();
        let expire_timestamp = create_timestamp.saturating_add(expire_seconds);
        let private = PrivateConnectToken {
            client_id,
            timeout_seconds,
            server_addresses,
            client_to_server_key: generate_random_bytes(),
            server_to_client_key: generate_random_bytes(),
            user_data: user_data.copied().unwrap_or([0; USER_DATA_BYTES]),
        };
        let nonce = generate_random_bytes();
        let private_data = private.encrypt(protocol_id, expire_timestamp, &nonce, private_key);
        Ok(Self {
            protocol_id,
            create_timestamp,
            expire_timestamp,
            nonce,
            private_data,
            timeout_seconds,
            client_to_server_key: private.client_to_server_key,
            server_to_client_key: private.server_to_client_key,
            server_addresses: private.server_addresses,
        })
    }

    /// The standard layout: 2048 bytes, zero padded.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(CONNECT_TOKEN_BYTES);
        self.write_fields(&mut bytes);
        bytes.resize(CONNECT_TOKEN_BYTES, 0);
        bytes
    }

    /// renetcode 2.0's framing: the client id in front, no padding. Only for talking to renetcode
    /// peers (tests of wire compatibility).
    pub fn to_renetcode_bytes(&self, client_id: u64) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(CONNECT_TOKEN_BYTES);
        bytes.put_u64(client_id);
        let mut renetcode = self.clone();
        renetcode.swap_ipv6_byte_order();
        renetcode.write_fields(&mut bytes);
        bytes
    }

    /// renetcode writes IPv6 addresses in network byte order, the standard as little-endian
    /// segments: swapping each segment's bytes converts one into the other (both ways).
    fn swap_ipv6_byte_order(&mut self) {
        for address in &mut self.server_addresses {
            if let SocketAddr::V6(v6) = address {
                v6.set_ip(std::net::Ipv6Addr::from(
                    v6.ip().segments().map(u16::swap_bytes),
                ));
            }
        }
    }

    fn write_fields(&self, bytes: &mut Vec<u8>) {
        bytes.put(VERSION_INFO);
        bytes.put_u64(self.protocol_id);
        bytes.put_u64(self.create_timestamp);
        bytes.put_u64(self.expire_timestamp);
        bytes.put(&self.nonce);
        bytes.put(&self.private_data);
        bytes.put_i32(self.timeout_seconds);
        bytes.put_addresses(&self.server_addresses);
        bytes.put(&self.client_to_server_key);
        bytes.put(&self.server_to_client_key);
    }

    /// Reads a token in the standard 2048-byte layout, or in renetcode 2.0's framing (client id
    /// in front, unpadded), which older `skirmish token` printed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenError> {
        if bytes.len() == CONNECT_TOKEN_BYTES
            && let Some(token) = Self::read_fields(&mut Reader::new(bytes))
        {
            return Ok(token);
        }
        // renetcode's framing: 8 bytes of client id, then the same fields without padding.
        if bytes.len() < CONNECT_TOKEN_BYTES && bytes.len() > 8 {
            let mut reader = Reader::new(&bytes[8..]);
            if let Some(mut token) = Self::read_fields(&mut reader)
                && reader.rest().is_empty()
            {
                token.swap_ipv6_byte_order();
                return Ok(token);
            }
        }
        Err(TokenError::Malformed)
    }

    fn read_fields(reader: &mut Reader<'_>) -> Option<Self> {
        if reader.array::<13>()? != *VERSION_INFO {
            return None;
        }
        let token = Self {
            protocol_id: reader.u64()?,
            create_timestamp: reader.u64()?,
            expire_timestamp: reader.u64()?,
            nonce: reader.array()?,
            private_data: reader.array()?,
            timeout_seconds: reader.i32()?,
            server_addresses: reader.addresses(MAX_SERVER_ADDRESSES)?,
            client_to_server_key: reader.array()?,
            server_to_client_key: reader.array()?,
        };
        (token.create_timestamp <= token.expire_timestamp).then_some(token)
    }
}

/// What the server asks a client to send back, proving it receives packets at its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeToken {
    /// The client the challenge was made for.
    pub client_id: u64,
    /// The user data of its connect token.
    pub user_data: [u8; USER_DATA_BYTES],
}

impl ChallengeToken {
    /// The encrypted 300 bytes, under the server's challenge key and `sequence`.
    pub fn encrypt(&self, sequence: u64, key: &[u8; KEY_BYTES]) -> [u8; CHALLENGE_TOKEN_BYTES] {
        let mut data = [0u8; CHALLENGE_TOKEN_BYTES];
        data[..8].copy_from_slice(&self.client_id.to_le_bytes());
        data[8..8 + USER_DATA_BYTES].copy_from_slice(&self.user_data);
        encrypt(&mut data, sequence, key, &[]);
        data
    }

    /// Decrypts a challenge token; `None` unless it was made by this key and `sequence`.
    pub fn decrypt(
        data: &[u8; CHALLENGE_TOKEN_BYTES],
        sequence: u64,
        key: &[u8; KEY_BYTES],
    ) -> Option<Self> {
        let mut plain = *data;
        if !decrypt(&mut plain, sequence, key, &[]) {
            return None;
        }
        Self::read(&plain)
    }

    /// Reads the fields of a decrypted challenge token.
    pub fn read(plain: &[u8]) -> Option<Self> {
        let mut reader = Reader::new(plain);
        Some(Self {
            client_id: reader.u64()?,
            user_data: reader.array()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const PROTOCOL: u64 = 0x1122_3344_5566_7788;

    fn token(addresses: Vec<SocketAddr>) -> ConnectToken {
        ConnectToken::generate(
            Duration::from_secs(1_000),
            PROTOCOL,
            30,
            42,
            5,
            addresses,
            Some(&[9; USER_DATA_BYTES]),
            &KEY,
        )
        .unwrap()
    }

    #[test]
    fn public_token_has_the_standard_layout() {
        let token = token(vec!["1.2.3.4:5000".parse().unwrap()]);
        let bytes = token.to_bytes();
        assert_eq!(bytes.len(), 2048);
        assert_eq!(&bytes[0..13], b"NETCODE 1.02\0");
        assert_eq!(bytes[13..21], PROTOCOL.to_le_bytes());
        assert_eq!(bytes[21..29], 1_000u64.to_le_bytes(), "create timestamp");
        assert_eq!(bytes[29..37], 1_030u64.to_le_bytes(), "expire timestamp");
        assert_eq!(bytes[37..61], token.nonce);
        assert_eq!(bytes[61..1085], token.private_data);
        assert_eq!(bytes[1085..1089], 5i32.to_le_bytes(), "timeout");
        assert_eq!(bytes[1089..1093], 1u32.to_le_bytes(), "address count");
        assert_eq!(bytes[1093], 1, "IPv4 type");
        assert_eq!(bytes[1094..1098], [1, 2, 3, 4]);
        assert_eq!(bytes[1098..1100], 5000u16.to_le_bytes());
        assert_eq!(bytes[1100..1132], token.client_to_server_key);
        assert_eq!(bytes[1132..1164], token.server_to_client_key);
        assert!(bytes[1164..].iter().all(|&b| b == 0), "zero padded");
        assert_eq!(ConnectToken::from_bytes(&bytes).unwrap(), token);
    }

    #[test]
    fn private_token_has_the_standard_layout() {
        let v6: SocketAddr = "[2001:db8::1]:7000".parse().unwrap();
        let token = token(vec!["1.2.3.4:5000".parse().unwrap(), v6]);
        let mut plain = token.private_data;
        let aad = private_aad(PROTOCOL, token.expire_timestamp);
        assert!(decrypt_x(&mut plain, &token.nonce, &KEY, &aad));
        assert_eq!(plain[0..8], 42u64.to_le_bytes(), "client id");
        assert_eq!(plain[8..12], 5i32.to_le_bytes(), "timeout");
        assert_eq!(plain[12..16], 2u32.to_le_bytes(), "address count");
        assert_eq!(plain[16], 1);
        assert_eq!(plain[23], 2, "IPv6 type");
        assert_eq!(
            plain[24..26],
            0x2001u16.to_le_bytes(),
            "IPv6 segments are little-endian"
        );
        assert_eq!(plain[38..40], 1u16.to_le_bytes());
        assert_eq!(plain[40..42], 7000u16.to_le_bytes());
        assert_eq!(plain[42..74], token.client_to_server_key);
        assert_eq!(plain[74..106], token.server_to_client_key);
        assert_eq!(plain[106..362], [9u8; 256]);
        assert!(plain[362..1008].iter().all(|&b| b == 0));

        let private = PrivateConnectToken::decrypt(
            &token.private_data,
            PROTOCOL,
            token.expire_timestamp,
            &token.nonce,
            &KEY,
        )
        .unwrap();
        assert_eq!(private.client_id, 42);
        assert_eq!(private.server_addresses, token.server_addresses);
        let other_expiry = token.expire_timestamp + 1;
        assert_eq!(
            PrivateConnectToken::decrypt(
                &token.private_data,
                PROTOCOL,
                other_expiry,
                &token.nonce,
                &KEY
            ),
            Err(TokenError::Decrypt),
            "the expiry is signed"
        );
        assert_eq!(
            PrivateConnectToken::decrypt(
                &token.private_data,
                PROTOCOL,
                token.expire_timestamp,
                &token.nonce,
                &[8; 32]
            ),
            Err(TokenError::Decrypt)
        );
    }

    #[test]
    fn renetcode_framing_is_read_too() {
        let v6: SocketAddr = "[2001:db8::1]:7000".parse().unwrap();
        let both = token(vec!["127.0.0.1:5000".parse().unwrap(), v6]);
        let legacy = both.to_renetcode_bytes(42);
        // renetcode writes IPv6 in network byte order: 2001:db8:: starts 0x20 0x01.
        let v6_at = 8 + 1093 + 7 + 1;
        assert_eq!(legacy[v6_at..v6_at + 4], [0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(ConnectToken::from_bytes(&legacy).unwrap(), both);

        let token = token(vec!["127.0.0.1:5000".parse().unwrap()]);
        let legacy = token.to_renetcode_bytes(42);
        // The standard fields up to the keys (1164 bytes with one IPv4 address), 8 bytes of id in front.
        assert_eq!(legacy.len(), 8 + 1164);
        assert_eq!(ConnectToken::from_bytes(&legacy).unwrap(), token);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let bytes = token(vec!["127.0.0.1:5000".parse().unwrap()]).to_bytes();
        for len in [0, 1, 8, 100, 1163, 2047, 2049] {
            let mut cut = bytes.clone();
            cut.resize(len, 0);
            assert!(ConnectToken::from_bytes(&cut).is_err(), "length {len}");
        }
        let mut no_addresses = bytes.clone();
        no_addresses[1089..1093].copy_from_slice(&0u32.to_le_bytes());
        assert!(ConnectToken::from_bytes(&no_addresses).is_err());
        let mut too_many = bytes.clone();
        too_many[1089..1093].copy_from_slice(&33u32.to_le_bytes());
        assert!(ConnectToken::from_bytes(&too_many).is_err());
        let mut bad_type = bytes.clone();
        bad_type[1093] = 0;
        assert!(
            ConnectToken::from_bytes(&bad_type).is_err(),
            "type 0 is not an address"
        );
        let mut bad_version = bytes;
        bad_version[10] = b'3';
        assert!(ConnectToken::from_bytes(&bad_version).is_err());
        assert!(matches!(
            ConnectToken::generate(Duration::ZERO, 1, 1, 1, 1, vec![], None, &KEY),
            Err(TokenError::ServerAddressCount)
        ));
    }

    #[test]
    fn challenge_tokens_round_trip_under_their_sequence() {
        let challenge = ChallengeToken {
            client_id: 5,
            user_data: [1; 256],
        };
        let key = [4u8; 32];
        let data = challenge.encrypt(77, &key);
        assert_eq!(data.len(), 300);
        assert_eq!(ChallengeToken::decrypt(&data, 77, &key), Some(challenge));
        assert_eq!(ChallengeToken::decrypt(&data, 78, &key), None);
    }

    #[test]
    fn debug_output_hides_keys() {
        let token = token(vec!["127.0.0.1:5000".parse().unwrap()]);
        let text = format!("{token:?}");
        assert!(
            !text.contains("private_data") && !text.contains("key"),
            "{text}"
        );
    }
}
