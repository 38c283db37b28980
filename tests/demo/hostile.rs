//! A real `skirmish` server process under a flood of junk datagrams: it logs a handful of
//! lines, not one per datagram, and a client still joins. (The netcode's own hostile-peer tests
//! are in `crates/net/tests/netcode/hostile.rs`.)

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use bevy::prelude::*;
use skirmish_shared::prelude::*;

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

/// How many times the server rewrote the roster and renamed a player.
#[derive(Resource, Default)]
struct Rewrites {
    rosters: u32,
    names: u32,
}

fn count_rewrites(
    mut rewrites: ResMut<Rewrites>,
    rosters: Query<(), Changed<Roster>>,
    names: Query<(), Changed<PlayerName>>,
) {
    rewrites.rosters += rosters.iter().count() as u32;
    rewrites.names += names.iter().count() as u32;
}

#[test]
fn a_rename_flood_costs_everyone_a_bounded_number_of_roster_rewrites() {
    use skirmish_server::players::RENAME_COOLDOWN;
    use skirmish_server::roster::ROSTER_INTERVAL;
    use skirmish_shared::protocol::SetName;

    let mut server = server();
    server
        .app
        .init_resource::<Rewrites>()
        .add_systems(Last, count_rewrites);
    let mut flooder = client(server.addr, "Flood");
    let mut watcher = client(server.addr, "Watch");
    connect_all(&mut server, &mut [&mut flooder, &mut watcher]);
    // Let the joins settle into the roster first.
    run_for(
        &mut server,
        &mut [&mut flooder, &mut watcher],
        Duration::from_secs(1),
    );
    *server.app.world_mut().resource_mut::<Rewrites>() = Rewrites::default();

    const FLOOD: Duration = Duration::from_secs(5);
    let start = TestInstant::now();
    let mut ticks = 0u32;
    while start.elapsed() < FLOOD {
        let name = if ticks.is_multiple_of(2) { "a" } else { "b" };
        flooder.world_mut().write_message(SetName(name.into()));
        step(&mut server, &mut [&mut flooder, &mut watcher]);
        ticks += 1;
    }
    let rewrites = server.app.world().resource::<Rewrites>();
    let most_names = 2 + (FLOOD.as_millis() / RENAME_COOLDOWN.as_millis()) as u32;
    let most_rosters = 2 + (FLOOD.as_millis() / ROSTER_INTERVAL.as_millis()) as u32;
    assert!(
        (1..=most_names).contains(&rewrites.names),
        "{} renames applied for {ticks} asked in {FLOOD:?} (at most {most_names})",
        rewrites.names
    );
    assert!(
        rewrites.rosters <= most_rosters,
        "{} roster rewrites in {FLOOD:?} (at most {most_rosters})",
        rewrites.rosters
    );
    assert!(is_connected(&flooder) && is_connected(&watcher));

    // The newest name asked for still lands once the flood stops, and an unchanged name is not
    // even written.
    let last = if ticks.is_multiple_of(2) { "b" } else { "a" };
    let flooder_id = client_id(&flooder);
    run_until(
        &mut server,
        &mut [&mut flooder, &mut watcher],
        "the watcher sees the flooder's last name",
        |_, clients| {
            let mut rosters = clients[1].world_mut().query::<&Roster>();
            rosters
                .iter(clients[1].world())
                .next()
                .is_some_and(|roster| roster.name_of(flooder_id) == Some(last))
        },
    );
    run_for(
        &mut server,
        &mut [&mut flooder, &mut watcher],
        RENAME_COOLDOWN,
    );
    server.app.world_mut().resource_mut::<Rewrites>().names = 0;
    for _ in 0..10 {
        flooder.world_mut().write_message(SetName(last.into()));
        step(&mut server, &mut [&mut flooder, &mut watcher]);
    }
    run_for(
        &mut server,
        &mut [&mut flooder, &mut watcher],
        Duration::from_millis(500),
    );
    assert_eq!(
        server.app.world().resource::<Rewrites>().names,
        0,
        "renaming to the same name writes nothing"
    );
}

#[test]
fn no_two_players_show_the_same_name() {
    let mut server = server();
    let mut first = client(server.addr, "Bob");
    let mut second = client(server.addr, "Bob");
    // A variation selector would draw as "Bob" too.
    let mut third = client(server.addr, "Bob\u{FE0F}");
    connect_all(&mut server, &mut [&mut first, &mut second, &mut third]);
    let ids = [client_id(&first), client_id(&second), client_id(&third)];
    run_until(
        &mut server,
        &mut [&mut first, &mut second, &mut third],
        "three names in the roster",
        |_, clients| {
            let mut rosters = clients[0].world_mut().query::<&Roster>();
            rosters
                .iter(clients[0].world())
                .next()
                .is_some_and(|roster| roster.players == 3)
        },
    );
    let mut rosters = first.world_mut().query::<&Roster>();
    let roster = rosters.iter(first.world()).next().unwrap().clone();
    let mut names: Vec<&str> = ids.iter().filter_map(|&id| roster.name_of(id)).collect();
    names.sort_unstable();
    assert_eq!(names, ["Bob", "Bob 2", "Bob 3"]);

    // Renaming to a name someone has gets a number too.
    let taken = roster.name_of(ids[0]).unwrap().to_owned();
    third
        .world_mut()
        .write_message(skirmish_shared::protocol::SetName(taken.clone()));
    run_for(
        &mut server,
        &mut [&mut first, &mut second, &mut third],
        Duration::from_secs(1),
    );
    let mut rosters = first.world_mut().query::<&Roster>();
    let roster = rosters.iter(first.world()).next().unwrap();
    assert_eq!(roster.name_of(ids[0]), Some(taken.as_str()));
    assert_ne!(roster.name_of(ids[2]), Some(taken.as_str()));
}
