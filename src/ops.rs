//! Operating a dedicated server: `skirmish server`, `token`, `keygen` and `healthcheck`.
//!
//! Every server setting is a flag and a `SKIRMISH_*` environment variable. Settings are checked
//! before anything starts: a bad one exits with code 2 and names the setting.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use bevy::log::{info, warn};
use skirmish_net::tokens::{self, PrivateKey, TokenRequest};
use skirmish_server::{DEFAULT_PORT, Heartbeat, LogFormat, ServerSettings, ShutdownRequest};
use skirmish_shared::arena::Arena;
use skirmish_shared::simulation::DEFAULT_TICK_RATE;

use crate::SimArgs;

/// Log output format.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormatArg {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

#[derive(clap::Args, Debug)]
#[allow(clippy::doc_markdown, reason = "clap help text, shown as written")]
pub(crate) struct ServerArgs {
    /// IP address to bind (0.0.0.0 in a container).
    #[arg(long, env = "SKIRMISH_BIND", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
    /// UDP port to listen on.
    #[arg(long, env = "SKIRMISH_PORT", default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address clients dial to reach this server, when it differs from the bound one (NAT, a
    /// container): comma-separated or repeated. Connect tokens must name one of them. Defaults to
    /// the bound address, or 127.0.0.1 when binding 0.0.0.0.
    #[arg(
        long = "public-addr",
        env = "SKIRMISH_PUBLIC_ADDR",
        value_delimiter = ','
    )]
    public_addr: Vec<SocketAddr>,
    /// Most players connected at once.
    #[arg(long, env = "SKIRMISH_MAX_CLIENTS", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    max_clients: u16,
    /// Simulation ticks per second.
    #[arg(long, env = "SKIRMISH_TICK_RATE", default_value_t = DEFAULT_TICK_RATE, value_parser = clap::value_parser!(u16).range(1..=240))]
    tick_rate: u16,
    /// Snapshots per second to each client, at most the tick rate [default: the tick rate].
    #[arg(long, env = "SKIRMISH_SNAPSHOT_RATE", value_parser = clap::value_parser!(u16).range(1..=240))]
    snapshot_rate: Option<u16>,
    /// Server-side bots.
    #[arg(long, env = "SKIRMISH_BOTS", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=64))]
    bots: u16,
    /// How well the server-side bots play.
    #[arg(long, env = "SKIRMISH_BOT_SKILL", value_enum, default_value_t = crate::BotSkillArg::Normal)]
    bot_skill: crate::BotSkillArg,
    /// Arena side in 2000-unit tiles, 1-8; larger arenas send each player only what is near it.
    #[arg(long, env = "SKIRMISH_ARENA", value_name = "TILES", default_value_t = 1, value_parser = crate::arena_tiles())]
    arena: u8,
    /// File holding the 32-byte netcode private key (raw, hex or base64). Alternatively set
    /// SKIRMISH_PRIVATE_KEY to the key in hex or base64. Make one with `skirmish keygen`.
    #[arg(long, env = "SKIRMISH_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Accept clients without connect tokens (a LAN or a test server). Logged as a warning.
    #[arg(long, env = "SKIRMISH_INSECURE", conflicts_with = "key_file")]
    insecure: bool,
    /// Log format.
    #[arg(long, env = "SKIRMISH_LOG_FORMAT", value_enum, default_value_t = LogFormatArg::Human)]
    log_format: LogFormatArg,
    /// Serve Prometheus metrics at /metrics and a health check at /healthz on this TCP address
    /// (for example 0.0.0.0:9100) [default: off].
    #[arg(long, env = "SKIRMISH_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Report Ready, health and Shutdown to the Agones SDK sidecar (a build with the `agones`
    /// feature, in an Agones GameServer pod).
    #[arg(long, env = "SKIRMISH_AGONES")]
    agones: bool,
    #[command(flatten)]
    sim: SimArgs,
}

/// Where the key comes from, for messages (never the key itself).
const KEY_ENV: &str = "SKIRMISH_PRIVATE_KEY";

/// Reads the private key from `key_file`, or else from `SKIRMISH_PRIVATE_KEY`. `Ok(None)` when
/// neither is given. Errors name the setting and never contain the key.
pub(crate) fn load_key(key_file: Option<&PathBuf>) -> Result<Option<PrivateKey>, String> {
    if let Some(path) = key_file {
        let bytes = std::fs::read(path)
            .map_err(|err| format!("--key-file {}: cannot read it: {err}", path.display()))?;
        // Text (hex or base64, as `skirmish keygen` writes), or else 32 raw bytes. Text first, so a
        // short text key is reported as short rather than taken as raw bytes.
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|_| "not hex or base64 text".to_owned())
            .and_then(tokens::parse_private_key);
        return match (parsed, PrivateKey::try_from(bytes.as_slice())) {
            (Ok(key), _) | (Err(_), Ok(key)) => Ok(Some(key)),
            (Err(err), Err(_)) => Err(format!("--key-file {}: {err}", path.display())),
        };
    }
    match std::env::var(KEY_ENV) {
        Ok(text) => tokens::parse_private_key(&text)
            .map(Some)
            .map_err(|err| format!("{KEY_ENV}: {err}")),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{KEY_ENV}: not valid text")),
    }
}

pub(crate) fn run_server(args: ServerArgs) -> ExitCode {
    let fail = |message: String| {
        eprintln!("skirmish server: {message}");
        ExitCode::from(2)
    };
    let private_key = match load_key(args.key_file.as_ref()) {
        Ok(Some(_)) if args.insecure => {
            return fail(format!("--insecure: conflicts with {KEY_ENV}"));
        }
        Ok(None) if !args.insecure => {
            return fail(format!(
                "no private key: give --key-file FILE or set {KEY_ENV} (make one with \
                 `skirmish keygen`), or pass --insecure to accept clients without connect tokens"
            ));
        }
        Ok(key) => key,
        Err(err) => return fail(err),
    };
    #[cfg_attr(
        not(feature = "agones"),
        expect(unused_mut, reason = "only Agones adds an address")
    )]
    let mut public_addresses = args.public_addr;
    #[cfg(feature = "agones")]
    let agones = if args.agones {
        // Under Agones the address clients dial is known only to Agones: ask it first.
        let mut agones = match skirmish_server::agones::Agones::connect() {
            Ok(agones) => agones,
            Err(err) => return fail(format!("--agones: {err}")),
        };
        match agones.public_address() {
            Ok(addr) if public_addresses.is_empty() => public_addresses.push(addr),
            Ok(_) => {}
            Err(err) => return fail(format!("--agones: {err}")),
        }
        Some(agones)
    } else {
        None
    };
    #[cfg(not(feature = "agones"))]
    if args.agones {
        return fail(
            "--agones: this build has no Agones support (build with --features agones)".into(),
        );
    }
    let settings = ServerSettings {
        bind: SocketAddr::new(args.bind, args.port),
        public_addresses,
        max_clients: usize::from(args.max_clients),
        tick_rate: args.tick_rate,
        snapshot_rate: args.snapshot_rate,
        conditioner: args.sim.conditioner(),
        bots: usize::from(args.bots),
        bot_skill: args.bot_skill.into(),
        arena: Arena::new(args.arena),
        private_key,
    };
    let log_format = match args.log_format {
        LogFormatArg::Human => LogFormat::Human,
        LogFormatArg::Json => LogFormat::Json,
    };
    // Signals are handled before the socket opens: a SIGTERM from then on is always graceful.
    let shutdown = ShutdownRequest::default();
    let handler = skirmish_server::shutdown::shut_down_on_signals(&shutdown);
    let mut app = match skirmish_server::headless_app(&settings, log_format) {
        Ok(app) => app,
        Err(err) => return fail(err.to_string()),
    };
    app.insert_resource(shutdown.clone());
    if let Err(err) = handler {
        warn!("cannot handle SIGINT/SIGTERM ({err}); the server will stop abruptly");
    }
    if settings.private_key.is_none() {
        warn!("--insecure: any client can join without a connect token");
    }
    if let Some(warning) = args.key_file.as_deref().and_then(key_file_warning) {
        warn!("{warning}");
    }
    let heartbeat = app.world().resource::<Heartbeat>().clone();
    if let Some(addr) = args.metrics_addr {
        match skirmish_server::serve_metrics(addr, heartbeat.clone()) {
            Ok(bound) => {
                info!("metrics on http://{bound}/metrics, health on http://{bound}/healthz");
            }
            Err(err) => return fail(format!("--metrics-addr: {err}")),
        }
    }
    #[cfg(feature = "agones")]
    if let Some(agones) = agones
        && let Err(err) = agones.report(heartbeat, shutdown)
    {
        eprintln!("skirmish server: --agones: {err}");
        return ExitCode::FAILURE;
    }
    #[cfg(not(feature = "agones"))]
    let _ = (heartbeat, shutdown);
    app.run();
    ExitCode::SUCCESS
}

#[derive(clap::Args, Debug)]
#[allow(clippy::doc_markdown, reason = "clap help text, shown as written")]
pub(crate) struct TokenArgs {
    /// The server's private key file (or set SKIRMISH_PRIVATE_KEY).
    #[arg(long, env = "SKIRMISH_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Server address(es) the token is valid for, comma-separated: the server's public address.
    #[arg(long, required = true, value_delimiter = ',')]
    server: Vec<SocketAddr>,
    /// The client's id on the server: unique among its connected clients, and not one of the
    /// bots' (0xB070000000000000 to 0xB07000000000003F).
    #[arg(long)]
    client_id: u64,
    /// Seconds the token may be used to start connecting.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400 * 30))]
    expires: u64,
    /// Seconds without an answer before the client gives up.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    timeout: u64,
}

pub(crate) fn token(args: &TokenArgs) -> ExitCode {
    if skirmish_server::bots::is_bot_id(args.client_id) {
        eprintln!(
            "skirmish token: --client-id {}: reserved for the server's bots ({:#x}..{:#x}); the \
             server refuses it",
            args.client_id,
            skirmish_server::bots::BOT_IDS.start,
            skirmish_server::bots::BOT_IDS.end
        );
        return ExitCode::from(2);
    }
    if let Some(warning) = args.key_file.as_deref().and_then(key_file_warning) {
        eprintln!("skirmish token: warning: {warning}");
    }
    let key = match load_key(args.key_file.as_ref()) {
        Ok(Some(key)) => key,
        Ok(None) => {
            eprintln!("skirmish token: no private key: give --key-file FILE or set {KEY_ENV}");
            return ExitCode::from(2);
        }
        Err(err) => {
            eprintln!("skirmish token: {err}");
            return ExitCode::from(2);
        }
    };
    let request = TokenRequest {
        protocol_id: skirmish_shared::protocol::PROTOCOL_ID,
        client_id: args.client_id,
        server_addresses: args.server.clone(),
        expires_in: Duration::from_secs(args.expires),
        timeout: Duration::from_secs(args.timeout),
    };
    match tokens::mint_token(&key, &request) {
        Ok(token) => {
            println!("{}", tokens::token_to_text(&token));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("skirmish token: {err}");
            ExitCode::from(2)
        }
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct KeygenArgs {
    /// Write the key to this file, created readable by you only (mode 0600), instead of printing
    /// it. Refuses to replace an existing file without --force.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace FILE if it exists (atomically, by a new 0600 file).
    #[arg(long, requires = "out")]
    force: bool,
}

pub(crate) fn keygen(args: &KeygenArgs) -> ExitCode {
    let key = tokens::generate_private_key();
    let Some(path) = &args.out else {
        if let Some(mode) = stdout_file_mode().filter(|mode| mode & 0o077 != 0) {
            eprintln!(
                "skirmish keygen: warning: the key goes to a file other users can access (mode \
                 {mode:04o}): run `chmod 600` on it, or use `skirmish keygen --out FILE`"
            );
        }
        println!("{key}");
        return ExitCode::SUCCESS;
    };
    match write_private_file(path, format!("{key}\n").as_bytes(), args.force) {
        Ok(()) => {
            eprintln!(
                "skirmish keygen: wrote a new private key to {} (mode 0600)",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "skirmish keygen: --out {}: already exists (pass --force to replace it)",
                path.display()
            );
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("skirmish keygen: --out {}: {err}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// The permission bits of the regular file standard output goes to (a shell redirect), if it
/// goes to one.
fn stdout_file_mode() -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::PermissionsExt;
        let stdout = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
        let metadata = std::fs::File::from(stdout).metadata().ok()?;
        metadata
            .is_file()
            .then(|| metadata.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    None
}

/// Writes `contents` to a new file at `path` that only its owner can read or write (mode 0600 on
/// Unix). Fails if `path` exists, unless `replace`: then the contents go to a new 0600 file beside
/// it that is renamed over `path` (never writing through an existing file, its mode or a
/// symlink).
fn write_private_file(path: &Path, contents: &[u8], replace: bool) -> std::io::Result<()> {
    let create = |path: &Path| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        file.write_all(contents)?;
        file.sync_all()
    };
    if !replace {
        return create(path);
    }
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let mut temporary = std::ffi::OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary);
    let written = create(&temporary).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// A warning when other users may read or change the key file at `path` (Unix permissions).
fn key_file_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Some(format!(
                "--key-file {}: other users can access the private key (mode {mode:04o}); run \
                 `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

#[derive(clap::Args, Debug)]
pub(crate) struct HealthcheckArgs {
    /// The health endpoint to ask.
    #[arg(long, default_value = "http://127.0.0.1:9100/healthz")]
    url: String,
}

pub(crate) fn healthcheck(args: &HealthcheckArgs) -> ExitCode {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    match agent.get(&args.url).call() {
        Ok(response) if response.status() == 200 => ExitCode::SUCCESS,
        Ok(mut response) => {
            let body = response.body_mut().read_to_string().unwrap_or_default();
            eprintln!("unhealthy ({}): {}", response.status(), body.trim());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("no answer from {}: {err}", args.url);
            ExitCode::FAILURE
        }
    }
}
