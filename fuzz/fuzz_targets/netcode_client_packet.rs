//! Any datagram from the server's address, to a client in each state: sending requests, sending
//! the challenge response, connected. Drops are fine; panics are bugs.
#![no_main]

use std::cell::RefCell;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use skirmish_fuzz::*;
use skirmish_net::netcode::{ClientState, NetcodeClient};

fn prepared() -> [NetcodeClient; 3] {
    let requesting = client(1);
    let mut server = server();
    let mut responding = client(2);
    exchange_until(&mut server, &mut responding, client_addr(2), |_, client| {
        client.state() == ClientState::SendingResponse
    });
    let mut connected = client(3);
    exchange_until(&mut server, &mut connected, client_addr(3), |_, client| {
        client.is_connected()
    });
    [requesting, responding, connected]
}

thread_local! {
    static CLIENTS: RefCell<[NetcodeClient; 3]> = RefCell::new(prepared());
}

fuzz_target!(|data: &[u8]| {
    CLIENTS.with_borrow_mut(|clients| {
        let (selector, datagram) = data.split_first().unwrap_or((&0, &[]));
        let client = &mut clients[usize::from(selector % 3)];
        let mut datagram = datagram.to_vec();
        if let Some(payload) = client.process_packet(&mut datagram) {
            assert!(!payload.is_empty() && payload.len() <= 1300);
        }
        // Time stands still, so the prepared clients never time out between inputs.
        let _ = client.update(Duration::ZERO);
    });
});
