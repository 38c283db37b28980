//! The demo's authoritative server: a headless Bevy [`App`] (`MinimalPlugins`, no window, GPU or
//! audio). The networking is `skirmish-net`'s [`NetServerPlugin`]; this crate is the game on top:
//! [`players`] (a player per client that joins), [`combat`], [`bots`], the [`arena`], the
//! [`roster`], and operations ([`metrics`], [`health`], [`http`], [`shutdown`], Agones).
//!
//! ```no_run
//! use skirmish_server::{LogFormat, ServerSettings, headless_app};
//!
//! let settings = ServerSettings::default();
//! let mut app = headless_app(&settings, LogFormat::Human).expect("could not bind the server socket");
//! app.run();
//! ```

#[cfg(feature = "agones")]
pub mod agones;
pub mod arena;
pub mod bots;
pub mod combat;
pub mod health;
pub mod http;
pub mod metrics;
pub mod players;
pub mod roster;
pub mod shutdown;
mod singleton;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use bevy::app::ScheduleRunnerPlugin;
use bevy::log::LogPlugin;
use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use skirmish_net::server::{ListenConfig, NetServerPlugin};
use skirmish_net::socket::{GameSocket, LinkConditioner};
use skirmish_shared::SharedPlugin;
use skirmish_shared::arena::{Arena, MAX_ARENA_TILES};
use skirmish_shared::simulation::{DEFAULT_TICK_RATE, InputFrame};

pub use health::Heartbeat;
pub use metrics::{serve_metrics, serve_metrics_with};
pub use players::player_of;
pub use shutdown::{SHUTDOWN_REASON, ShutdownRequest};
pub use skirmish_net::server::{
    AckTimeout, ClientReplication, ConnectedClient, ConnectedClients, DEFAULT_ACK_TIMEOUT,
    FAREWELL_GRACE, Farewells, HELLO_TIMEOUT, IN_FLIGHT_SNAPSHOTS, MAX_CLIENTS_LIMIT,
    ReplicationFootprint, ReplicationState, ServerSystems, ServerTransport, SnapshotInterval,
    StartError, TickRate,
};
pub use skirmish_net::tokens::PrivateKey;

/// Default UDP port of a Skirmish server.
pub const DEFAULT_PORT: u16 = 5000;

/// Settings of a server instance. Its `Debug` output never shows the private key.
#[derive(Clone)]
pub struct ServerSettings {
    /// Address the UDP socket binds to.
    pub bind: SocketAddr,
    /// Addresses clients dial to reach this server. Empty means "the bound address", or
    /// `127.0.0.1:<port>` when bound to an unspecified address such as `0.0.0.0`.
    pub public_addresses: Vec<SocketAddr>,
    /// Most clients connected at once.
    pub max_clients: usize,
    /// Simulation ticks per second.
    pub tick_rate: u16,
    /// Simulated latency, jitter and loss on the server's socket (testing only).
    pub conditioner: LinkConditioner,
    /// Server-side bots added when the server starts.
    pub bots: usize,
    /// How well they play.
    pub bot_skill: bots::BotSkill,
    /// The arena: its side in 2000-unit tiles (1 to [`MAX_ARENA_TILES`]), sent to every client.
    pub arena: Arena,
    /// Snapshots per second sent to each client; at most the tick rate, which it should divide.
    /// `None` means one per tick.
    pub snapshot_rate: Option<u16>,
    /// The netcode private key. With a key the server is secure: clients need a connect token
    /// minted with it (see [`skirmish_net::tokens`]). `None` serves unsecure clients (host mode
    /// on loopback, or `--insecure`).
    pub private_key: Option<PrivateKey>,
}

impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            bind,
            public_addresses,
            max_clients,
            tick_rate,
            conditioner,
            bots,
            bot_skill,
            arena,
            snapshot_rate,
            private_key,
        } = self;
        f.debug_struct("ServerSettings")
            .field("bind", bind)
            .field("public_addresses", public_addresses)
            .field("max_clients", max_clients)
            .field("tick_rate", tick_rate)
            .field("conditioner", conditioner)
            .field("bots", bots)
            .field("bot_skill", bot_skill)
            .field("arena", arena)
            .field("snapshot_rate", snapshot_rate)
            .field(
                "private_key",
                &format_args!(
                    "{}",
                    if private_key.is_some() {
                        "Some(<redacted>)"
                    } else {
                        "None"
                    }
                ),
            )
            .finish()
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_PORT),
            public_addresses: Vec::new(),
            max_clients: 16,
            tick_rate: DEFAULT_TICK_RATE,
            conditioner: LinkConditioner::default(),
            bots: 0,
            bot_skill: bots::BotSkill::default(),
            arena: Arena::default(),
            snapshot_rate: None,
            private_key: None,
        }
    }
}

/// The server's systems, without transport: add it to an app with `MinimalPlugins`, then call
/// [`listen`] to open the socket.
pub struct ServerPlugin {
    /// Simulation ticks per second.
    pub tick_rate: u16,
}

impl Default for ServerPlugin {
    fn default() -> Self {
        Self {
            tick_rate: DEFAULT_TICK_RATE,
        }
    }
}

impl Plugin for ServerPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((
            SharedPlugin,
            NetServerPlugin::<InputFrame>::new(self.tick_rate),
        ))
        .add_plugins((
            arena::plugin,
            roster::plugin,
            bots::plugin,
            combat::plugin,
            players::plugin,
            health::plugin,
            metrics::plugin,
            shutdown::plugin,
        ));
    }
}

/// Opens the server socket described by `settings` and inserts the renet server and netcode
/// transport into `world`. Returns the bound address (useful with port 0).
///
/// Secure (connect tokens required) when `settings.private_key` is set; otherwise unsecure, which
/// is fine for a listen server on loopback or a LAN.
pub fn listen(world: &mut World, settings: &ServerSettings) -> Result<SocketAddr, StartError> {
    let socket = UdpSocket::bind(settings.bind).map_err(StartError::Socket)?;
    listen_on(world, socket, settings)
}

/// Like [`listen`], with a socket the caller already bound.
pub fn listen_on(
    world: &mut World,
    socket: UdpSocket,
    settings: &ServerSettings,
) -> Result<SocketAddr, StartError> {
    let socket = GameSocket::new(socket, settings.conditioner).map_err(StartError::Socket)?;
    listen_on_socket(world, socket, settings)
}

/// Like [`listen`], on a [`GameSocket`] the caller made (a test harness's socket on a test clock
/// or an in-memory network); `settings.conditioner` is not used: the socket has its own.
pub fn listen_on_socket(
    world: &mut World,
    socket: GameSocket,
    settings: &ServerSettings,
) -> Result<SocketAddr, StartError> {
    if settings.tick_rate == 0 || settings.tick_rate > 240 {
        return Err(StartError::InvalidSetting(format!(
            "tick rate must be between 1 and 240 Hz, got {}",
            settings.tick_rate
        )));
    }
    if !(1..=MAX_ARENA_TILES).contains(&settings.arena.tiles) {
        return Err(StartError::InvalidSetting(format!(
            "the arena is 1 to {MAX_ARENA_TILES} tiles wide, got {}",
            settings.arena.tiles
        )));
    }
    let config = ListenConfig {
        public_addresses: settings.public_addresses.clone(),
        max_clients: settings.max_clients,
        snapshot_rate: settings.snapshot_rate,
        conditioner: settings.conditioner,
        private_key: settings.private_key,
    };
    let local_addr = skirmish_net::server::listen_on(world, socket, &config)?;
    if settings.bots as u64 > bots::MAX_BOTS {
        return Err(StartError::InvalidSetting(format!(
            "at most {} bots, got {}",
            bots::MAX_BOTS,
            settings.bots
        )));
    }
    world.insert_resource(settings.bot_skill);
    // Bots spawn in it; the arena plugin sends it to clients.
    world.insert_resource(settings.arena);
    for index in 0..settings.bots {
        bots::spawn_bot(world, index as u64);
    }
    Ok(local_addr)
}

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

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::ServerSettings;

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let key: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
        let settings = ServerSettings {
            private_key: Some(key),
            ..ServerSettings::default()
        };
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let mut forms: Vec<String> = engines.iter().map(|engine| engine.encode(key)).collect();
        forms.push(hex::encode(key));
        forms.push(hex::encode_upper(key));
        // As `[u8; 32]` prints, in any spacing: compared with whitespace removed.
        forms.push(format!("{key:?}"));
        forms.push(format!("{key:x?}"));
        forms.push(key.iter().map(u8::to_string).collect::<Vec<_>>().join(","));
        // A few bytes in a row are already too many.
        forms.push(format!("{},{},{}", key[0], key[1], key[2]));
        forms.push(hex::encode(&key[..4]));
        let forms: Vec<String> = forms
            .into_iter()
            .map(|form| form.split_whitespace().collect())
            .collect();
        for output in [format!("{settings:?}"), format!("{settings:#?}")] {
            let compact: String = output.split_whitespace().collect();
            for form in &forms {
                assert!(!compact.contains(form.as_str()), "{form} in {output}");
            }
            assert!(output.contains("private_key: Some(<redacted>)"), "{output}");
            assert!(
                output.contains("max_clients: 16"),
                "other fields still show: {output}"
            );
        }
        let unsecure = format!("{:?}", ServerSettings::default());
        assert!(unsecure.contains("private_key: None"), "{unsecure}");
    }
}
