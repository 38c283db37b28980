//! The minimal game end to end on `skirmish_net::testing`: its server and two clients on the
//! in-memory network, stepped on the test clock. Each client flies its own ship (predicted), sees
//! the other's (interpolated), and hears of pickups.

use std::time::Duration;

use bevy::prelude::*;
use minimal_game::client::{GemsClientPlugin, PickupLog, set_helm};
use minimal_game::server::GemsServerPlugin;
use minimal_game::shared::{Gem, Helm, Pilot, Ship};
use skirmish_net::client::{Interpolated, NetStats, Predicted};
use skirmish_net::testing::{TestNet, Wire};

/// Steps allowed for any one thing to happen: ten seconds of the test clock at 30 Hz.
const WITHIN: u32 = 300;

/// Where client `index` shows `pilot`'s ship: predicted for its own, interpolated for others.
fn ship_seen(net: &mut TestNet, index: usize, pilot: u64) -> Option<(Vec2, bool)> {
    let world = net.client_mut(index).world_mut();
    let mut query = world.query::<(
        &Pilot,
        Option<&Predicted<Ship>>,
        Option<&Interpolated<Ship>>,
    )>();
    query.iter(world).find(|(p, _, _)| p.0 == pilot).and_then(
        |(_, predicted, interpolated)| match (predicted, interpolated) {
            (Some(predicted), _) => Some((predicted.value.at, true)),
            (None, Some(interpolated)) => Some((interpolated.shown().at, false)),
            _ => None,
        },
    )
}

#[test]
fn two_pilots_fly_see_each_other_and_hear_of_pickups() {
    let mut server = App::new();
    server.add_plugins((MinimalPlugins, GemsServerPlugin::default()));
    let mut net = TestNet::new(Wire::Memory, 7, server).expect("server listens");
    for name in ["a", "b"] {
        let mut client = App::new();
        client.add_plugins((MinimalPlugins, GemsClientPlugin));
        net.add_client(client, name).expect("client connects");
    }
    net.connect_all();
    let (id_a, id_b) = (net.client_id(0), net.client_id(1));

    // Each sees both ships: its own predicted, the other's interpolated.
    net.run_until("ships appear", WITHIN, |net| {
        matches!(ship_seen(net, 0, id_a), Some((_, true)))
            && matches!(ship_seen(net, 0, id_b), Some((_, false)))
            && matches!(ship_seen(net, 1, id_b), Some((_, true)))
            && matches!(ship_seen(net, 1, id_a), Some((_, false)))
    });

    // Gems are scattered and replicated.
    net.run_until("gems arrive", WITHIN, |net| {
        let world = net.client_mut(0).world_mut();
        let mut gems = world.query::<&Gem>();
        gems.iter(world).count() == minimal_game::server::GEMS
    });

    // A flies: its own view moves at once, B sees it move, the server agrees.
    let start = ship_seen(&mut net, 0, id_a).unwrap().0;
    set_helm(
        net.client_mut(0),
        Helm {
            turn: 0.3,
            thrust: true,
        },
    );
    net.run_until("b sees a fly", WITHIN, |net| {
        ship_seen(net, 1, id_a).is_some_and(|(at, _)| at.distance(start) > 50.0)
    });
    assert!(ship_seen(&mut net, 0, id_a).unwrap().0.distance(start) > 50.0);

    // Steer A straight at a gem: both clients hear of the pickup.
    let heard = |net: &TestNet, index: usize| {
        net.client(index)
            .world()
            .resource::<PickupLog>()
            .0
            .iter()
            .any(|pickup| pickup.pilot == id_a && pickup.haul >= 1)
    };
    let max_steps = net.steps_in(Duration::from_secs(20));
    net.run_until("a gem is collected and both hear of it", max_steps, |net| {
        let own = ship_seen(net, 0, id_a).unwrap().0;
        let world = net.client_mut(0).world_mut();
        let heading = {
            let mut ships = world.query::<(&Pilot, &Predicted<Ship>)>();
            ships
                .iter(world)
                .find(|(p, _)| p.0 == id_a)
                .unwrap()
                .1
                .value
                .heading
        };
        let nearest = {
            let mut gems = world.query::<&Gem>();
            gems.iter(world)
                .map(Gem::at)
                .min_by(|x, y| x.distance(own).total_cmp(&y.distance(own)))
        };
        if let Some(gem) = nearest {
            let wanted = (gem - own).to_angle();
            let turn = (wanted - heading + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU)
                - std::f32::consts::PI;
            set_helm(
                net.client_mut(0),
                Helm {
                    turn: (turn * 4.0).clamp(-1.0, 1.0),
                    thrust: turn.abs() < 0.5,
                },
            );
        }
        heard(net, 0) && heard(net, 1)
    });
    // On a clean link, with every input on time, no correction is larger than the wire's
    // rounding.
    let stats = net.client(0).world().resource::<NetStats>();
    assert!(
        stats.max_correction < 1.0,
        "own ship corrected by {} units",
        stats.max_correction
    );
}

/// The `gems` binary is the app shell's launcher for Gems: a key from `gems keygen`, a secure
/// `gems server` that refuses to start without one (naming Gems' own variable), headless
/// `gems bots` that mint their tokens, and a token from `gems token` that a client joins with.
#[cfg(unix)]
#[test]
fn the_shell_runs_a_secure_gems_server_its_bots_and_its_tokens() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    use minimal_game::Gems;
    use skirmish_net::client::{ConnectionStatus, connect_with_token};
    use skirmish_net::tokens::token_from_text;

    struct Server(Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let gems = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gems"));
        command
            .env_remove("GEMS_PRIVATE_KEY")
            .env_remove("GEMS_KEY_FILE");
        command
    };

    let dir = std::env::temp_dir().join(format!("gems-shell-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("server.key");
    let keygen = gems()
        .arg("keygen")
        .arg("--out")
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{keygen:?}");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only its owner reads the key");

    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server_args = ["server", "--bind", "127.0.0.1", "--port", &port.to_string()];
    let refused = gems().args(server_args).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("GEMS_PRIVATE_KEY"), "{stderr}");

    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let _server = Server(
        gems()
            .args(server_args)
            .args(["--metrics-addr", &metrics_addr])
            .arg("--key-file")
            .arg(&key_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{port}");
    let bots = gems()
        .args([
            "bots",
            "--count",
            "2",
            "--duration",
            "2",
            "--connect",
            &addr,
        ])
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&bots.stdout);
    assert!(bots.status.success(), "bots report: {report}");
    assert!(report.contains("2 of 2 bots connected"), "{report}");

    // Its metrics carry Gems' own prefix.
    let metrics = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&metrics_addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut body = String::new();
        let _ = stream.read_to_string(&mut body);
        body
    };
    assert!(metrics.contains("gems_snapshots_total"), "{metrics}");
    assert!(!metrics.contains("skirmish_"), "{metrics}");

    let token = gems()
        .args([
            "token",
            "--server",
            &addr,
            "--client-id",
            "77",
            "--key-file",
        ])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(token.status.success(), "{token:?}");
    let token = token_from_text(String::from_utf8_lossy(&token.stdout).trim()).unwrap();
    let mut client = skirmish_app::bots::headless_client::<Gems>();
    connect_with_token(client.world_mut(), token, "tokened", Default::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(
        client.world().resource::<ConnectionStatus>(),
        ConnectionStatus::Connected | ConnectionStatus::Disconnected { .. }
    ) && Instant::now() < deadline
    {
        client.update();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        *client.world().resource::<ConnectionStatus>(),
        ConnectionStatus::Connected,
        "a client joins Gems with the token `gems token` minted"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
