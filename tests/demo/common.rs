//! Helpers for end-to-end tests: a real server App and headless client Apps talking netcode and
//! renet over 127.0.0.1 on OS-assigned ports, stepped in one loop until a condition holds or a
//! deadline passes. Every app and socket keeps time by this test's [`TestClock`], which moves one
//! server tick a step: a slow or busy machine runs the same ticks, only slower.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::Add;
use std::time::Duration;

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy::time::TimeUpdateStrategy;
use skirmish_app::ServerSettings;
use skirmish_client::{ClientPlugin, ClientSession, ConnectionStatus};
use skirmish_net::socket::{GameSocket, LinkConditioner};
use skirmish_net::testing::TestClock;
use skirmish_net::tokens::{PrivateKey, TokenRequest};
use skirmish_server::{MatchSettings, ServerPlugin};
use skirmish_shared::prelude::*;
use skirmish_shared::simulation::DEFAULT_TICK_RATE;

/// The private key of the tests' secure servers.
pub const TEST_KEY: PrivateKey = [7; 32];

/// How long any single condition may take before the test fails, on the test clock.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// One step of the test clock: one tick of the demo's server (exactly its fixed timestep).
pub fn tick() -> Duration {
    Time::<Fixed>::from_hz(f64::from(DEFAULT_TICK_RATE)).timestep()
}

thread_local! {
    /// This test's clock: each test runs on a thread of its own, and every app and socket built
    /// on it keeps time by it.
    static CLOCK: TestClock = TestClock::default();
    /// The real instant this test's clock starts at, in every app's `Time<Real>`.
    static EPOCH: std::time::Instant = std::time::Instant::now();
    /// Seeds for this test's sockets, in the order they are made: a test's losses and jitter
    /// are the same every run.
    static SEEDS: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
}

/// This test's clock.
pub fn clock() -> TestClock {
    CLOCK.with(Clone::clone)
}

/// A moment on this test's clock (what `Instant` is to real time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TestInstant(Duration);

impl TestInstant {
    /// Now, on this test's clock.
    pub fn now() -> Self {
        Self(clock().now())
    }

    /// Test time since this moment.
    pub fn elapsed(&self) -> Duration {
        clock().now().saturating_sub(self.0)
    }
}

impl Add<Duration> for TestInstant {
    type Output = Self;

    fn add(self, duration: Duration) -> Self {
        Self(self.0 + duration)
    }
}

/// Makes `app` keep time by this test's clock, one server tick per update.
fn on_test_clock(app: &mut App) {
    let now = EPOCH.with(|epoch| *epoch) + clock().now();
    app.insert_resource(TimeUpdateStrategy::ManualInstant(now));
}

/// The next socket seed of this test.
fn next_seed() -> u64 {
    SEEDS.with(|seeds| {
        let seed = seeds.get();
        seeds.set(seed + 1);
        seed
    })
}

/// A socket on 127.0.0.1 (OS-assigned port) keeping time by this test's clock.
fn test_socket(conditioner: LinkConditioner) -> GameSocket {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback socket");
    GameSocket::with_test_clock(socket, conditioner, clock(), next_seed())
        .expect("configure the socket")
}

/// A server App listening on 127.0.0.1 with an OS-assigned port.
pub struct TestServer {
    pub app: App,
    pub addr: SocketAddr,
}

/// A server app listening with `settings` (bind them to loopback) for the match `game`;
/// `configure` runs after the server plugin.
pub fn server_from(
    settings: &ServerSettings,
    game: &MatchSettings,
    configure: impl FnOnce(&mut App),
) -> TestServer {
    assert!(
        settings.bind.ip().is_loopback(),
        "tests listen on loopback only"
    );
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, StatesPlugin, ServerPlugin::default()));
    on_test_clock(&mut app);
    configure(&mut app);
    let socket = UdpSocket::bind(settings.bind).expect("bind the loopback server");
    let socket = GameSocket::with_test_clock(socket, settings.conditioner, clock(), next_seed())
        .expect("configure the server socket");
    skirmish_server::set_up(app.world_mut(), game).expect("the match is set up");
    let addr = skirmish_net::server::listen_on(app.world_mut(), socket, &settings.listen_config())
        .expect("the server listens");
    TestServer { app, addr }
}

/// 127.0.0.1 with a port the OS picks.
pub fn loopback_any() -> SocketAddr {
    SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)
}

/// A secure server (key [`TEST_KEY`]) on 127.0.0.1 at `bind`, telling clients they reach it at
/// `public` (default: where it is bound).
pub fn secure_server_at(bind: SocketAddr, public: Option<SocketAddr>) -> TestServer {
    let settings = ServerSettings {
        bind,
        public_addresses: public.into_iter().collect(),
        private_key: Some(TEST_KEY),
        ..default()
    };
    server_from(&settings, &MatchSettings::default(), |_| {})
}

/// What a token for client `client_id` of the server at `addr` grants: a minute to connect,
/// `timeout` without an answer before either side gives up.
pub fn token_request(addr: SocketAddr, client_id: u64, timeout: Duration) -> TokenRequest {
    TokenRequest {
        protocol_id: skirmish_shared::protocol::PROTOCOL_ID,
        client_id,
        server_addresses: vec![addr],
        expires_in: Duration::from_secs(60),
        timeout,
    }
}

/// A headless client connecting with `token`; `configure` runs after the client plugin.
pub fn token_client(
    token: skirmish_net::netcode::ConnectToken,
    configure: impl FnOnce(&mut App),
) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, ClientPlugin));
    on_test_clock(&mut app);
    configure(&mut app);
    let socket = test_socket(LinkConditioner::default());
    skirmish_net::client::connect_with_token_on(app.world_mut(), socket, token, "T")
        .expect("start connecting");
    app
}

/// A server on 127.0.0.1 with the default settings (at most 8 clients).
pub fn server() -> TestServer {
    let settings = ServerSettings {
        bind: loopback_any(),
        max_clients: 8,
        ..default()
    };
    server_from(&settings, &MatchSettings::default(), |_| {})
}

/// A headless client app connecting to `addr` as `name`.
pub fn client(addr: SocketAddr, name: &str) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, ClientPlugin));
    on_test_clock(&mut app);
    let socket = test_socket(LinkConditioner::default());
    skirmish_net::client::connect_on(app.world_mut(), socket, addr, name)
        .expect("start connecting");
    app
}

/// Moves the test clock one tick, then updates the server and every client once, in order.
pub fn step(server: &mut TestServer, clients: &mut [&mut App]) {
    clock().advance(tick());
    on_test_clock(&mut server.app);
    server.app.update();
    for client in clients.iter_mut() {
        on_test_clock(client);
        client.update();
    }
}

/// Steps all apps until `condition` holds; panics with `what` if [`DEADLINE`] passes first.
pub fn run_until(
    server: &mut TestServer,
    clients: &mut [&mut App],
    what: &str,
    mut condition: impl FnMut(&mut TestServer, &mut [&mut App]) -> bool,
) {
    let start = TestInstant::now();
    loop {
        step(server, clients);
        if condition(server, clients) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for: {what}"
        );
    }
}

/// Steps all apps for `duration` (to show that something does *not* happen).
pub fn run_for(server: &mut TestServer, clients: &mut [&mut App], duration: Duration) {
    let start = TestInstant::now();
    while start.elapsed() < duration {
        step(server, clients);
    }
}

pub fn is_connected(client: &App) -> bool {
    *client.world().resource::<ConnectionStatus>() == ConnectionStatus::Connected
}

pub fn client_id(client: &App) -> u64 {
    client.world().resource::<ClientSession>().client_id
}

/// Every player a client sees: (owner client id, position).
pub fn players_seen(app: &mut App) -> Vec<(u64, Vec2)> {
    let mut query = app.world_mut().query::<(&Player, &Position)>();
    query
        .iter(app.world())
        .map(|(player, position)| (player.client_id, position.0))
        .collect()
}

/// The position of `owner`'s player as seen by `viewer`.
pub fn seen_position(viewer: &mut App, owner: u64) -> Option<Vec2> {
    players_seen(viewer)
        .into_iter()
        .find(|(id, _)| *id == owner)
        .map(|(_, position)| position)
}

/// Connects `clients` and waits until each has been welcomed.
pub fn connect_all(server: &mut TestServer, clients: &mut [&mut App]) {
    let start = TestInstant::now();
    loop {
        step(server, clients);
        if clients.iter().all(|client| is_connected(client)) {
            return;
        }
        if start.elapsed() > DEADLINE {
            let statuses: Vec<String> = clients
                .iter()
                .map(|client| {
                    format!(
                        "{:?} (renet connected {:?})",
                        client.world().resource::<ConnectionStatus>(),
                        client
                            .world()
                            .get_resource::<bevy_renet::RenetClient>()
                            .map(|c| c.is_connected())
                    )
                })
                .collect();
            panic!("clients did not all connect within {DEADLINE:?}: {statuses:?}");
        }
    }
}
