//! A game's server apps: without a socket, headless with its own loop and log (the dedicated
//! server), or on a thread of its own (the server a player hosts).

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use bevy::app::ScheduleRunnerPlugin;
use bevy::log::LogPlugin;
use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use skirmish_net::server::StartError;
use skirmish_net::socket::GameSocket;

use super::{ServerOpsPlugin, ServerSettings};
use crate::Game;

/// How the server writes its log.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (Bevy's default).
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `G`'s server app without a socket and without logging: `MinimalPlugins` looping at the tick
/// rate, states, [`ServerOpsPlugin`] and the game's server ([`Game::server`]). Open the socket
/// with [`listen`].
pub fn server_app<G: Game>(
    settings: &ServerSettings,
    args: &G::ServerArgs,
) -> Result<App, StartError> {
    if settings.tick_rate == 0 || settings.tick_rate > 240 {
        return Err(StartError::InvalidSetting(format!(
            "tick rate must be between 1 and 240 Hz, got {}",
            settings.tick_rate
        )));
    }
    let mut app = App::new();
    app.add_plugins(
        MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(
            1.0 / f64::from(settings.tick_rate),
        ))),
    )
    .add_plugins((StatesPlugin, ServerOpsPlugin));
    G::server(&mut app, settings, args)?;
    Ok(app)
}

/// Opens the socket `settings` describe for a server app (the netcode's `listen`, with the
/// settings' link conditioner). Returns the bound address (useful with port 0).
pub fn listen(world: &mut World, settings: &ServerSettings) -> Result<SocketAddr, StartError> {
    let socket = UdpSocket::bind(settings.bind).map_err(StartError::Socket)?;
    let socket = GameSocket::new(socket, settings.conditioner).map_err(StartError::Socket)?;
    skirmish_net::server::listen_on(world, socket, &settings.listen_config())
}

/// A ready-to-run dedicated server: [`server_app`], logging in `log_format`, and an open socket.
pub fn headless_server<G: Game>(
    settings: &ServerSettings,
    args: &G::ServerArgs,
    log_format: LogFormat,
) -> Result<App, StartError> {
    let mut app = server_app::<G>(settings, args)?;
    app.insert_resource(log_format).add_plugins(LogPlugin {
        fmt_layer: json_log_layer,
        ..default()
    });
    listen(app.world_mut(), settings)?;
    Ok(app)
}

/// With [`LogFormat::Json`], replaces Bevy's log lines by JSON objects on standard error.
fn json_log_layer(app: &mut App) -> Option<bevy::log::BoxedFmtLayer> {
    if app.world().get_resource::<LogFormat>() != Some(&LogFormat::Json) {
        return None;
    }
    Some(Box::new(
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_writer(std::io::stderr),
    ))
}

/// Starts `G`'s server on its own thread (the server a player hosts) and returns the address it
/// listens on once the socket is open. Logging is left to the caller's process (the window).
pub fn spawn_local_server<G: Game>(
    settings: ServerSettings,
    args: G::ServerArgs,
) -> Result<SocketAddr, StartError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("{}-server", G::NAME))
        .spawn(move || {
            let started = server_app::<G>(&settings, &args).and_then(|mut app| {
                let addr = listen(app.world_mut(), &settings)?;
                Ok((app, addr))
            });
            match started {
                Ok((mut app, addr)) => {
                    let _ = sender.send(Ok(addr));
                    app.run();
                }
                Err(err) => {
                    let _ = sender.send(Err(err));
                }
            }
        })
        .map_err(StartError::Socket)?;
    receiver.recv().unwrap_or_else(|_| {
        Err(StartError::Socket(std::io::Error::other(
            "the server thread stopped before listening",
        )))
    })
}
