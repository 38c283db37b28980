//! The windowed modes: host (`play`) and join (`client`), and the window app they open.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use bevy::prelude::*;
use skirmish_net::client::{connect_with, connect_with_token};
use skirmish_net::netcode::ConnectToken;
use skirmish_net::socket::LinkConditioner;
use skirmish_net::tokens::token_from_text;

use super::ClientShellPlugin;
use super::screens::{HostGame, MenuFields};
use crate::Game;
use crate::cli::{ClientArgs, PlayArgs, defaults};
use crate::server::{ServerSettings, spawn_local_server};

/// `G`'s window app: `DefaultPlugins` (a 1280x720 window titled [`Game::TITLE`]), the game's
/// client, the shell's screens and overlay, and the game's window part. Call the netcode's
/// `connect` on it (or let the main menu), then `run` it.
pub fn window_app<G: Game>() -> App {
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: G::TITLE.into(),
            resolution: (1280, 720).into(),
            ..default()
        }),
        ..default()
    }));
    G::client(&mut app);
    app.add_plugins(ClientShellPlugin { title: G::TITLE });
    G::client_window(&mut app);
    // The menu's "Host a game" starts another local server on a free port, with `play`'s defaults.
    app.insert_resource(HostGame(Box::new(|| {
        let args = defaults::<G::HostArgs>().map_err(|err| err.to_string())?;
        let settings = ServerSettings {
            bind: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            ..ServerSettings::default()
        };
        spawn_local_server::<G>(settings, args.into()).map_err(|err| err.to_string())
    })));
    app
}

/// `play`: a server on a thread, on loopback, and the window connected to it.
pub(crate) fn play<G: Game>(args: PlayArgs<G::HostArgs>) -> ExitCode {
    if let Err(code) = check_display::<G>() {
        return code;
    }
    let settings = ServerSettings {
        bind: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), args.port),
        ..ServerSettings::default()
    };
    let server = match spawn_local_server::<G>(settings, args.game.into()) {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("{}: could not start the local server: {err}", G::NAME);
            return ExitCode::from(2);
        }
    };
    run_window::<G>(
        Target::Address(server),
        &args.name,
        LinkConditioner::default(),
    )
}

/// `client`: the window, joining a server by address or token.
pub(crate) fn join<G: Game>(args: ClientArgs) -> ExitCode {
    let target = match (args.connect, &args.token) {
        (_, Some(token)) => match token_from_text(token) {
            Ok(token) => Target::Token(Box::new(token)),
            Err(err) => {
                eprintln!("{} client: --token: {err}", G::NAME);
                return ExitCode::from(2);
            }
        },
        (Some(addr), None) => Target::Address(addr),
        (None, None) => unreachable!("clap requires --connect or --token"),
    };
    if let Err(code) = check_display::<G>() {
        return code;
    }
    run_window::<G>(target, &args.name, args.sim.conditioner())
}

/// Where to connect: an unsecure server's address, or a connect token.
enum Target {
    Address(SocketAddr),
    Token(Box<ConnectToken>),
}

fn run_window<G: Game>(target: Target, name: &str, conditioner: LinkConditioner) -> ExitCode {
    let mut app = window_app::<G>();
    app.world_mut().resource_mut::<MenuFields>().name = name.to_owned();
    let connected = match target {
        Target::Address(server) => connect_with(app.world_mut(), server, name, conditioner),
        Target::Token(token) => connect_with_token(app.world_mut(), *token, name, conditioner),
    };
    if let Err(err) = connected {
        eprintln!("{}: {err}", G::NAME);
        return ExitCode::from(2);
    }
    app.run();
    ExitCode::SUCCESS
}

/// On Linux, a window needs an X11 display; say so plainly instead of panicking in winit.
fn check_display<G: Game>() -> Result<(), ExitCode> {
    // winit takes an empty DISPLAY for none at all.
    let display = std::env::var_os("DISPLAY").filter(|display| !display.is_empty());
    if cfg!(target_os = "linux") && display.is_none() {
        let name = G::NAME;
        eprintln!(
            "{name}: no display found (DISPLAY is not set or empty), so the game window cannot open.\n\
             To run a headless dedicated server on this machine instead, use:\n\n    \
             {name} server        (or: cargo run --release -- server)"
        );
        return Err(ExitCode::from(1));
    }
    Ok(())
}
