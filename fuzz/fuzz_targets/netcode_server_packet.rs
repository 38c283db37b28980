//! Any datagram, from any address a server knows in a different way: a stranger, a pending
//! client (request sent, challenged) and a connected client. Half the inputs are sealed with the
//! sender's real key first (type, sequence and data from the input), so the fuzzer reaches what
//! the server does with authenticated packets too. Drops are fine; panics, and maps growing past
//! their bounds, are bugs.
#![no_main]

use std::cell::RefCell;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use skirmish_fuzz::*;
use skirmish_net::netcode::{ConnectToken, NetcodeServer, Packet, write_packet};

/// The server, and the tokens (keys) of its connected (address 1) and pending (address 2) clients.
fn prepared() -> (NetcodeServer, [ConnectToken; 2]) {
    let mut server = server();
    let (mut connected, connected_token) = client_and_token(1);
    exchange_until(
        &mut server,
        &mut connected,
        client_addr(1),
        |server, client| server.is_client_connected(1) && client.is_connected(),
    );
    let (mut pending, pending_token) = client_and_token(2);
    exchange(&mut server, &mut pending, client_addr(2));
    assert_eq!(server.pending_clients(), 1);
    (server, [connected_token, pending_token])
}

/// Seals `data` as the client with `token` would: the first byte picks the type, the next 8 the
/// sequence, the rest is the packet's data.
fn seal(token: &ConnectToken, data: &[u8]) -> Vec<u8> {
    let Some((&kind, rest)) = data.split_first() else {
        return Vec::new();
    };
    let (sequence, body) = rest.split_at(rest.len().min(8));
    let mut sequence_bytes = [0u8; 8];
    sequence_bytes[..sequence.len()].copy_from_slice(sequence);
    let sequence = u64::from_le_bytes(sequence_bytes);
    let mut challenge = [0u8; 300];
    let take = body.len().min(300);
    challenge[..take].copy_from_slice(&body[..take]);
    let packet = match kind % 4 {
        0 => Packet::KeepAlive {
            client_index: 0,
            max_clients: 0,
        },
        1 if !body.is_empty() && body.len() <= 1300 => Packet::Payload(body),
        2 => Packet::Disconnect,
        _ => Packet::Response {
            token_sequence: sequence,
            token: &challenge,
        },
    };
    let mut out = [0u8; 1400];
    let len = write_packet(
        &packet,
        sequence,
        &token.client_to_server_key,
        PROTOCOL,
        &mut out,
    );
    out[..len].to_vec()
}

thread_local! {
    static SERVER: RefCell<(NetcodeServer, [ConnectToken; 2])> = RefCell::new(prepared());
}

fuzz_target!(|data: &[u8]| {
    SERVER.with_borrow_mut(|(server, tokens)| {
        let (selector, datagram) = data.split_first().unwrap_or((&0, &[]));
        let addr = client_addr(selector % 3);
        let mut datagram = match (selector & 0x80 != 0, selector % 3) {
            (true, 1) => seal(&tokens[0], datagram),
            (true, 2) => seal(&tokens[1], datagram),
            _ => datagram.to_vec(),
        };
        let _ = server.process_packet(addr, &mut datagram);
        // Time stands still, so the prepared clients never time out between inputs.
        server.update(Duration::ZERO);
        server.send_packets(|_, bytes| assert!(bytes.len() <= 1400));
        while server.take_event().is_some() {}
        assert!(server.pending_clients() <= 256);
        assert!(server.connected_clients() <= server.max_clients());
        if !server.is_client_connected(1) || server.pending_clients() == 0 {
            // A sealed disconnect or response changed the cast: start again.
            (*server, *tokens) = prepared();
        }
    });
});
