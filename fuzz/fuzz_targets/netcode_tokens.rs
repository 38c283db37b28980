//! Connect tokens as a client reads them (standard layout or renetcode's framing), and the
//! decrypted private part and challenge token as a server reads them. Errors are fine; panics
//! are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skirmish_net::netcode::{ChallengeToken, ConnectToken, PrivateConnectToken};

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = ConnectToken::from_bytes(data) {
        // What was read writes back to a token that reads the same.
        let again = ConnectToken::from_bytes(&token.to_bytes()).expect("a token we wrote");
        assert_eq!(again, token);
    }
    if let Some(private) = PrivateConnectToken::read(data) {
        assert!((1..=32).contains(&private.server_addresses.len()));
    }
    let _ = ChallengeToken::read(data);
});
