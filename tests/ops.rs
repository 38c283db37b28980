//! Operating a real `skirmish server` process: graceful shutdown on SIGTERM, Prometheus metrics and
//! the health endpoint, keys and bad configuration. Clients are headless client Apps in the test
//! process, over 127.0.0.1.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use skirmish_client::{ClientPlugin, ConnectionStatus};
use skirmish_shared::transport::LinkConditioner;

fn skirmish() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skirmish"))
}

/// Kills the server process however the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

fn free_tcp_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts `skirmish server --insecure` on a free loopback port, with `extra` arguments.
fn start_server(extra: &[&str]) -> (Server, SocketAddr) {
    let port = free_udp_port();
    let child = skirmish()
        .args(["server", "--insecure", "--bind", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    (Server(child), SocketAddr::from(([127, 0, 0, 1], port)))
}

fn client(addr: SocketAddr) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, ClientPlugin));
    skirmish_client::connect_with(app.world_mut(), addr, "Probe", LinkConditioner::default())
        .expect("open client socket");
    app
}

/// Updates `app` until `condition` holds, or panics after `limit`.
fn update_until(
    app: &mut App,
    limit: Duration,
    what: &str,
    mut condition: impl FnMut(&App) -> bool,
) {
    let start = Instant::now();
    while !condition(app) {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn connected(app: &App) -> bool {
    *app.world().resource::<ConnectionStatus>() == ConnectionStatus::Connected
}

/// The server process may take a moment to open its socket: retry connecting until welcomed.
fn join(addr: SocketAddr) -> App {
    let start = Instant::now();
    loop {
        let mut app = client(addr);
        let attempt = Instant::now();
        while attempt.elapsed() < Duration::from_secs(3) && !connected(&app) {
            app.update();
            std::thread::sleep(Duration::from_millis(2));
        }
        if connected(&app) {
            return app;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "could not join the server at {addr}"
        );
    }
}

#[test]
fn headless_bots_play_against_a_real_server_process() {
    let (_server, addr) = start_server(&["--bots", "2"]);
    let output = skirmish()
        .args(["bots", "--count", "3", "--duration", "3"])
        .args(["--connect", &addr.to_string()])
        .output()
        .expect("run the bots");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "bots report: {stdout}");
    assert!(
        stdout.contains("3 of 3 bots connected"),
        "bots report: {stdout}"
    );
}

#[test]
fn sigterm_tells_clients_and_exits_0_within_2_seconds() {
    let (mut server, addr) = start_server(&["--bots", "1"]);
    let mut app = join(addr);

    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let signalled = Instant::now();

    // The client keeps running while the server shuts down; it must hear the reason.
    update_until(
        &mut app,
        Duration::from_secs(5),
        "the client sees the shutdown",
        |app| {
            matches!(
                app.world().resource::<ConnectionStatus>(),
                ConnectionStatus::Disconnected { .. }
            )
        },
    );
    let exit = loop {
        if let Some(exit) = server.0.try_wait().expect("wait for the server") {
            break exit;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(2),
            "the server still runs 2 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(signalled.elapsed() < Duration::from_secs(2));
    assert_eq!(exit.code(), Some(0), "graceful shutdown exits 0");
    match app.world().resource::<ConnectionStatus>() {
        ConnectionStatus::Disconnected { reason } => {
            assert_eq!(reason, skirmish_server::SHUTDOWN_REASON);
        }
        other => unreachable!("{other:?}"),
    }
}

/// GETs `url`, returning the status and body.
fn get(url: &str) -> Result<(u16, String), String> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = agent.get(url).call().map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|err| err.to_string())?;
    Ok((status, body))
}

/// The value of an unlabelled sample in Prometheus text, parsed with `prometheus-parse`.
fn sample(text: &str, name: &str) -> Option<f64> {
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("parseable Prometheus text");
    scrape
        .samples
        .iter()
        .find(|sample| sample.metric == name)
        .and_then(|sample| match sample.value {
            prometheus_parse::Value::Gauge(value)
            | prometheus_parse::Value::Counter(value)
            | prometheus_parse::Value::Untyped(value) => Some(value),
            _ => None,
        })
}

#[test]
fn metrics_follow_players_and_healthz_answers() {
    let metrics_port = free_tcp_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let (_server, addr) = start_server(&["--metrics-addr", &metrics_addr]);
    let metrics = format!("http://{metrics_addr}/metrics");
    let players = |limit: Duration, want: f64| {
        let start = Instant::now();
        loop {
            if let Ok((200, text)) = get(&metrics)
                && sample(&text, "skirmish_players") == Some(want)
            {
                return text;
            }
            assert!(
                start.elapsed() < limit,
                "skirmish_players never reached {want}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let mut app = join(addr);
    // Keep the client alive while the server reports it.
    let text = {
        let start = Instant::now();
        loop {
            app.update();
            if let Ok((200, text)) = get(&metrics)
                && sample(&text, "skirmish_players") == Some(1.0)
            {
                break text;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "player count never reached 1"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert!(
        sample(&text, "skirmish_bytes_out_total").unwrap_or(0.0) > 0.0,
        "{text}"
    );
    assert!(
        text.contains("skirmish_tick_seconds_bucket"),
        "tick histogram: {text}"
    );

    skirmish_client::disconnect(app.world_mut());
    drop(app);
    let text = players(Duration::from_secs(10), 0.0);
    assert!(text.contains("skirmish_disconnects_total"), "{text}");

    let (status, body) = get(&format!("http://{metrics_addr}/healthz")).expect("healthz answers");
    assert_eq!(status, 200, "{body}");
    let healthcheck = skirmish()
        .args([
            "healthcheck",
            "--url",
            &format!("http://{metrics_addr}/healthz"),
        ])
        .output()
        .expect("run healthcheck");
    assert!(healthcheck.status.success());
}

#[test]
fn keys_and_tokens_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("skirmish-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = skirmish().arg("keygen").output().expect("run keygen");
    assert!(key.status.success());
    let key_text = String::from_utf8(key.stdout).unwrap();
    let key_file = dir.join("server.key");
    std::fs::write(&key_file, &key_text).unwrap();

    let token = skirmish()
        .args([
            "token",
            "--server",
            "127.0.0.1:5000,127.0.0.1:5001",
            "--client-id",
            "7",
        ])
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .expect("run token");
    let stderr = String::from_utf8_lossy(&token.stderr);
    assert!(token.status.success(), "{stderr}");
    let text = String::from_utf8(token.stdout).unwrap();
    let parsed = skirmish_shared::auth::token_from_text(&text).expect("a valid token");
    assert_eq!(parsed.server_addresses.len(), 2);
    // The client id is in the encrypted part, readable with the key only.
    let key =
        skirmish_shared::auth::parse_private_key(&std::fs::read_to_string(&key_file).unwrap())
            .expect("the key file holds a key");
    let private = skirmish_shared::netcode::PrivateConnectToken::decrypt(
        &parsed.private_data,
        parsed.protocol_id,
        parsed.expire_timestamp,
        &parsed.nonce,
        &key,
    )
    .expect("the token was made with the server's key");
    assert_eq!(private.client_id, 7);

    // The key never shows up in anything the server prints.
    let port = free_udp_port();
    let mut child = skirmish()
        .args([
            "server",
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--key-file",
        ])
        .arg(&key_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a secure server");
    // Everything it prints, from both streams, line by line.
    let (lines, printed_lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let readers = [
        std::thread::spawn({
            let lines = lines.clone();
            move || forward_lines(stdout, &lines)
        }),
        std::thread::spawn(move || forward_lines(stderr, &lines)),
    ];
    // Wait until it listens (its signal handler is installed before), then stop it.
    let mut printed = String::new();
    while !printed.contains("listening on") {
        let line = printed_lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the server says it is listening");
        printed.push_str(&line);
        printed.push('\n');
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    for reader in readers {
        reader.join().unwrap();
    }
    printed.extend(printed_lines.try_iter().map(|line| line + "\n"));
    assert!(printed.contains("secure"), "{printed}");
    assert!(!printed.contains(key_text.trim()), "the key was printed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends each line `from` prints to `to`.
fn forward_lines(from: impl std::io::Read, to: &std::sync::mpsc::Sender<String>) {
    use std::io::BufRead;
    for line in std::io::BufReader::new(from).lines().map_while(Result::ok) {
        let _ = to.send(line);
    }
}

#[test]
fn bad_security_settings_exit_2_naming_the_setting() {
    let dir = std::env::temp_dir().join(format!("skirmish-badkeys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let short = dir.join("short.key");
    std::fs::write(&short, "AAECAwQFBgcICQoLDA0ODw==").unwrap(); // 16 bytes
    let missing = dir.join("missing.key");
    let cases: Vec<(Vec<String>, Vec<(&str, &str)>, &str)> = vec![
        (vec!["server".into()], vec![], "--key-file"),
        (
            vec![
                "server".into(),
                "--key-file".into(),
                missing.display().to_string(),
            ],
            vec![],
            "--key-file",
        ),
        (
            vec![
                "server".into(),
                "--key-file".into(),
                short.display().to_string(),
            ],
            vec![],
            "32 bytes, got 16",
        ),
        (
            vec!["server".into()],
            vec![("SKIRMISH_PRIVATE_KEY", "abcd")],
            "SKIRMISH_PRIVATE_KEY",
        ),
        (
            vec![
                "server".into(),
                "--insecure".into(),
                "--metrics-addr".into(),
                "nope".into(),
            ],
            vec![],
            "--metrics-addr",
        ),
        (
            vec![
                "server".into(),
                "--insecure".into(),
                "--snapshot-rate".into(),
                "0".into(),
            ],
            vec![],
            "--snapshot-rate",
        ),
    ];
    for (args, env, expected) in cases {
        let mut command = skirmish();
        command.args(&args).env_remove("SKIRMISH_PRIVATE_KEY");
        for (name, value) in &env {
            command.env(name, value);
        }
        let output = command.output().expect("run skirmish");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?} {env:?} must say {expected:?}: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
