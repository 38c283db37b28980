//! What any peer can make renet parse, behind our guard: a sequence of packets from a client to
//! the server (first byte even) or from the server to a client (first byte odd). Each packet is a
//! little-endian u16 length and then that many bytes (the last one may be short). Whatever
//! `RenetGuard` accepts is handed to renet. After each packet renet moves on a tick, every channel
//! is drained, and renet is asked for its own packets. None of it may panic.
#![no_main]

use std::time::Duration;

use bevy_renet::renet::{RenetClient, RenetServer};
use libfuzzer_sys::fuzz_target;
use skirmish_shared::protocol::{ClientChannel, ServerChannel, connection_config};
use skirmish_net::renet_guard::{RenetGuard, RenetLimits};

const CLIENT_ID: u64 = 1;
const TICK: Duration = Duration::from_millis(16);

/// Splits the next packet off `data`: a little-endian u16 length, then up to that many bytes.
fn next_packet<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    if data.len() < 2 {
        return None;
    }
    let len = usize::from(u16::from_le_bytes([data[0], data[1]])).min(data.len() - 2);
    let (packet, rest) = data[2..].split_at(len);
    *data = rest;
    Some(packet)
}

fuzz_target!(|data: &[u8]| {
    let Some((&side, mut data)) = data.split_first() else {
        return;
    };
    if side % 2 == 0 {
        let mut server = RenetServer::new(connection_config());
        server.add_connection(CLIENT_ID);
        let mut guard = RenetGuard::new(RenetLimits::server());
        while let Some(packet) = next_packet(&mut data) {
            if guard.check(packet).is_err() {
                continue;
            }
            server
                .process_packet_from(packet, CLIENT_ID)
                .expect("the client is connected");
            server.update(TICK);
            for channel in [ClientChannel::Input, ClientChannel::Command] {
                while server.receive_message(CLIENT_ID, channel).is_some() {}
            }
            let _ = server.get_packets_to_send(CLIENT_ID);
        }
    } else {
        let mut client = RenetClient::new(connection_config());
        client.set_connected();
        let mut guard = RenetGuard::new(RenetLimits::client());
        while let Some(packet) = next_packet(&mut data) {
            if guard.check(packet).is_err() {
                continue;
            }
            client.process_packet(packet);
            client.update(TICK);
            for channel in [ServerChannel::Reliable, ServerChannel::Snapshot] {
                while client.receive_message(channel).is_some() {}
            }
            let _ = client.get_packets_to_send();
        }
    }
});
