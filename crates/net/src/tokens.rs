//! Secure connections: the server's private key and netcode connect tokens, as text.
//!
//! A dedicated server holds a 32-byte private key (never sent anywhere). Whoever holds the key (a
//! matchmaker, or `skirmish token`) mints a [`ConnectToken`] for one client: signed, encrypted,
//! naming the server addresses it is valid for and when it expires. Tokens travel as base64 text
//! of the netcode standard's 2048-byte layout (what matchmakers in other languages produce and
//! read); renetcode's framing (the client id in front, unpadded: 1172 bytes for one IPv4 address)
//! is still read.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::netcode::{ConnectToken, KEY_BYTES as NETCODE_KEY_BYTES, generate_random_bytes};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// A netcode private key.
pub type PrivateKey = [u8; NETCODE_KEY_BYTES];

/// Reads a private key written as 64 hex digits or as base64 of 32 bytes (surrounding whitespace
/// ignored). The error never contains the key.
pub fn parse_private_key(text: &str) -> Result<PrivateKey, String> {
    let text = text.trim();
    let bytes =
        if text.len() == 2 * NETCODE_KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| "the key is not valid hex".to_owned())?
        } else {
            BASE64
                .decode(text)
                .map_err(|_| "the key is neither 64 hex digits nor base64".to_owned())?
        };
    PrivateKey::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "the key must be {NETCODE_KEY_BYTES} bytes, got {}",
            bytes.len()
        )
    })
}

/// A new random private key, as base64 text (what `skirmish keygen` prints).
pub fn generate_private_key() -> String {
    BASE64.encode(generate_random_bytes::<NETCODE_KEY_BYTES>())
}

/// What a connect token grants.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The game's netcode protocol id (the server refuses other games' tokens).
    pub protocol_id: u64,
    /// The client's id on the server (unique per connected client).
    pub client_id: u64,
    /// Server addresses the token is valid for, in the order the client tries them.
    pub server_addresses: Vec<std::net::SocketAddr>,
    /// How long the token may be used to start a connection.
    pub expires_in: Duration,
    /// How long the client waits for the server before giving up (handshake and connection).
    pub timeout: Duration,
}

/// Mints a connect token signed with `key`, valid from now.
pub fn mint_token(key: &PrivateKey, request: &TokenRequest) -> Result<ConnectToken, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    mint_token_at(key, request, now)
}

/// Like [`mint_token`], as if minted at `now` (since the Unix epoch); for tests of expiry.
pub fn mint_token_at(
    key: &PrivateKey,
    request: &TokenRequest,
    now: Duration,
) -> Result<ConnectToken, String> {
    if request.server_addresses.is_empty() {
        return Err("a token needs at least one server address".into());
    }
    let timeout = i32::try_from(request.timeout.as_secs().max(1)).unwrap_or(i32::MAX);
    ConnectToken::generate(
        now,
        request.protocol_id,
        request.expires_in.as_secs(),
        request.client_id,
        timeout,
        request.server_addresses.clone(),
        None,
        key,
    )
    .map_err(|err| format!("cannot make a connect token: {err}"))
}

/// A token as base64 text (the standard 2048-byte layout).
pub fn token_to_text(token: &ConnectToken) -> String {
    BASE64.encode(token.to_bytes())
}

/// A token from its base64 text.
pub fn token_from_text(text: &str) -> Result<ConnectToken, String> {
    let bytes = BASE64
        .decode(text.trim())
        .map_err(|_| "the connect token is not base64".to_owned())?;
    ConnectToken::from_bytes(&bytes).map_err(|err| format!("the connect token is not valid: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let key: PrivateKey = std::array::from_fn(|i| i as u8);
        let hex_text = hex::encode(key);
        assert_eq!(parse_private_key(&hex_text), Ok(key));
        assert_eq!(parse_private_key(&format!(" {hex_text}\n")), Ok(key));
        assert_eq!(parse_private_key(&BASE64.encode(key)), Ok(key));
        let generated = generate_private_key();
        assert!(parse_private_key(&generated).is_ok());
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        let short = BASE64.encode([7u8; 16]);
        let err = parse_private_key(&short).unwrap_err();
        assert!(err.contains("32 bytes, got 16"), "{err}");
        assert!(!err.contains(&short));
        assert!(parse_private_key("not a key!").is_err());
        assert!(parse_private_key("").is_err());
    }

    #[test]
    fn tokens_survive_text() {
        let key = [9u8; 32];
        let request = TokenRequest {
            protocol_id: 0x5EED,
            client_id: 42,
            server_addresses: vec!["127.0.0.1:5000".parse().unwrap()],
            expires_in: Duration::from_secs(300),
            timeout: Duration::from_secs(5),
        };
        let token = mint_token(&key, &request).unwrap();
        let text = token_to_text(&token);
        assert_eq!(
            BASE64.decode(&text).unwrap().len(),
            2048,
            "the standard layout"
        );
        let back = token_from_text(&text).unwrap();
        assert_eq!(back.server_addresses, token.server_addresses);
        assert_eq!(back.expire_timestamp, token.expire_timestamp);
        assert!(token_from_text("garbage").is_err());
        assert!(token_from_text(&BASE64.encode([0u8; 10])).is_err());
    }
}
