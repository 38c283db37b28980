//! Operating a real `skirmish server` process: graceful shutdown on SIGTERM, Prometheus metrics and
//! the health endpoint, keys and bad configuration. Clients are headless client Apps in the test
//! process, over 127.0.0.1.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use skirmish_client::{ClientPlugin, ConnectionStatus};
use skirmish_net::socket::LinkConditioner;

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
fn bots_mint_their_own_tokens_for_a_secure_server() {
    use std::os::unix::fs::PermissionsExt;

    let dir = std::env::temp_dir().join(format!("skirmish-bots-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("server.key");
    std::fs::write(&key_file, "11".repeat(32)).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let port = free_udp_port();
    let _server = Server(
        skirmish()
            .args(["server", "--bots", "0", "--bind", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--key-file")
            .arg(&key_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the secure server"),
    );
    let output = skirmish()
        .args(["bots", "--count", "3", "--duration", "3", "--connect"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .expect("run the bots");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "bots report: {stdout}");
    assert!(
        stdout.contains("3 of 3 bots connected"),
        "bots report: {stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends SIGTERM to `server` with `kill_command` (`{pid}` replaced), then checks what a player
/// connected with `app` sees: the shutdown reason, and the server exiting 0 within `limit`.
fn assert_graceful_shutdown(
    server: &mut Server,
    app: &mut App,
    kill_command: &str,
    limit: Duration,
) {
    let pid = server.0.id().to_string();
    let status = Command::new("sh")
        .args(["-c", &kill_command.replace("{pid}", &pid)])
        .status()
        .expect("run kill");
    assert!(status.success());
    let signalled = Instant::now();

    // The client keeps running while the server shuts down; it must hear the reason.
    update_until(
        app,
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
            signalled.elapsed() < limit,
            "the server still runs {limit:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(signalled.elapsed() < limit);
    assert_eq!(exit.code(), Some(0), "graceful shutdown exits 0");
    match app.world().resource::<ConnectionStatus>() {
        ConnectionStatus::Disconnected { reason } => {
            assert_eq!(
                reason,
                skirmish_app::server::SHUTDOWN_REASON,
                "the goodbye arrived"
            );
        }
        other => unreachable!("{other:?}"),
    }
}

#[test]
fn sigterm_tells_clients_and_exits_0_within_2_seconds() {
    let (mut server, addr) = start_server(&["--bots", "1"]);
    let mut app = join(addr);
    assert_graceful_shutdown(
        &mut server,
        &mut app,
        "kill -TERM {pid}",
        Duration::from_secs(2),
    );
}

#[test]
fn a_term_delivered_twice_at_once_still_drains_gracefully() {
    // `timeout` and some supervisors signal the process and its group within a moment: one
    // signal delivered twice is still one graceful shutdown, not "a second signal".
    let (mut server, addr) = start_server(&["--bots", "0"]);
    let mut app = join(addr);
    assert_graceful_shutdown(
        &mut server,
        &mut app,
        "kill -TERM {pid}; kill -TERM {pid}",
        Duration::from_secs(2),
    );
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
    let parsed = skirmish_net::tokens::token_from_text(&text).expect("a valid token");
    assert_eq!(parsed.server_addresses.len(), 2);
    // The client id is in the encrypted part, readable with the key only.
    let key = skirmish_net::tokens::parse_private_key(&std::fs::read_to_string(&key_file).unwrap())
        .expect("the key file holds a key");
    let private = skirmish_net::netcode::PrivateConnectToken::decrypt(
        &parsed.private_data,
        parsed.protocol_id,
        parsed.expire_timestamp,
        &parsed.nonce,
        &key,
    )
    .expect("the token was made with the server's key");
    assert_eq!(private.client_id, 7);

    // No token for an id the server keeps for its bots.
    let bot_id = skirmish_server::bots::BOT_ID_BASE + 3;
    let refused = skirmish()
        .args(["token", "--server", "127.0.0.1:5000", "--client-id"])
        .arg(bot_id.to_string())
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .expect("run token");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("reserved for the server's bots"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty());

    // The key never shows up in anything the server prints.
    let printed = secure_server_output(&key_file);
    assert!(printed.contains("secure"), "{printed}");
    assert!(!printed.contains(key_text.trim()), "the key was printed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts a secure server with `key_file`, waits until it listens, stops it with SIGTERM (it must
/// exit 0) and returns everything it printed on both streams.
fn secure_server_output(key_file: &std::path::Path) -> String {
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
        .arg(key_file)
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
    printed
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

/// A field of `/proc/<pid>/status` in its unit (kB for sizes), Linux only.
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    proc_status(pid, "VmRSS")
}

/// Starts a server process with a metrics endpoint on a free loopback port (plus `extra`
/// arguments) and waits until `/metrics` answers.
fn start_server_with_metrics(extra: &[&str]) -> (Server, SocketAddr, SocketAddr) {
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
    let mut args = vec!["--metrics-addr".to_owned(), metrics_addr.to_string()];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (server, addr) = start_server(&args);
    let start = Instant::now();
    while !matches!(get(&format!("http://{metrics_addr}/metrics")), Ok((200, _))) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the metrics endpoint never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, addr, metrics_addr)
}

/// Most the server's resident memory may grow in the endpoint attack tests.
const RSS_SLACK_KIB: u64 = 20 * 1024;

#[test]
fn metrics_endpoint_closes_an_endless_header_line() {
    use std::io::Write;

    let (server, _, metrics_addr) = start_server_with_metrics(&[]);
    let pid = server.0.id();
    let rss_before = rss_kib(pid);

    // 50 MB of one header line, never ending it, from a writer thread until the server closes.
    const ATTACK_BYTES: usize = 50 * 1024 * 1024;
    let mut stream = std::net::TcpStream::connect(metrics_addr).expect("connect");
    // A server that stops reading without closing makes the write time out instead.
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0;
        let result = stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Endless: ")
            .and_then(|()| {
                while sent < ATTACK_BYTES {
                    sent += stream.write(&chunk)?;
                }
                Ok(())
            });
        let _ = done.send((sent, result));
    });
    let (sent, result) = outcome
        .recv_timeout(Duration::from_secs(60))
        .expect("the attack writer finishes");
    let rss_after = rss_kib(pid);
    eprintln!(
        "endless header: {sent} bytes taken before {result:?}; server RSS {rss_before} KiB -> \
         {rss_after} KiB"
    );
    let err = result.expect_err("the server must close an endless header line");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ),
        "closed by the server, not stalled: {err}"
    );
    assert!(sent < ATTACK_BYTES, "the server read {sent} header bytes");
    assert!(
        rss_after < rss_before + RSS_SLACK_KIB,
        "server RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    let (status, _) = get(&format!("http://{metrics_addr}/metrics")).expect("/metrics answers");
    assert_eq!(status, 200);
}

#[test]
fn metrics_endpoint_survives_300_idle_connections_while_clients_play() {
    use std::io::Read;

    let (server, addr, metrics_addr) = start_server_with_metrics(&[]);
    let pid = server.0.id();
    let mut players = [join(addr), join(addr)];
    let rss_before = rss_kib(pid);
    let threads_before = proc_status(pid, "Threads");

    let idle: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            std::net::TcpStream::connect_timeout(&metrics_addr, Duration::from_secs(5))
                .expect("open an idle connection")
        })
        .collect();

    // Scrape from another thread while both players keep playing on this one.
    let scraper = std::thread::spawn(move || {
        let mut answers = Vec::new();
        for _ in 0..5 {
            for path in ["/metrics", "/healthz"] {
                let asked = Instant::now();
                let answer = get(&format!("http://{metrics_addr}{path}"));
                answers.push((path, answer.map(|(status, _)| status), asked.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        answers
    });
    let snapshots = |app: &App| {
        app.world()
            .resource::<skirmish_client::ClientSession>()
            .snapshots_applied
    };
    let counts_before = players.each_ref().map(snapshots);
    let mut longest_gap = [Duration::ZERO; 2];
    let mut last_seen = [(Instant::now(), 0); 2];
    let window = Instant::now();
    while !scraper.is_finished() || window.elapsed() < Duration::from_secs(3) {
        assert!(window.elapsed() < Duration::from_secs(30), "scraper hangs");
        for (index, app) in players.iter_mut().enumerate() {
            app.update();
            let count = snapshots(app);
            if count != last_seen[index].1 {
                last_seen[index] = (Instant::now(), count);
            }
            longest_gap[index] = longest_gap[index].max(last_seen[index].0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = window.elapsed();
    let answers = scraper.join().expect("scraper");
    for (path, answer, took) in &answers {
        assert_eq!(
            answer.as_ref().ok(),
            Some(&200),
            "{path}: {answer:?} after {took:?}"
        );
    }
    for (index, app) in players.iter().enumerate() {
        assert!(connected(app), "player {index} stays connected");
        let received = snapshots(app) - counts_before[index];
        // 60 per second while nothing disturbs the tick; at least half of them.
        let expected = elapsed.as_secs_f64() * 60.0 * 0.5;
        assert!(
            received as f64 >= expected,
            "player {index}: {received} snapshots in {elapsed:?}"
        );
        assert!(
            longest_gap[index] < Duration::from_secs(1),
            "player {index}: {:?} without a snapshot",
            longest_gap[index]
        );
    }
    let threads_after = proc_status(pid, "Threads");
    let rss_after = rss_kib(pid);
    eprintln!(
        "300 idle connections: server threads {threads_before} -> {threads_after}, RSS \
         {rss_before} KiB -> {rss_after} KiB; snapshot gaps {longest_gap:?}"
    );
    assert!(
        threads_after <= threads_before + 1,
        "server threads grew from {threads_before} to {threads_after}"
    );
    assert!(
        rss_after < rss_before + RSS_SLACK_KIB,
        "server RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    // The server hangs up on every idle connection within its timeout.
    let hung_up = Instant::now();
    for (index, mut stream) in idle.into_iter().enumerate() {
        let left = Duration::from_secs(10).saturating_sub(hung_up.elapsed());
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut [0; 64]) {
            Ok(0) => {}
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("idle connection {index} still open: {other:?}"),
        }
    }
}

/// Starts `skirmish server --insecure` with a metrics endpoint (plus `extra` arguments); every line
/// it prints comes through the returned receiver.
fn start_logged_server(
    extra: &[&str],
) -> (
    Server,
    SocketAddr,
    SocketAddr,
    std::sync::mpsc::Receiver<String>,
) {
    let port = free_udp_port();
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
    let mut child = skirmish()
        .args(["server", "--insecure", "--bind", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .arg("--metrics-addr")
        .arg(metrics_addr.to_string())
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let (lines, printed) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn({
        let lines = lines.clone();
        move || forward_lines(stdout, &lines)
    });
    std::thread::spawn(move || forward_lines(stderr, &lines));
    (
        Server(child),
        SocketAddr::from(([127, 0, 0, 1], port)),
        metrics_addr,
        printed,
    )
}

/// Stops `server` with SIGTERM and returns everything it printed.
fn stop_and_collect(mut server: Server, printed: &std::sync::mpsc::Receiver<String>) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    let _ = server.0.wait();
    let mut text = String::new();
    // The forwarding threads end with the process's pipes.
    while let Ok(line) = printed.recv_timeout(Duration::from_secs(5)) {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

#[test]
fn name_change_floods_are_counted_not_logged_one_by_one() {
    let (server, addr, metrics_addr, printed) = start_logged_server(&[]);
    let mut app = join(addr);
    const RENAMES: u32 = 600;
    let metrics = format!("http://{metrics_addr}/metrics");
    let start = Instant::now();
    let mut sent = 0;
    loop {
        // A few per frame, so the reliable channel never overflows.
        for _ in 0..10 {
            if sent < RENAMES {
                app.world_mut()
                    .write_message(skirmish_shared::protocol::SetName(format!("Name {sent}")));
                sent += 1;
            }
        }
        app.update();
        std::thread::sleep(Duration::from_millis(5));
        if sent == RENAMES
            && let Ok((200, text)) = get(&metrics)
            && sample(&text, "skirmish_name_changes_total") == Some(f64::from(RENAMES))
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server never counted {RENAMES} name changes"
        );
    }
    assert!(connected(&app), "renaming is allowed");
    let log = stop_and_collect(server, &printed);
    let logged = log
        .lines()
        .filter(|line| line.contains(" asks to be called "))
        .count();
    // One line per 10 s at most: the first rename, and one more if the test was slow.
    let allowed = 1 + start.elapsed().as_secs() as usize / 10;
    assert!(
        (1..=allowed).contains(&logged),
        "{logged} rename lines for {RENAMES} renames:\n{log}"
    );
}

/// Owner, group and other permission bits of `path`.
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_out_writes_an_owner_only_key_file_the_server_accepts() {
    let dir = std::env::temp_dir().join(format!("skirmish-keygen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("server.key");
    let keygen = |force: bool| {
        let mut command = skirmish();
        command.args(["keygen", "--out"]).arg(&key_file);
        if force {
            command.arg("--force");
        }
        command.output().expect("run keygen")
    };

    let made = keygen(false);
    assert!(made.status.success(), "{made:?}");
    assert_eq!(mode(&key_file), 0o600);
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    skirmish_net::tokens::parse_private_key(&key_text).expect("a valid key");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(
        !said.contains(key_text.trim()),
        "the key was printed: {said}"
    );
    assert!(made.stdout.is_empty(), "nothing on stdout: {said}");

    // The server takes it, without a warning about its mode.
    let printed = secure_server_output(&key_file);
    assert!(printed.contains("secure"), "{printed}");
    assert!(!printed.contains("chmod"), "{printed}");

    // An existing key is never replaced by accident...
    let again = keygen(false);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key_text);
    // ...and --force makes a new owner-only file even over a world-readable one.
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let forced = keygen(true);
    assert!(forced.status.success(), "{forced:?}");
    assert_eq!(mode(&key_file), 0o600);
    assert_ne!(std::fs::read_to_string(&key_file).unwrap(), key_text);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary file left"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_key_file_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;

    let dir = std::env::temp_dir().join(format!("skirmish-keymode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("server.key");
    // `skirmish keygen > server.key` in a shell with umask 022.
    let redirect = std::fs::File::create(&key_file).unwrap();
    redirect
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let key = skirmish()
        .arg("keygen")
        .stdout(redirect)
        .output()
        .expect("run keygen");
    assert!(key.status.success());
    let said = String::from_utf8_lossy(&key.stderr);
    assert!(
        said.contains("chmod 600") && said.contains("--out FILE"),
        "keygen warns about its redirect: {said}"
    );

    let printed = secure_server_output(&key_file);
    let warning = printed
        .lines()
        .find(|line| line.contains("chmod 600"))
        .unwrap_or_else(|| panic!("no warning about the key file's mode:\n{printed}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("0644"), "{warning}");
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    assert!(!printed.contains(key_text.trim()), "the key was printed");
    let _ = std::fs::remove_dir_all(&dir);
}
