//! Any datagram, from any address a server knows in a different way: a stranger, a pending
//! client (request sent, challenged) and a connected client. Drops are fine; panics, and maps
//! growing past their bounds, are bugs.
#![no_main]

use std::cell::RefCell;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use skirmish_fuzz::*;
use skirmish_shared::netcode::NetcodeServer;

fn prepared() -> NetcodeServer {
    let mut server = server();
    let mut connected = client(1);
    exchange_until(&mut server, &mut connected, client_addr(1), |server, client| {
        server.is_client_connected(1) && client.is_connected()
    });
    let mut pending = client(2);
    exchange(&mut server, &mut pending, client_addr(2));
    assert_eq!(server.pending_clients(), 1);
    server
}

thread_local! {
    static SERVER: RefCell<NetcodeServer> = RefCell::new(prepared());
}

fuzz_target!(|data: &[u8]| {
    SERVER.with_borrow_mut(|server| {
        let (selector, datagram) = data.split_first().unwrap_or((&0, &[]));
        let addr = client_addr(selector % 3);
        let mut datagram = datagram.to_vec();
        let _ = server.process_packet(addr, &mut datagram);
        server.update(Duration::from_millis(1));
        server.send_packets(|_, bytes| assert!(bytes.len() <= 1400));
        while server.take_event().is_some() {}
        assert!(server.pending_clients() <= 256);
        assert!(server.connected_clients() <= server.max_clients());
    });
});
