//! The dedicated server (`server`): every setting a flag and an environment variable
//! (`<PREFIX>PORT`...), checked before anything starts (a bad one exits with code 2 and names
//! it), secure unless `--insecure`, with metrics, health, graceful shutdown and Agones.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use bevy::log::{info, warn};
use skirmish_net::tick::DEFAULT_TICK_RATE;

use super::{
    DEFAULT_PORT, Heartbeat, LogFormat, ServerSettings, ShutdownRequest, headless_server,
    serve_metrics, shut_down_on_signals,
};
use crate::Game;
use crate::cli::SimArgs;
use crate::ops::{key_env, key_file_warning, load_key};

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
pub(crate) struct ServerArgs<S: clap::Args> {
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
    /// File holding the 32-byte netcode private key (raw, hex or base64). Alternatively set the
    /// `*_PRIVATE_KEY` variable to the key in hex or base64. Make one with `keygen`.
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
    /// The game's own flags.
    #[command(flatten)]
    game: S,
}

/// `server`: runs `G`'s dedicated server until it is shut down.
pub(crate) fn run_dedicated<G: Game>(args: ServerArgs<G::ServerArgs>) -> ExitCode {
    let name = G::NAME;
    let key_env = key_env::<G>();
    let fail = |message: String| {
        eprintln!("{name} server: {message}");
        ExitCode::from(2)
    };
    let private_key = match load_key(args.key_file.as_deref(), &key_env) {
        Ok(Some(_)) if args.insecure => {
            return fail(format!("--insecure: conflicts with {key_env}"));
        }
        Ok(None) if !args.insecure => {
            return fail(format!(
                "no private key: give --key-file FILE or set {key_env} (make one with \
                 `{name} keygen`), or pass --insecure to accept clients without connect tokens"
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
        let mut agones = match super::agones::Agones::connect() {
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
        private_key,
    };
    let log_format = match args.log_format {
        LogFormatArg::Human => LogFormat::Human,
        LogFormatArg::Json => LogFormat::Json,
    };
    // Signals are handled before the socket opens: a SIGTERM from then on is always graceful.
    let shutdown = ShutdownRequest::default();
    let handler = shut_down_on_signals(&shutdown);
    let mut app = match headless_server::<G>(&settings, &args.game, log_format) {
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
        match serve_metrics(addr, heartbeat.clone(), G::NAME) {
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
        eprintln!("{name} server: --agones: {err}");
        return ExitCode::FAILURE;
    }
    #[cfg(not(feature = "agones"))]
    let _ = (heartbeat, shutdown);
    app.run();
    ExitCode::SUCCESS
}
