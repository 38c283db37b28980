//! [`run`]: the launcher's modes, dispatched from the command line.

use std::process::ExitCode;

use crate::cli::{self, Mode};
use crate::{Game, bots, client_modes, env_prefix, ops, server};

/// Runs the launcher of `G` on the process's arguments: `play` (the default), `server`,
/// `client`, `token`, `keygen`, `healthcheck`, `bots` and the game's own subcommands. Call it
/// from `main`.
pub fn run<G: Game>() -> ExitCode {
    let prefix = env_prefix::<G>();
    let cli = cli::parse::<G::ServerArgs, G::HostArgs, G::Command>(G::NAME, G::TITLE, &prefix);
    match cli.mode.unwrap_or(Mode::Play(cli.play)) {
        Mode::Play(args) => client_modes::play::<G>(args),
        Mode::Server(args) => server::run_dedicated::<G>(*args),
        Mode::Client(args) => client_modes::join::<G>(args),
        Mode::Token(args) => ops::token::<G>(&args),
        Mode::Keygen(args) => ops::keygen::<G>(&args),
        Mode::Healthcheck(args) => ops::healthcheck(&args),
        Mode::Bots(args) => bots::run_bots::<G>(&args),
        Mode::Game(command) => G::command(command),
    }
}
