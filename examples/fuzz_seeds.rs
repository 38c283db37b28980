//! Writes the fuzz seed corpora (`fuzz/corpus/`): real encoded messages of every kind and real
//! renet packets, so the fuzzers start from valid inputs and mutate from there. `cargo run --example fuzz_seeds`
//! (`fuzz/run.sh` does it).

use std::path::Path;
use std::time::Duration;

use bevy::math::Vec2;
use bevy_renet::renet::{RenetClient, RenetServer};
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::{PROTOCOL_VERSION, connection_config, encode};
use skirmish_shared::renet_guard::{RenetLimits, check_renet_packet};

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
    let frame = |tick| InputFrame {
        tick,
        movement: Vec2::new(0.6, -0.8),
        aim: Vec2::Y,
        fire: tick % 2 == 0,
    };
    let client = [
        ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            name: "Ferris".into(),
        },
        ClientMessage::Input {
            ack: Some(40),
            frames: (33..41).map(frame).collect(),
        },
        ClientMessage::Input {
            ack: None,
            frames: vec![],
        },
        ClientMessage::SetName("Crab".into()),
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
        ServerMessage::Kill {
            killer: 1,
            victim: 2,
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
    for (index, snapshot) in skirmish_server::bench::sample_snapshots(12, 40)
        .iter()
        .enumerate()
        .step_by(3)
    {
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
    println!("seeds written to fuzz/corpus/");
}
