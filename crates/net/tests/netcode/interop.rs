//! Wire compatibility of our netcode layer with renetcode 2.0 (a dev-dependency only): its client
//! joins our server and our client joins its server, over real UDP on 127.0.0.1, with tokens
//! converted between its framing and the standard layout; payloads flow both ways.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use skirmish_net::netcode::{self, ConnectToken, NetcodeClient, NetcodeServer, ServerEvent};

const PROTOCOL: u64 = 0x5EED;
const KEY: [u8; 32] = [17; 32];
const STEP: Duration = Duration::from_millis(5);
const DEADLINE: Duration = Duration::from_secs(10);

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

fn socket() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// Every datagram waiting on `socket`.
fn drain(socket: &UdpSocket) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut buffer = [0u8; 1500];
    let mut datagrams = Vec::new();
    while let Ok((len, from)) = socket.recv_from(&mut buffer) {
        datagrams.push((from, buffer[..len].to_vec()));
    }
    datagrams
}

#[test]
fn renetcode_client_joins_our_server() {
    let (server_socket, server_addr) = socket();
    let (client_socket, _) = socket();
    let mut server = NetcodeServer::new(netcode::ServerConfig {
        current_time: now(),
        max_clients: 4,
        protocol_id: PROTOCOL,
        public_addresses: vec![server_addr],
        authentication: netcode::ServerAuthentication::Secure { private_key: KEY },
    });
    // Minted by us in the standard layout, handed to renetcode in its own framing.
    let ours =
        ConnectToken::generate(now(), PROTOCOL, 60, 77, 5, vec![server_addr], None, &KEY).unwrap();
    let theirs =
        renetcode::ConnectToken::read(&mut ours.to_renetcode_bytes(77).as_slice()).unwrap();
    let mut client = renetcode::NetcodeClient::new(
        now(),
        renetcode::ClientAuthentication::Secure {
            connect_token: theirs,
        },
    )
    .unwrap();

    let start = Instant::now();
    let (mut server_got, mut client_got) = (None, None);
    while (server_got.is_none() || client_got.is_none()) && start.elapsed() < DEADLINE {
        if let Some((packet, to)) = client.update(STEP) {
            client_socket.send_to(packet, to).unwrap();
        }
        if client.is_connected() {
            let (to, packet) = client.generate_payload_packet(b"from renetcode").unwrap();
            client_socket.send_to(packet, to).unwrap();
        }
        for (from, mut datagram) in drain(&server_socket) {
            if let Some((client_id, payload)) = server.process_packet(from, &mut datagram) {
                server_got = Some((client_id, payload.to_vec()));
            }
        }
        server.update(STEP);
        if server.is_client_connected(77) {
            server.send_payload(77, b"from skirmish").unwrap();
        }
        server.send_packets(|to, bytes| {
            server_socket.send_to(bytes, to).unwrap();
        });
        for (_, mut datagram) in drain(&client_socket) {
            if let Some(payload) = client.process_packet(&mut datagram) {
                client_got = Some(payload.to_vec());
            }
        }
        std::thread::sleep(STEP);
    }
    assert!(matches!(
        server.take_event(),
        Some(ServerEvent::Connected { client_id: 77, .. })
    ));
    assert_eq!(server_got, Some((77, b"from renetcode".to_vec())));
    assert_eq!(client_got, Some(b"from skirmish".to_vec()));
}

#[test]
fn our_client_joins_a_renetcode_server() {
    let (server_socket, server_addr) = socket();
    let (client_socket, _) = socket();
    let mut server = renetcode::NetcodeServer::new(renetcode::ServerConfig {
        current_time: now(),
        max_clients: 4,
        protocol_id: PROTOCOL,
        public_addresses: vec![server_addr],
        authentication: renetcode::ServerAuthentication::Secure { private_key: KEY },
    });
    // Minted by renetcode in its framing, converted to the standard layout and read back.
    let theirs = renetcode::ConnectToken::generate(
        now(),
        PROTOCOL,
        60,
        78,
        5,
        vec![server_addr],
        None,
        &KEY,
    )
    .unwrap();
    let mut framed = Vec::new();
    theirs.write(&mut framed).unwrap();
    let standard = ConnectToken::from_bytes(&framed).unwrap().to_bytes();
    assert_eq!(standard.len(), 2048);
    let token = ConnectToken::from_bytes(&standard).unwrap();
    let mut client = NetcodeClient::new(
        now(),
        netcode::ClientAuthentication::Secure {
            connect_token: token,
        },
    )
    .unwrap();

    let start = Instant::now();
    let (mut server_got, mut client_got) = (None, None);
    while (server_got.is_none() || client_got.is_none()) && start.elapsed() < DEADLINE {
        if let Some((to, packet)) = client.update(STEP) {
            client_socket.send_to(packet, to).unwrap();
        }
        if let Some((to, packet)) = client.payload_packet(b"from skirmish") {
            client_socket.send_to(packet, to).unwrap();
        }
        server.update(STEP);
        for (from, mut datagram) in drain(&server_socket) {
            match server.process_packet(from, &mut datagram) {
                renetcode::ServerResult::PacketToSend { addr, payload }
                | renetcode::ServerResult::ClientConnected { addr, payload, .. } => {
                    server_socket.send_to(payload, addr).unwrap();
                }
                renetcode::ServerResult::Payload { client_id, payload } => {
                    server_got = Some((client_id, payload.to_vec()));
                }
                _ => {}
            }
        }
        for client_id in server.clients_id() {
            if let renetcode::ServerResult::PacketToSend { addr, payload } =
                server.update_client(client_id)
            {
                server_socket.send_to(payload, addr).unwrap();
            }
            let (addr, packet) = server
                .generate_payload_packet(client_id, b"from renetcode")
                .unwrap();
            server_socket.send_to(packet, addr).unwrap();
        }
        for (_, mut datagram) in drain(&client_socket) {
            if let Some(payload) = client.process_packet(&mut datagram) {
                client_got = Some(payload.to_vec());
            }
        }
        std::thread::sleep(STEP);
    }
    assert!(client.is_connected());
    assert_eq!(server_got, Some((78, b"from skirmish".to_vec())));
    assert_eq!(client_got, Some(b"from renetcode".to_vec()));
}
