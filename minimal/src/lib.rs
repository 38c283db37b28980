//! **Gems**: the smallest game on `skirmish-net`, and a forker's starting point.
//!
//! Ships steered with a helm (turn left or right, thrust) fly around a field and collect gems.
//! Nothing here comes from the Skirmish demo: its own components ([`shared::Ship`],
//! [`shared::Gem`], [`shared::Haul`]), its own input ([`shared::Helm`]), its own message
//! ([`shared::Collected`]), and its ship predicted and interpolated by `skirmish-net`. The app
//! shell (`skirmish-app`) runs it: `cargo run -p minimal-game` hosts a game in a window, and
//! `gems server`, `gems client`, `gems bots` and the rest work as for any game of the shell.
//!
//! - [`shared`]: what both apps agree on, registered in [`shared::GemsPlugin`];
//! - [`server`]: the authoritative rules (ships for joining clients, gems, pickups);
//! - [`client`]: the client's rules (its ship predicted, the others interpolated, a bot pilot);
//! - `window` (cargo feature `render`): the field, ships, gems, hauls and keyboard;
//! - [`Gems`]: the game as the shell sees it.

pub mod client;
pub mod server;
pub mod shared;
#[cfg(feature = "render")]
pub mod window;

use bevy::prelude::*;
use skirmish_app::{Game, NoArgs, NoCommand, ServerSettings};
use skirmish_net::prelude::*;

/// Gems, for the shell.
pub struct Gems;

impl Game for Gems {
    const NAME: &'static str = "gems";
    const TITLE: &'static str = "Gems";
    const PROTOCOL: GameProtocol = shared::PROTOCOL;
    type ServerArgs = NoArgs;
    type HostArgs = NoArgs;
    type Command = NoCommand;

    fn server(app: &mut App, settings: &ServerSettings, _: &NoArgs) -> Result<(), StartError> {
        app.add_plugins(server::GemsServerPlugin {
            tick_rate: settings.tick_rate,
        });
        Ok(())
    }

    fn client(app: &mut App) {
        app.add_plugins(client::GemsClientPlugin);
    }

    fn client_window(app: &mut App) {
        #[cfg(feature = "render")]
        app.add_plugins(window::GemsWindowPlugin);
        #[cfg(not(feature = "render"))]
        let _ = app;
    }

    fn bot(app: &mut App, _seed: u64) {
        app.add_plugins(client::BotPilotPlugin);
    }
}
