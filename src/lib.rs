//! The Skirmish demo as a game of the shell (`skirmish-app`): [`Skirmish`] names its crates'
//! plugins for each app, its own flags ([`args`]) and its own subcommand ([`bench`](mod@bench)). The
//! launcher (`src/main.rs`) is `skirmish_app::run::<Skirmish>()`.

pub mod args;
pub mod bench;

use bevy::prelude::*;
use skirmish_app::{Game, ServerSettings};
use skirmish_net::server::StartError;
use skirmish_server::ServerPlugin;

/// The demo's own subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum DemoCommand {
    /// Measure replication (bytes and server time over a grid of clients x entities) or feel.
    Bench(bench::BenchArgs),
}

/// The Skirmish demo: a top-down arena shooter.
pub struct Skirmish;

impl Game for Skirmish {
    const NAME: &'static str = "skirmish";
    const TITLE: &'static str = "Skirmish";
    const PROTOCOL: skirmish_net::protocol::GameProtocol = skirmish_shared::protocol::GAME_PROTOCOL;
    const RESERVED_CLIENT_IDS: std::ops::Range<u64> = skirmish_server::bots::BOT_IDS;
    type ServerArgs = args::MatchArgs;
    type HostArgs = args::HostArgs;
    type Command = DemoCommand;

    fn server(
        app: &mut App,
        settings: &ServerSettings,
        args: &args::MatchArgs,
    ) -> Result<(), StartError> {
        app.add_plugins(ServerPlugin {
            tick_rate: settings.tick_rate,
        });
        skirmish_server::set_up(app.world_mut(), &args.settings())
    }

    fn client(app: &mut App) {
        app.add_plugins(skirmish_client::ClientPlugin);
    }

    fn client_window(app: &mut App) {
        #[cfg(feature = "render")]
        app.add_plugins(skirmish_client::ClientRenderPlugin);
        #[cfg(not(feature = "render"))]
        let _ = app;
    }

    fn bot(app: &mut App, seed: u64) {
        app.add_plugins(skirmish_client::BotPlugin { seed });
    }

    fn command(command: DemoCommand) -> std::process::ExitCode {
        match command {
            DemoCommand::Bench(args) => bench::run(&args),
        }
    }
}
