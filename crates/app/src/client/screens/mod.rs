//! The screens as a Bevy [`States`] enum, each with its own UI scoped to it:
//! main menu (name, address, Host, Join, Quit) -> connecting (Cancel) -> in game (Esc leaves) ->
//! disconnected (the reason, Back). A file per screen; each button observes `Activated`
//! with its own action.

mod connecting;
mod disconnected;
mod main_menu;
#[cfg(test)]
mod tests;
mod widgets;

use std::net::SocketAddr;

use bevy::prelude::*;

use disconnected::LastReason;
pub use main_menu::MenuFields;
use skirmish_net::client::{ConnectionStatus, connect, disconnect};
pub use widgets::{Activated, MenuButton};

/// Which screen is showing.
#[derive(States, Debug, Default, Clone, PartialEq, Eq, Hash)]
pub enum Screen {
    /// Name, address, Host, Join, Quit.
    #[default]
    MainMenu,
    /// Waiting for the server's welcome.
    Connecting,
    /// Playing.
    InGame,
    /// The connection ended; shows why.
    Disconnected,
}

/// Starts a local server and returns its address: the main menu's "Host a game" (the window app
/// provides it for its game).
#[derive(Resource)]
pub struct HostGame(pub Box<dyn Fn() -> Result<SocketAddr, String> + Send + Sync>);

pub(super) fn plugin(app: &mut App) {
    app.init_state::<Screen>()
        .add_plugins((main_menu::plugin, connecting::plugin, disconnected::plugin))
        .add_systems(
            Update,
            (
                widgets::activate_pressed_buttons,
                follow_connection,
                leave_on_escape.run_if(in_state(Screen::InGame)),
            ),
        );
}

/// Connects to `addr` with the menu's name, or shows why it cannot.
fn start_connecting(world: &mut World, addr: SocketAddr) {
    let name = world.resource::<MenuFields>().name.clone();
    match connect(world, addr, &name) {
        Ok(_) => {
            world.resource_mut::<MenuFields>().error.clear();
            world
                .resource_mut::<NextState<Screen>>()
                .set(Screen::Connecting);
        }
        Err(err) => world.resource_mut::<MenuFields>().error = err.to_string(),
    }
}

/// Leaves the game or cancels connecting, back to the menu.
fn leave(world: &mut World) {
    disconnect(world);
    world
        .resource_mut::<NextState<Screen>>()
        .set(Screen::MainMenu);
}

fn leave_on_escape(world: &mut World) {
    if world
        .resource::<ButtonInput<KeyCode>>()
        .just_pressed(KeyCode::Escape)
    {
        leave(world);
    }
}

/// Moves between screens as the connection progresses.
fn follow_connection(
    status: Res<ConnectionStatus>,
    screen: Res<State<Screen>>,
    mut next: ResMut<NextState<Screen>>,
    mut reason: ResMut<LastReason>,
) {
    if !status.is_changed() {
        return;
    }
    match (&*status, screen.get()) {
        (ConnectionStatus::Connecting { .. }, Screen::MainMenu | Screen::Disconnected) => {
            next.set(Screen::Connecting);
        }
        (ConnectionStatus::Connected, Screen::Connecting | Screen::MainMenu) => {
            next.set(Screen::InGame);
        }
        (ConnectionStatus::Disconnected { reason: why }, Screen::Connecting | Screen::InGame) => {
            reason.0.clone_from(why);
            next.set(Screen::Disconnected);
        }
        _ => {}
    }
}
