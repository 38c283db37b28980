//! Shared set-up of the fuzz targets: a netcode server and clients in each connection state,
//! reached through a real in-memory handshake.

use std::net::SocketAddr;
use std::time::Duration;

use skirmish_net::netcode::{
    ClientAuthentication, ConnectToken, NetcodeClient, NetcodeServer, ServerAuthentication,
    ServerConfig,
};

/// The fuzz servers' protocol id.
pub const PROTOCOL: u64 = 0x4655_5A5A;
/// The fuzz servers' private key.
pub const KEY: [u8; 32] = [0x42; 32];
/// "Now" for every fuzz server and client.
pub const NOW: Duration = Duration::from_secs(1_800_000_000);
const STEP: Duration = Duration::from_millis(16);

/// The fuzz server's address.
pub fn server_addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 5000))
}

/// Client address `n`.
pub fn client_addr(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, n], 6000))
}

/// A secure server with 4 slots.
pub fn server() -> NetcodeServer {
    NetcodeServer::new(ServerConfig {
        current_time: NOW,
        max_clients: 4,
        protocol_id: PROTOCOL,
        public_addresses: vec![server_addr()],
        authentication: ServerAuthentication::Secure { private_key: KEY },
    })
}

/// A client of [`server`] with a fresh token.
pub fn client(client_id: u64) -> NetcodeClient {
    client_and_token(client_id).0
}

/// A client of [`server`] with a fresh token, and the token (whose keys let a target seal
/// packets as that client would).
pub fn client_and_token(client_id: u64) -> (NetcodeClient, ConnectToken) {
    let token = ConnectToken::generate(
        NOW,
        PROTOCOL,
        600,
        client_id,
        30,
        vec![server_addr()],
        None,
        &KEY,
    )
    .expect("one server address");
    let client = NetcodeClient::new(
        NOW,
        ClientAuthentication::Secure {
            connect_token: token.clone(),
        },
    )
    .expect("a valid token");
    (client, token)
}

/// One exchange: the client's due packet to the server, the server's answers to the client.
/// Returns every datagram the server sent.
pub fn exchange(
    server: &mut NetcodeServer,
    client: &mut NetcodeClient,
    addr: SocketAddr,
) -> Vec<Vec<u8>> {
    if let Some((_, packet)) = client.update(STEP) {
        let mut packet = packet.to_vec();
        server.process_packet(addr, &mut packet);
    }
    server.update(STEP);
    let mut sent = Vec::new();
    server.send_packets(|to, bytes| {
        if to == addr {
            sent.push(bytes.to_vec());
        }
    });
    for datagram in &sent {
        client.process_packet(&mut datagram.clone());
    }
    while server.take_event().is_some() {}
    sent
}

/// Steps until `done`, at most 200 exchanges.
pub fn exchange_until(
    server: &mut NetcodeServer,
    client: &mut NetcodeClient,
    addr: SocketAddr,
    done: impl Fn(&NetcodeServer, &NetcodeClient) -> bool,
) {
    for _ in 0..200 {
        if done(server, client) {
            return;
        }
        exchange(server, client, addr);
    }
    panic!("the in-memory handshake did not get there");
}
