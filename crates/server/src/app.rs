//! Ready-made server apps: headless (its own loop and log), on a thread of its own (a listen
//! server), or without a socket.

use std::net::SocketAddr;
use std::time::Duration;

use bevy::app::ScheduleRunnerPlugin;
use bevy::log::LogPlugin;
use bevy::prelude::*;
use bevy::state::app::StatesPlugin;

use crate::{ServerPlugin, ServerSettings, StartError, listen};

/// How the server writes its log.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (Bevy's default).
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// A ready-to-run headless server: `MinimalPlugins` looping at the tick rate, states, logging in
/// `log_format`, [`ServerPlugin`] and an open socket.
pub fn headless_app(settings: &ServerSettings, log_format: LogFormat) -> Result<App, StartError> {
    let mut app = server_app(settings.tick_rate, false);
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

/// Starts a server on its own thread (the "listen server" a player hosts) and returns the address
/// it listens on once the socket is open. Logging is left to the caller's process.
pub fn spawn_local_server(settings: ServerSettings) -> Result<SocketAddr, StartError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("skirmish-server".into())
        .spawn(move || {
            let mut app = server_app(settings.tick_rate, false);
            match listen(app.world_mut(), &settings) {
                Ok(addr) => {
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

/// A server app without a socket. `log` adds Bevy's `LogPlugin`; leave it off when another app
/// in the same process (the host's client window) already installed logging.
pub fn server_app(tick_rate: u16, log: bool) -> App {
    let mut app = App::new();
    app.add_plugins(
        MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(
            1.0 / f64::from(tick_rate.max(1)),
        ))),
    )
    .add_plugins((StatesPlugin, ServerPlugin { tick_rate }));
    if log {
        app.add_plugins(LogPlugin::default());
    }
    app
}
