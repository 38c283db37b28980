//! Writes the fuzz seed corpora (`fuzz/corpus/`): real encoded messages of every kind and real
//! renet packets, so the fuzzers start from valid inputs and mutate from there. `cargo run --example fuzz_seeds`
//! (`fuzz/run.sh` does it).

use std::path::Path;
use std::time::Duration;

use bevy::math::Vec2;
use bevy_renet::renet::{RenetClient, RenetServer};
use skirmish_net::netcode::{
    ClientAuthentication, ConnectToken, NetcodeClient, NetcodeServer, ServerAuthentication,
    ServerConfig,
};
use skirmish_net::renet_guard::{RenetLimits, check_renet_packet};
use skirmish_shared::game::Killed;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::{PROTOCOL_VERSION, SetName, connection_config, encode};

fn write(dir: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(dir);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    std::fs::write(dir.join(name), bytes).expect("write a seed");
}

/// The renet packets of a short session, `(client to server, server to client)`: one batched,
/// one oversized-for-a-batch and one sliced message on every channel, with the acks.
fn renet_session() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut server = RenetServer::new(connection_config());
    server.add_connection(1);
    let mut client = RenetClient::new(connection_config());
    client.set_connected();
    for len in [1199, 40, 5000] {
        let message = vec![len as u8; len];
        server.send_message(1, ServerChannel::Reliable, message.clone());
        server.send_message(1, ServerChannel::Snapshot, message.clone());
        client.send_message(ClientChannel::Input, message.clone());
        client.send_message(ClientChannel::Command, message);
    }
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        server.update(Duration::from_millis(250));
        client.update(Duration::from_millis(250));
        for packet in server
            .get_packets_to_send(1)
            .expect("the client is connected")
        {
            client.process_packet(&packet);
            to_client.push(packet);
        }
        for packet in client.get_packets_to_send() {
            server
                .process_packet_from(&packet, 1)
                .expect("the client is connected");
            to_server.push(packet);
        }
    }
    (to_server, to_client)
}

fn main() {
    let frame = |tick: u32| InputFrame {
        movement: Vec2::new(0.6, -0.8),
        aim: Vec2::Y,
        fire: tick.is_multiple_of(2),
    };
    let client = [
        ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            name: "Ferris".into(),
        },
        ClientMessage::Input {
            ack: Some(40),
            first_tick: 33,
            frames: (33..41).map(frame).collect(),
            view_behind: Some(3 * 16 + 5),
        },
        ClientMessage::Input {
            ack: None,
            first_tick: 0,
            frames: vec![],
            view_behind: None,
        },
        ClientMessage::Message {
            kind: 0,
            bytes: encode(&SetName("Crab".into())),
        },
    ];
    for (index, message) in client.iter().enumerate() {
        write("client_message", &format!("seed-{index}"), &encode(message));
    }

    // Server messages, prefixed with the channel byte the target reads (1 reliable, 0 snapshot).
    let reliable = [
        ServerMessage::Welcome {
            client_id: 7,
            tick_rate: 60,
            registry_fingerprint: 0,
        },
        ServerMessage::Message {
            kind: 0,
            bytes: encode(&Killed {
                killer: 1,
                victim: 2,
            }),
        },
        ServerMessage::Goodbye {
            reason: "server shutting down".into(),
        },
    ];
    for (index, message) in reliable.iter().enumerate() {
        let mut bytes = vec![1];
        bytes.extend(encode(message));
        write("server_message", &format!("reliable-{index}"), &bytes);
    }
    for (index, snapshot) in sample_snapshots(12, 40).iter().enumerate().step_by(3) {
        let mut bytes = vec![0];
        bytes.extend(snapshot);
        write("server_message", &format!("snapshot-{index}"), &bytes);
    }

    // renet packets: a side byte (0 to the server, 1 to a client), then u16-LE-length records.
    let (to_server, to_client) = renet_session();
    for (side, packets, limits) in [
        (0, to_server, RenetLimits::server()),
        (1, to_client, RenetLimits::client()),
    ] {
        let mut all = vec![side];
        for (index, packet) in packets.iter().enumerate() {
            check_renet_packet(packet, &limits).expect("real packets pass the guard");
            let mut record = (packet.len() as u16).to_le_bytes().to_vec();
            record.extend(packet);
            all.extend(&record);
            write(
                "renet_packet",
                &format!("side{side}-{index}"),
                &[&[side], &record[..]].concat(),
            );
        }
        write("renet_packet", &format!("side{side}-all"), &all);
    }

    netcode_seeds();
    println!("seeds written to fuzz/corpus/");
}

/// Real netcode traffic, captured from an in-memory handshake and a few payloads each way:
/// every datagram becomes a seed of the target that reads it (prefixed with the selector byte
/// the target reads: 0 a stranger, 1 the connected client, 2 a pending one; for the client
/// target 0 requesting, 1 responding, 2 connected).
fn netcode_seeds() {
    use std::net::SocketAddr;
    use std::time::Duration;

    let key = [0x42; 32];
    let now = Duration::from_secs(1_800_000_000);
    let server_addr = SocketAddr::from(([10, 0, 0, 1], 5000));
    let client_addr = SocketAddr::from(([10, 0, 1, 1], 6000));
    let mut server = NetcodeServer::new(ServerConfig {
        current_time: now,
        max_clients: 4,
        protocol_id: 0x4655_5A5A,
        public_addresses: vec![server_addr],
        authentication: ServerAuthentication::Secure { private_key: key },
    });
    let token = ConnectToken::generate(now, 0x4655_5A5A, 600, 1, 30, vec![server_addr], None, &key)
        .expect("one address");
    write("netcode_tokens", "standard", &token.to_bytes());
    write("netcode_tokens", "renetcode", &token.to_renetcode_bytes(1));
    let mut challenge = vec![0u8; 300];
    challenge[..8].copy_from_slice(&1u64.to_le_bytes());
    write("netcode_tokens", "challenge", &challenge);

    let mut client = NetcodeClient::new(
        now,
        ClientAuthentication::Secure {
            connect_token: token,
        },
    )
    .expect("a valid token");
    let (mut to_server, mut to_client) = (Vec::<Vec<u8>>::new(), Vec::new());
    let mut delivered = 0;
    for step in 0..40 {
        if let Some((_, packet)) = client.update(Duration::from_millis(50)) {
            to_server.push(packet.to_vec());
        }
        if step > 10 {
            if let Some((_, packet)) = client.payload_packet(&[step as u8; 40]) {
                to_server.push(packet.to_vec());
            }
            let _ = server.send_payload(1, &vec![step as u8; 200 + step]);
        }
        for datagram in &to_server[delivered..] {
            server.process_packet(client_addr, &mut datagram.clone());
        }
        delivered = to_server.len();
        server.update(Duration::from_millis(50));
        let mut sent = Vec::new();
        server.send_packets(|_, bytes| sent.push(bytes.to_vec()));
        for datagram in &sent {
            client.process_packet(&mut datagram.clone());
        }
        to_client.extend(sent);
    }
    for (index, datagram) in to_server.iter().enumerate().step_by(2) {
        for selector in 0..3u8 {
            let mut bytes = vec![selector];
            bytes.extend(datagram);
            write(
                "netcode_server_packet",
                &format!("c2s-{index}-{selector}"),
                &bytes,
            );
        }
    }
    for (index, datagram) in to_client.iter().enumerate().step_by(2) {
        for selector in 0..3u8 {
            let mut bytes = vec![selector];
            bytes.extend(datagram);
            write(
                "netcode_client_packet",
                &format!("s2c-{index}-{selector}"),
                &bytes,
            );
        }
    }
}

/// Real snapshot messages for one client watching `entities` moving bodies over `ticks` ticks,
/// acknowledging each one: the first absolute, then deltas. Built with the server's own
/// replication path, without sockets.
fn sample_snapshots(entities: usize, ticks: u32) -> Vec<Vec<u8>> {
    use bevy::prelude::*;
    use skirmish_net::internals::{SnapshotCache, collect_into};
    use skirmish_net::protocol::Snapshot;
    use skirmish_net::server::{ClientReplication, ReplicationState};

    let mut app = App::new();
    app.add_plugins(skirmish_shared::SharedPlugin);
    let world = app.world_mut();
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..entities {
        let position = Vec2::new(rng.f32(), rng.f32()) * 1000.0;
        world.spawn((Replicated, Position(position), Velocity(Vec2::X * 90.0)));
    }
    let (mut state, mut cache) = (ReplicationState::default(), SnapshotCache::default());
    let mut client = ClientReplication::default();
    let mut messages = Vec::new();
    for tick in 0..ticks {
        world.increment_change_tick();
        let mut moving = world.query::<(&mut Position, &mut Rotation)>();
        for (mut position, mut rotation) in moving.iter_mut(world) {
            position.x += 1.5;
            rotation.0 += 0.01;
        }
        world.increment_change_tick();
        collect_into(&mut state, world, tick);
        if tick > 0 {
            client.acknowledge(tick - 1);
        }
        let payload = client.build_payload(&state, &mut cache, tick);
        messages.push(encode(&ServerMessage::Snapshot(Snapshot {
            tick,
            last_input: Some(tick),
            payload,
            clock: 0,
            buffer: 4,
            total: None,
        })));
    }
    messages
}
