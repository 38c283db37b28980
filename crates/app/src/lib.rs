//! The app shell every game on `skirmish-net` keeps: everything that turns a game's plugins into
//! something people start, host, join, deploy and load-test.
//!
//! A game implements [`Game`] (its name, its protocol, and what it adds to a server app, a client
//! app and the window) and its `main` calls [`run`]:
//!
//! ```no_run
//! use bevy::prelude::*;
//! use skirmish_app::{Game, NoArgs, NoCommand, ServerSettings};
//! use skirmish_net::prelude::*;
//!
//! struct MyGame;
//!
//! impl Game for MyGame {
//!     const NAME: &'static str = "my-game";
//!     const TITLE: &'static str = "My Game";
//!     const PROTOCOL: GameProtocol = GameProtocol { id: 0x4D59_4741_4D45_0001, version: 1 };
//!     type ServerArgs = NoArgs;
//!     type HostArgs = NoArgs;
//!     type Command = NoCommand;
//!
//!     fn server(app: &mut App, settings: &ServerSettings, _: &NoArgs) -> Result<(), StartError> {
//!         // app.add_plugins(MyServerPlugin { tick_rate: settings.tick_rate });
//!         Ok(())
//!     }
//!     fn client(app: &mut App) {
//!         // app.add_plugins(MyClientPlugin);
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     skirmish_app::run::<MyGame>()
//! }
//! ```
//!
//! The launcher then has these modes (see [`run`]):
//! - `play` (the default): host a server on a thread and open the window connected to it;
//! - `server`: a headless dedicated server, secure by default, every setting a flag and an
//!   environment variable (`MY_GAME_PORT`...), with metrics, health, graceful shutdown and Agones;
//! - `client --connect ADDR | --token TOKEN`: the window, joining a server;
//! - `token`, `keygen`, `healthcheck`: operating a secure server;
//! - `bots`: headless clients driven by [`Game::bot`], for load tests.
//!
//! Modules: [`server`] (the server app and its operations: no window, GPU or audio crate),
//! [`ops`] (keys, tokens, health checks), [`bots`], and with the `render` feature `client` (the
//! window, the main menu, the connecting and disconnected screens, the F3 overlay, [`Theme`]).

pub mod bots;
mod cli;
#[cfg(feature = "render")]
pub mod client;
mod client_modes;
mod launcher;
pub mod ops;
pub mod server;

use bevy::prelude::*;
use skirmish_net::prelude::{GameProtocol, StartError};

pub use cli::{NoArgs, NoCommand, parse_fraction};
#[cfg(feature = "render")]
pub use client::{Screen, Theme};
pub use launcher::run;
pub use server::{
    LogFormat, ServerOpsPlugin, ServerSettings, headless_server, server_app, spawn_local_server,
};

/// A game the shell runs: its names, its protocol, and what it adds to each app.
///
/// The shell builds the apps; the game only adds its plugins. A server app has `MinimalPlugins`
/// looping at the tick rate, Bevy's states and [`ServerOpsPlugin`]; a client app has
/// `MinimalPlugins` (bots) or `DefaultPlugins` with a window, the menus and the overlay (`play`,
/// `client`).
pub trait Game: 'static {
    /// The binary's name (`my-game server`), its environment variables' prefix (`MY_GAME_`) and
    /// its threads' names.
    const NAME: &'static str;
    /// The window's title and the main menu's heading.
    const TITLE: &'static str;
    /// The netcode identity: connect tokens are minted for this protocol id.
    const PROTOCOL: GameProtocol;
    /// Client ids a client may not claim (the game's server-side bots use them): `token` refuses
    /// to mint them.
    const RESERVED_CLIENT_IDS: std::ops::Range<u64> = 0..0;
    /// The game's own flags of `server` (with their `env`), or [`NoArgs`].
    type ServerArgs: clap::Args + Clone + Send + 'static;
    /// The game's own flags of `play` (host mode), turned into the hosted server's flags, or
    /// [`NoArgs`]. The main menu's "Host a game" uses their defaults.
    type HostArgs: clap::Args + Into<Self::ServerArgs>;
    /// The game's own subcommands (a benchmark, a map tool), or [`NoCommand`].
    type Command: clap::Subcommand;

    /// Adds the game's server plugins (with `settings.tick_rate`) and puts in place what the
    /// game's flags ask for, before the socket opens. An `Err` (a bad setting) stops the launcher
    /// with code 2.
    fn server(
        app: &mut App,
        settings: &ServerSettings,
        args: &Self::ServerArgs,
    ) -> Result<(), StartError>;

    /// Adds the game's client plugins that need no window: networking, prediction, its rules.
    /// Used by the window and by headless bots.
    fn client(app: &mut App);

    /// Adds what the window shows and reads: sprites, input devices, the HUD, a [`Theme`].
    /// Called on `DefaultPlugins` apps only, after [`Game::client`].
    fn client_window(app: &mut App) {
        let _ = app;
    }

    /// Adds a bot that drives this client's input (headless `bots` mode), deterministic for
    /// `seed`. Without it a bot joins and sits still.
    fn bot(app: &mut App, seed: u64) {
        let _ = (app, seed);
    }

    /// Runs one of the game's own subcommands.
    fn command(command: Self::Command) -> std::process::ExitCode {
        let _ = command;
        std::process::ExitCode::SUCCESS
    }
}

/// The environment variables' prefix of `G`: its name in capitals, `-` as `_`, then `_`.
pub fn env_prefix<G: Game>() -> String {
    let mut prefix: String = G::NAME
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    prefix.push('_');
    prefix
}
