//! Writes the fuzz seed corpora (`fuzz/corpus/`): real encoded messages of every kind, so the
//! fuzzers start from valid inputs and mutate from there. `cargo run --example fuzz_seeds`
//! (`fuzz/run.sh` does it).

use std::path::Path;

use bevy::math::Vec2;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::{PROTOCOL_VERSION, encode};

fn write(dir: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(dir);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    std::fs::write(dir.join(name), bytes).expect("write a seed");
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
    println!("seeds written to fuzz/corpus/");
}
