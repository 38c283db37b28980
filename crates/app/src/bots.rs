//! Headless bot clients (`bots`), for load tests: each is a client app (`MinimalPlugins` and
//! [`Game::client`]) driven by [`Game::bot`]; they join, play for a while, then report.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use skirmish_net::client::{ConnectionStatus, connect, connect_with_token};
use skirmish_net::tokens::{TokenRequest, mint_token};

use crate::Game;
use crate::ops::{key_env, load_key};

/// `bots`: how many, where, for how long.
#[derive(clap::Args, Debug)]
pub(crate) struct BotsArgs {
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
    key_file: Option<PathBuf>,
}

/// A headless client app of `G`: `MinimalPlugins` and the game's client. Step it with
/// `app.update()`; connect it with the netcode's `connect`.
pub fn headless_client<G: Game>() -> App {
    let mut app = App::new();
    app.add_plugins(MinimalPlugins);
    G::client(&mut app);
    app
}

/// Runs `args.count` bots in this thread at 60 Hz until each has joined or given up, then
/// `args.duration` seconds more, then reports. Exits 1 if any bot failed to connect or lost its
/// connection.
pub(crate) fn run_bots<G: Game>(args: &BotsArgs) -> ExitCode {
    let name = G::NAME;
    let key = match args
        .key_file
        .as_deref()
        .map(|path| load_key(Some(path), &key_env::<G>()))
    {
        None => None,
        Some(Ok(key)) => key,
        Some(Err(err)) => {
            eprintln!("{name} bots: --key-file: {err}");
            return ExitCode::from(2);
        }
    };
    let mut bots = Vec::new();
    for index in 0..args.count {
        let mut app = headless_client::<G>();
        G::bot(&mut app, u64::from(index) + 1);
        let bot_name = format!("bot-{index}");
        let connected = match &key {
            None => connect(app.world_mut(), args.connect, &bot_name),
            Some(key) => {
                let request = TokenRequest {
                    protocol_id: G::PROTOCOL.id,
                    client_id: u64::from(index) + 1,
                    server_addresses: vec![args.connect],
                    expires_in: Duration::from_secs(300),
                    timeout: Duration::from_secs(10),
                };
                match mint_token(key, &request) {
                    Ok(token) => {
                        connect_with_token(app.world_mut(), token, &bot_name, Default::default())
                    }
                    Err(err) => {
                        eprintln!("{name} bots: {err}");
                        return ExitCode::from(2);
                    }
                }
            }
        };
        if let Err(err) = connected {
            eprintln!("{name} bots: {err}");
            return ExitCode::from(2);
        }
        bots.push(app);
    }
    let frame = Duration::from_secs_f64(1.0 / 60.0);
    let run_frame = |bots: &mut Vec<App>| {
        let start = Instant::now();
        for bot in bots.iter_mut() {
            bot.update();
        }
        std::thread::sleep(frame.saturating_sub(start.elapsed()));
    };
    // The duration is play time: it starts once every bot has joined or given up (each gives up
    // after its connect timeout), however long a busy server takes to answer.
    let joining = |bot: &App| {
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
