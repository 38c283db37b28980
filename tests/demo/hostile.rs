//! A real `skirmish` server process under a flood of junk datagrams: it logs a handful of
//! lines, not one per datagram, and a client still joins. (The netcode's own hostile-peer tests
//! are in `crates/net/tests/netcode/hostile.rs`.)

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use bevy::prelude::*;

/// How long the real server process may take to start or admit a client, in real time.
const PROCESS_DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn ten_thousand_junk_datagrams_log_a_handful_of_lines() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_skirmish"))
        .args([
            "server",
            "--insecure",
            "--bots",
            "0",
            "--bind",
            "127.0.0.1",
            "--port",
        ])
        .arg(port.to_string())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let server_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut log = Vec::new();
    let deadline = Instant::now() + PROCESS_DEADLINE;
    while !log
        .iter()
        .any(|line: &String| line.contains("listening on"))
    {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(50)) {
            log.push(line);
        }
        assert!(Instant::now() < deadline, "the server starts: {log:?}");
    }

    let attacker = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut rng = fastrand::Rng::with_seed(10);
    for i in 0..10_000u32 {
        let len = 18 + (i as usize % 60);
        let mut junk: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        junk[0] = [0x95, 0x14, 0x15, 0x16, 0x00, 0x33][i as usize % 6];
        let _ = attacker.send_to(&junk, server_addr);
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // A real client joining afterwards proves the server has read past the junk.
    let mut player = App::new();
    player.add_plugins((MinimalPlugins, skirmish_client::ClientPlugin));
    skirmish_client::connect_with(player.world_mut(), server_addr, "P", default()).unwrap();
    let deadline = Instant::now() + PROCESS_DEADLINE;
    while !is_connected(&player) {
        player.update();
        std::thread::sleep(Duration::from_millis(1));
        assert!(Instant::now() < deadline, "a client joins after the junk");
    }
    let _ = child.kill();
    let _ = child.wait();
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
        log.push(line);
    }
    assert!(
        log.len() <= 12,
        "{} log lines for 10,000 junk datagrams:\n{}",
        log.len(),
        log.join("\n")
    );
}
