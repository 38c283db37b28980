//! `skirmish bench`: replication (bytes and server time over a grid of clients x entities) and
//! feel (what a player feels under network conditions), as a table or JSON.

use std::process::ExitCode;

use skirmish_app::parse_fraction;
use skirmish_bench::{feel, scale};

/// `skirmish bench`: what to measure and how to print it.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
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
    #[arg(long, default_value_t = 1.0, value_parser = parse_fraction)]
    moving: f32,
    /// Threads building snapshots in the single scenario.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
    /// The single scenario in a large world of this side, each client getting about 300
    /// entities around a random centre (interest management).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2_000..=1_000_000))]
    world: Option<u32>,
}

/// What `skirmish bench` measures.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum BenchKind {
    /// Replication: bytes per entity and server time per tick over a grid of clients x entities.
    Replication,
    /// Feel: what a player feels under network conditions, with and without lag compensation.
    Feel,
}

/// Runs the benchmark `args` asks for and prints its rows.
pub fn run(args: &BenchArgs) -> ExitCode {
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
