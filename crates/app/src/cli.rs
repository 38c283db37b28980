//! The launcher's command line: its modes and their flags, generic over a game's own flags and
//! subcommands, named after the game at run time.

use std::net::SocketAddr;

use clap::{ArgMatches, Args, Command, CommandFactory, FromArgMatches, Parser, Subcommand};
use skirmish_net::socket::LinkConditioner;

use crate::bots::BotsArgs;
use crate::ops::{HealthcheckArgs, KeygenArgs, TokenArgs};
use crate::server::ServerArgs;

/// A game without flags of its own.
#[derive(Args, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoArgs {}

/// A game without subcommands of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCommand {}

impl FromArgMatches for NoCommand {
    fn from_arg_matches(_: &ArgMatches) -> Result<Self, clap::Error> {
        Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand))
    }

    fn update_from_arg_matches(&mut self, _: &ArgMatches) -> Result<(), clap::Error> {
        match *self {}
    }
}

impl Subcommand for NoCommand {
    fn augment_subcommands(command: Command) -> Command {
        command
    }

    fn augment_subcommands_for_update(command: Command) -> Command {
        command
    }

    fn has_subcommand(_: &str) -> bool {
        false
    }
}

/// The launcher's command line.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli<S: Args, H: Args, C: Subcommand> {
    #[command(subcommand)]
    pub(crate) mode: Option<Mode<S, H, C>>,
    /// With no subcommand: host a game (same flags as `play`).
    #[command(flatten)]
    pub(crate) play: PlayArgs<H>,
}

/// What the launcher does.
#[derive(Subcommand, Debug)]
pub(crate) enum Mode<S: Args, H: Args, C: Subcommand> {
    /// Host a game: a local server plus the game window (the default).
    Play(PlayArgs<H>),
    /// Run a headless dedicated server (no window, GPU or audio).
    Server(Box<ServerArgs<S>>),
    /// Open the game window and join a server.
    Client(ClientArgs),
    /// Print a connect token for one client of a secure server (needs the server's key).
    Token(TokenArgs),
    /// Make a new random private key for `server --key-file` (`--out FILE` writes a file only
    /// you can read).
    Keygen(KeygenArgs),
    /// Check a server's health endpoint: exit 0 when it answers 200 (for container HEALTHCHECKs).
    Healthcheck(HealthcheckArgs),
    /// Headless bot clients for load tests: they connect and play, then report.
    Bots(BotsArgs),
    #[command(flatten)]
    Game(C),
}

/// `play`: host a game.
#[derive(Args, Debug)]
pub(crate) struct PlayArgs<H: Args> {
    /// UDP port of the local server on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    /// Your player name.
    #[arg(long, default_value = "Host")]
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) game: H,
}

/// `client`: join a server.
#[derive(Args, Debug)]
#[group(id = "target", required = true, multiple = false, args = ["connect", "token"])]
pub(crate) struct ClientArgs {
    /// Address of an unsecure server, for example 127.0.0.1:5000.
    #[arg(long)]
    pub(crate) connect: Option<SocketAddr>,
    /// Connect token for a secure server (from `token` or your matchmaker).
    #[arg(long, env = "SKIRMISH_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Your player name.
    #[arg(long, default_value = "Player")]
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) sim: SimArgs,
}

/// Link conditioner: simulate a bad network on this process's socket, in both directions.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct SimArgs {
    /// Extra one-way latency added to every datagram sent and received, in milliseconds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    sim_latency_ms: u64,
    /// Extra random delay of 0..=N milliseconds per datagram.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    sim_jitter_ms: u64,
    /// Fraction of datagrams dropped in each direction, 0 to 1.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    sim_loss: f32,
}

impl SimArgs {
    /// The conditioner these flags describe.
    pub(crate) fn conditioner(self) -> LinkConditioner {
        // Ranges were checked by clap.
        LinkConditioner::new(self.sim_latency_ms, self.sim_jitter_ms, self.sim_loss)
            .unwrap_or_default()
    }
}

/// A fraction between 0 and 1.
pub fn parse_fraction(value: &str) -> Result<f32, String> {
    let fraction: f32 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number"))?;
    if (0.0..=1.0).contains(&fraction) {
        Ok(fraction)
    } else {
        Err(format!("must be between 0 and 1, got {value}"))
    }
}

/// The command line of `name`: the flags' environment variables carry `env_prefix` instead of
/// `SKIRMISH_`, and the help text names the binary.
pub(crate) fn command<S: Args, H: Args, C: Subcommand>(
    name: &'static str,
    title: &'static str,
    env_prefix: &str,
) -> Command {
    let rename = |arg: clap::Arg| -> clap::Arg {
        match arg.get_env().and_then(|env| env.to_str()) {
            Some(env) if env.starts_with("SKIRMISH_") => {
                let renamed = format!("{env_prefix}{}", &env["SKIRMISH_".len()..]);
                arg.env(renamed)
            }
            _ => arg,
        }
    };
    Cli::<S, H, C>::command()
        .name(name)
        .bin_name(name)
        .about(format!("{title}: host, join or serve a game"))
        .mut_args(rename)
        .mut_subcommands(move |sub| sub.mut_args(rename))
}

/// Parses the process's arguments into the command line of `name`; exits on `--help`, `--version`
/// or an error, as clap does.
pub(crate) fn parse<S: Args, H: Args, C: Subcommand>(
    name: &'static str,
    title: &'static str,
    env_prefix: &str,
) -> Cli<S, H, C> {
    let mut command = command::<S, H, C>(name, title, env_prefix);
    let matches = command.get_matches_mut();
    Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.format(&mut command).exit())
}

/// `H` with every flag at its default, as if `play` had been given none.
#[cfg(feature = "render")]
pub(crate) fn defaults<H: Args>() -> Result<H, clap::Error> {
    let command = H::augment_args(Command::new("defaults"));
    let matches = command.try_get_matches_from(["defaults"])?;
    H::from_arg_matches(&matches)
}
