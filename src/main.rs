//! The `skirmish` launcher.
//!
//! - `skirmish` (or `skirmish play`): host a local server on its own thread and open the game
//!   window connected to it over loopback UDP.
//! - `skirmish server`: run a headless dedicated server (secure by default; see `ops`).
//! - `skirmish client --connect ADDR | --token TOKEN`: open the game window and join a server.
//! - `skirmish token`, `keygen`, `healthcheck`: operating a dedicated server.
//! - `skirmish bench`, `bots`: measuring.

mod ops;
mod window;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use skirmish_bench::{feel, scale};
use skirmish_net::socket::LinkConditioner;

use ops::{HealthcheckArgs, KeygenArgs, ServerArgs, TokenArgs};

#[derive(Parser, Debug)]
#[command(
    name = "skirmish",
    version,
    about = "Skirmish: a multiplayer arena on Bevy and renet"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand: host a game (same flags as `play`).
    #[command(flatten)]
    play: PlayArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Host a game: a local server plus the game window (the default).
    Play(PlayArgs),
    /// Run a headless dedicated server (no window, GPU or audio).
    Server(Box<ServerArgs>),
    /// Open the game window and join a server.
    Client(ClientArgs),
    /// Print a connect token for one client of a secure server (needs the server's key).
    Token(TokenArgs),
    /// Make a new random private key for `server --key-file` / `SKIRMISH_PRIVATE_KEY` (`--out FILE`
    /// writes a file only you can read).
    Keygen(KeygenArgs),
    /// Check a server's health endpoint: exit 0 when it answers 200 (for container HEALTHCHECKs).
    Healthcheck(HealthcheckArgs),
    /// Measure replication: bytes and server time over a grid of clients x entities.
    Bench(BenchArgs),
    /// Headless bot clients for load tests: they connect, wander and shoot, then report.
    Bots(BotsArgs),
}

#[derive(clap::Args, Debug)]
struct BotsArgs {
    /// How many bot clients.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=512))]
    count: u16,
    /// Server address, for example 127.0.0.1:5000.
    #[arg(long)]
    connect: SocketAddr,
    /// How long to play once every bot has joined (or given up), in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    duration: u64,
    /// The secure server's private key: each bot mints its own connect token with it (client ids
    /// from 1, valid for `--connect`), so a secure server can be load-tested. Without it the bots
    /// join an `--insecure` server.
    #[arg(long, env = "SKIRMISH_KEY_FILE")]
    key_file: Option<std::path::PathBuf>,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// What to measure: replication (bytes and server time) or feel (hit rate, shot latency,
    /// corrections, interpolation under four network conditions).
    #[arg(value_enum, default_value_t = BenchKind::Replication)]
    kind: BenchKind,
    /// Print the rows as a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// Feel: seconds of play per condition and lag-compensation setting.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=600))]
    seconds: u32,
    /// Ticks measured per scenario [default: 120 for one scenario; the grid's own, 120 per
    /// reference row and 200 per large-world row].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    ticks: Option<u32>,
    /// Run one scenario with this many clients instead of the grid (with --entities, --moving).
    #[arg(long, requires = "entities", value_parser = clap::value_parser!(u32).range(1..=1024))]
    clients: Option<u32>,
    /// Entities of the single scenario.
    #[arg(long, requires = "clients", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    entities: Option<u32>,
    /// Fraction of entities moving in the single scenario.
    #[arg(long, default_value_t = 1.0, value_parser = parse_loss)]
    moving: f32,
    /// Threads building snapshots in the single scenario.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
    /// The single scenario in a large world of this side, each client getting about 300
    /// entities around a random centre (interest management).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2_000..=1_000_000))]
    world: Option<u32>,
}

#[derive(clap::Args, Debug)]
struct PlayArgs {
    /// UDP port of the local server on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Your player name.
    #[arg(long, default_value = "Host")]
    name: String,
    /// Server-side bots to play against.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(0..=64))]
    bots: u16,
    /// How well the bots play.
    #[arg(long, value_enum, default_value_t = BotSkillArg::Easy)]
    bot_skill: BotSkillArg,
    /// Arena side in 2000-unit tiles, 1-8; larger arenas send each player only what is near it.
    #[arg(long, value_name = "TILES", default_value_t = 1, value_parser = arena_tiles())]
    arena: u8,
}

/// `--arena`: a side of 1 to [`MAX_ARENA_TILES`](skirmish_shared::arena::MAX_ARENA_TILES) tiles.
fn arena_tiles() -> clap::builder::RangedI64ValueParser<u8> {
    clap::value_parser!(u8).range(1..=i64::from(skirmish_shared::arena::MAX_ARENA_TILES))
}

/// How well the server's bots play.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BotSkillArg {
    /// Short sight, slow to react, wide of the mark, firing in bursts: for learning the controls.
    Easy,
    /// A fair fight.
    Normal,
    /// Long sight, quick and precise.
    Hard,
}

impl From<BotSkillArg> for skirmish_server::bots::BotSkill {
    fn from(skill: BotSkillArg) -> Self {
        match skill {
            BotSkillArg::Easy => Self::Easy,
            BotSkillArg::Normal => Self::Normal,
            BotSkillArg::Hard => Self::Hard,
        }
    }
}

/// Link conditioner: simulate a bad network on this process's socket, in both directions.
#[derive(clap::Args, Debug, Clone, Copy)]
pub(crate) struct SimArgs {
    /// Extra one-way latency added to every datagram sent and received, in milliseconds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    sim_latency_ms: u64,
    /// Extra random delay of 0..=N milliseconds per datagram.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    sim_jitter_ms: u64,
    /// Fraction of datagrams dropped in each direction, 0 to 1.
    #[arg(long, default_value_t = 0.0, value_parser = parse_loss)]
    sim_loss: f32,
}

impl SimArgs {
    pub(crate) fn conditioner(self) -> LinkConditioner {
        // Ranges were checked by clap.
        LinkConditioner::new(self.sim_latency_ms, self.sim_jitter_ms, self.sim_loss)
            .unwrap_or_default()
    }
}

/// A fraction between 0 and 1.
pub(crate) fn parse_loss(value: &str) -> Result<f32, String> {
    let loss: f32 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number"))?;
    if (0.0..=1.0).contains(&loss) {
        Ok(loss)
    } else {
        Err(format!("must be between 0 and 1, got {value}"))
    }
}

#[derive(clap::Args, Debug)]
#[group(id = "target", required = true, multiple = false, args = ["connect", "token"])]
struct ClientArgs {
    /// Address of an unsecure server, for example 127.0.0.1:5000.
    #[arg(long)]
    connect: Option<SocketAddr>,
    /// Connect token for a secure server (from `skirmish token` or your matchmaker).
    #[arg(long, env = "SKIRMISH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Your player name.
    #[arg(long, default_value = "Player")]
    name: String,
    #[command(flatten)]
    sim: SimArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Play(cli.play)) {
        Command::Server(args) => ops::run_server(*args),
        Command::Token(args) => ops::token(&args),
        Command::Keygen(args) => ops::keygen(&args),
        Command::Healthcheck(args) => ops::healthcheck(&args),
        Command::Play(args) => window::play(args),
        Command::Client(args) => window::join(args),
        Command::Bench(args) => run_bench(&args),
        Command::Bots(args) => run_bots(&args),
    }
}

/// Runs `args.count` headless clients (the client's networking part plus `BotPlugin`) in this
/// thread at 60 Hz until each has joined or given up, then `args.duration` seconds more, then
/// reports. Exits 1 if any bot failed to
/// connect or lost its connection.
fn run_bots(args: &BotsArgs) -> ExitCode {
    use std::time::{Duration, Instant};

    use skirmish_client::{BotPlugin, ConnectionStatus};

    let key = match args.key_file.as_ref().map(|path| ops::load_key(Some(path))) {
        None => None,
        Some(Ok(key)) => key,
        Some(Err(err)) => {
            eprintln!("skirmish bots: --key-file: {err}");
            return ExitCode::from(2);
        }
    };
    let mut bots = Vec::new();
    for index in 0..args.count {
        let mut app = skirmish_client::headless_app();
        app.add_plugins(BotPlugin {
            seed: u64::from(index) + 1,
        });
        let name = format!("bot-{index}");
        let connected = match &key {
            None => skirmish_client::connect(app.world_mut(), args.connect, &name),
            Some(key) => {
                let request = skirmish_net::tokens::TokenRequest {
                    protocol_id: skirmish_shared::protocol::PROTOCOL_ID,
                    client_id: u64::from(index) + 1,
                    server_addresses: vec![args.connect],
                    expires_in: Duration::from_secs(300),
                    timeout: Duration::from_secs(10),
                };
                match skirmish_net::tokens::mint_token(key, &request) {
                    Ok(token) => skirmish_client::connect_with_token(
                        app.world_mut(),
                        token,
                        &name,
                        Default::default(),
                    ),
                    Err(err) => {
                        eprintln!("skirmish bots: {err}");
                        return ExitCode::from(2);
                    }
                }
            }
        };
        if let Err(err) = connected {
            eprintln!("skirmish bots: {err}");
            return ExitCode::from(2);
        }
        bots.push(app);
    }
    let frame = Duration::from_secs_f64(1.0 / 60.0);
    let run_frame = |bots: &mut Vec<bevy::app::App>| {
        let start = Instant::now();
        for bot in bots.iter_mut() {
            bot.update();
        }
        std::thread::sleep(frame.saturating_sub(start.elapsed()));
    };
    // The duration is play time: it starts once every bot has joined or given up (each gives up
    // after its connect timeout), however long a busy server takes to answer.
    let joining = |bot: &bevy::app::App| {
        matches!(
            bot.world().resource::<ConnectionStatus>(),
            ConnectionStatus::Connecting { .. }
        )
    };
    while bots.iter().any(joining) {
        run_frame(&mut bots);
    }
    let end = Instant::now() + Duration::from_secs(args.duration);
    while Instant::now() < end {
        run_frame(&mut bots);
    }
    let mut connected = 0;
    let mut failures = Vec::new();
    for (index, bot) in bots.iter().enumerate() {
        match bot.world().resource::<ConnectionStatus>() {
            ConnectionStatus::Connected => connected += 1,
            other => failures.push(format!("bot-{index}: {other:?}")),
        }
    }
    println!(
        "{connected} of {} bots connected at the end of {} s",
        args.count, args.duration
    );
    for failure in &failures {
        println!("  {failure}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What `skirmish bench` measures.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum BenchKind {
    /// Replication: bytes per entity and server time per tick over a grid of clients x entities.
    Replication,
    /// Feel: what a player feels under network conditions, with and without lag compensation.
    Feel,
}

fn run_bench(args: &BenchArgs) -> ExitCode {
    if cfg!(debug_assertions) {
        eprintln!(
            "note: this is a debug build; run `cargo run --release -- bench` for real figures"
        );
    }
    if args.kind == BenchKind::Feel {
        let mut rows = Vec::new();
        for condition in feel::conditions() {
            for lag_compensation in [true, false] {
                eprintln!(
                    "feel: {} (lag compensation {}), {} s",
                    condition.name,
                    if lag_compensation { "on" } else { "off" },
                    args.seconds
                );
                rows.push(feel::run(
                    &condition,
                    lag_compensation,
                    f64::from(args.seconds),
                ));
            }
        }
        return print_rows(&rows, args.json, feel::table);
    }
    let grid = match (args.clients, args.entities) {
        (Some(clients), Some(entities)) => vec![scale::Scenario {
            clients: clients as usize,
            entities: entities as usize,
            moving_fraction: args.moving,
            ticks: 120,
            threads: args.threads as usize,
            world: args.world.map(|side| {
                (
                    side as f32,
                    scale::radius_for(side as f32, entities as usize),
                )
            }),
        }],
        _ => scale::default_grid(),
    };
    let rows: Vec<scale::BenchRow> = grid
        .into_iter()
        .map(|mut scenario| {
            if let Some(ticks) = args.ticks {
                scenario.ticks = ticks as usize;
            }
            scale::run(scenario)
        })
        .collect();
    print_rows(&rows, args.json, scale::table)
}

/// Prints benchmark rows as JSON or as `table` formats them.
fn print_rows<T: serde::Serialize>(rows: &[T], json: bool, table: fn(&[T]) -> String) -> ExitCode {
    if !json {
        print!("{}", table(rows));
        return ExitCode::SUCCESS;
    }
    match serde_json::to_string_pretty(rows) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("skirmish bench: {err}");
            ExitCode::FAILURE
        }
    }
}
