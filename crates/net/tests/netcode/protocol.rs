//! The netcode tests' own small game, "Dots": dots steered by a stick, named, and a chime from
//! the server. Nothing here comes from the demo, so these tests stay when a fork drops it.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use bevy::prelude::*;
use serde::{Deserialize, Serialize};
use skirmish_net::client::{ClientSession, LocalInput, NetClientPlugin};
use skirmish_net::netcode::ConnectToken;
use skirmish_net::prelude::*;
use skirmish_net::registry::Quantize;
use skirmish_net::server::{ClientInput, ListenConfig, ServerTransport};
use skirmish_net::testing::{TestNet, Wire};
use skirmish_net::tokens::{PrivateKey, TokenRequest, mint_token};

/// The test game's netcode identity.
pub const PROTOCOL: GameProtocol = GameProtocol {
    id: 0x444F_5453_0000_0001, // "DOTS"
    version: 3,
};

/// The server's tick rate in these tests.
pub const TICK_RATE: u16 = 60;

/// Units a dot moves per second at full stick.
pub const SPEED: f32 = 120.0;

/// Wire steps per unit of a [`Dot`]'s position.
pub const STEPS_PER_UNIT: f32 = 16.0;

/// A dot's place: replicated quantized, predicted by its owner, interpolated by everyone else.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq)]
pub struct Dot(pub Vec2);

impl Quantize for Dot {
    const FIELDS: usize = 2;
    const WRAP: [u32; 4] = [0; 4];

    fn quantize(&self) -> Quantized {
        let at = (self.0 * STEPS_PER_UNIT).round();
        [at.x as i32, at.y as i32, 0, 0]
    }

    fn dequantize(q: Quantized) -> Self {
        Self(Vec2::new(q[0] as f32, q[1] as f32) / STEPS_PER_UNIT)
    }
}

skirmish_net::blend_newtype!(Dot);

/// Which client steers a dot (netcode client id).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[require(Dot)]
pub struct Owner(pub u64);

/// Any text, replicated whole (to test serde components and their size limit).
#[derive(Component, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label(pub String);

/// The input: a direction, each axis in -1..=1.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stick(pub Vec2);

impl NetInput for Stick {
    fn sanitized(self) -> Self {
        if self.0.is_finite() {
            Self(self.0.clamp(Vec2::NEG_ONE, Vec2::ONE))
        } else {
            Self::default()
        }
    }
}

/// Server to clients: a counter the server rings.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chime(pub u32);

/// The one rule both sides run: a dot under a stick for `dt` seconds, on the wire's grid so
/// prediction and server agree exactly.
pub fn steer(dot: Dot, stick: Stick, dt: f32) -> Dot {
    let stick = stick.sanitized();
    Dot::dequantize(Dot(dot.0 + stick.0 * SPEED * dt).quantize())
}

/// What both apps register, in the same order.
pub fn shared(app: &mut App) {
    app.insert_resource(PROTOCOL)
        .add_input::<Stick>()
        .replicate_quantized::<Dot>()
        .predict()
        .interpolate()
        .replicate::<Owner>()
        .replicate::<Label>()
        .add_server_message::<Chime>();
}

/// The server's rules: a dot for each client that joins, moved by its stick.
pub fn server_rules(app: &mut App) {
    app.add_plugins((shared, NetServerPlugin::new(TICK_RATE)))
        .add_observer(spawn_dot)
        .add_systems(
            FixedUpdate,
            steer_dots
                .after(ServerSystems::Inputs)
                .in_set(SimulationSystems::Simulate),
        );
}

fn spawn_dot(joined: On<ClientJoined>, mut commands: Commands) {
    commands.spawn((
        Replicated,
        Owner(joined.client_id),
        ControlledBy(joined.client),
    ));
}

fn steer_dots(
    time: Res<Time>,
    sticks: Query<&ClientInput<Stick>>,
    mut dots: Query<(&ControlledBy, &mut Dot)>,
) {
    for (controlled_by, mut dot) in &mut dots {
        if let Ok(stick) = sticks.get(controlled_by.0) {
            let next = steer(*dot, stick.0, time.delta_secs());
            if next != *dot {
                *dot = next;
            }
        }
    }
}

/// The client's rules: its own dot predicted, the others interpolated.
pub fn client_rules(app: &mut App) {
    app.add_plugins((shared, NetClientPlugin))
        .add_systems(PredictionStep, steer_own_dot);
}

fn steer_own_dot(input: Res<PredictedInput<Stick>>, mut dots: Query<&mut Predicted<Dot>>) {
    for mut dot in &mut dots {
        dot.value = steer(dot.value, input.input, input.dt);
    }
}

/// A server app of the test game, not yet listening.
pub fn server_app(configure: impl FnOnce(&mut App)) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, server_rules));
    configure(&mut app);
    app
}

/// A client app of the test game, not yet connected.
pub fn client_app(configure: impl FnOnce(&mut App)) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, client_rules));
    configure(&mut app);
    app
}

/// A test net with the test game's server and `clients` plain clients, all welcomed.
pub fn connected(wire: Wire, seed: u64, clients: usize) -> TestNet {
    let mut net = TestNet::new(wire, seed, server_app(|_| {})).expect("the server listens");
    for index in 0..clients {
        net.add_client(client_app(|_| {}), &format!("c{index}"))
            .expect("the client connects");
    }
    net.connect_all();
    net
}

/// Sets the stick of client `index`.
pub fn set_stick(net: &mut TestNet, index: usize, stick: Vec2) {
    net.client_mut(index)
        .world_mut()
        .resource_mut::<LocalInput<Stick>>()
        .0 = Stick(stick);
}

/// The server's dot of client `index`.
pub fn server_dot(net: &mut TestNet, index: usize) -> Option<(Entity, Dot)> {
    let id = net.client_id(index);
    let world = net.server_mut().world_mut();
    let mut dots = world.query::<(Entity, &Owner, &Dot)>();
    dots.iter(world)
        .find(|(_, owner, _)| owner.0 == id)
        .map(|(entity, _, dot)| (entity, *dot))
}

/// Snapshots client `index` applied so far.
pub fn snapshots(net: &TestNet, index: usize) -> u64 {
    net.client(index)
        .world()
        .resource::<ClientSession>()
        .snapshots_applied
}

/// The server's simulation tick.
pub fn server_tick(net: &TestNet) -> u32 {
    net.server().world().resource::<SimulationTick>().0
}

/// Datagrams the server's transport dropped so far (junk, replays, floods).
pub fn dropped(net: &TestNet) -> u64 {
    net.server()
        .world()
        .resource::<ServerTransport>()
        .dropped_datagrams()
}

/// The private key of the tests' secure servers.
pub const KEY: PrivateKey = [7; 32];

/// How a secure server (key [`KEY`]) listens; `public`: where it tells clients they reach it
/// (default: where it is bound).
pub fn secure(public: Option<SocketAddr>) -> ListenConfig {
    ListenConfig {
        public_addresses: public.into_iter().collect(),
        private_key: Some(KEY),
        ..ListenConfig::default()
    }
}

/// What a token for `client_id` at `server` grants: a minute to connect, `timeout` without an
/// answer before either side gives up.
pub fn token_request(server: SocketAddr, client_id: u64, timeout: Duration) -> TokenRequest {
    TokenRequest {
        protocol_id: PROTOCOL.id,
        client_id,
        server_addresses: vec![server],
        expires_in: Duration::from_secs(60),
        timeout,
    }
}

/// A connect token of [`KEY`] for `client_id` at `server`, timing out after `timeout`.
pub fn token(server: SocketAddr, client_id: u64, timeout: Duration) -> ConnectToken {
    mint_token(&KEY, &token_request(server, client_id, timeout)).expect("mint a token")
}

/// Forwards datagrams between one client and the server over loopback UDP (so the server sees
/// the relay as the client, and the client sees it as the server), recording both directions.
pub struct Relay {
    pub socket: UdpSocket,
    pub addr: SocketAddr,
    pub server: SocketAddr,
    pub client: Option<SocketAddr>,
    /// What the client sent, in order.
    pub recorded: Vec<Vec<u8>>,
    /// What the server sent, in order.
    pub from_server: Vec<Vec<u8>>,
}

impl Relay {
    /// A relay on 127.0.0.1; set [`Relay::server`] once the server listens.
    pub fn bind() -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the relay");
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        Self {
            socket,
            addr,
            server: addr,
            client: None,
            recorded: Vec::new(),
            from_server: Vec::new(),
        }
    }

    /// Forwards everything waiting.
    pub fn pump(&mut self) {
        let mut buffer = [0u8; 2048];
        while let Ok((len, from)) = self.socket.recv_from(&mut buffer) {
            if from == self.server {
                self.from_server.push(buffer[..len].to_vec());
                if let Some(client) = self.client {
                    let _ = self.socket.send_to(&buffer[..len], client);
                }
            } else {
                self.client = Some(from);
                self.recorded.push(buffer[..len].to_vec());
                let _ = self.socket.send_to(&buffer[..len], self.server);
            }
        }
    }

    /// Steps `net` once and forwards what it sent.
    pub fn step(&mut self, net: &mut TestNet) {
        net.step();
        self.pump();
    }

    /// Like [`TestNet::run_until`], forwarding after every step.
    pub fn run_until(
        &mut self,
        net: &mut TestNet,
        what: &str,
        max_steps: u32,
        mut condition: impl FnMut(&mut TestNet) -> bool,
    ) -> u32 {
        net.run_until(what, max_steps, |net| {
            self.pump();
            condition(net)
        })
    }
}

/// A test game's server on loopback that clients reach through a [`Relay`]: its public address
/// (the one tokens name and clients dial) is the relay's. `secure`: tokens of [`KEY`] required.
pub fn relayed(seed: u64, secure: bool) -> (TestNet, Relay) {
    let mut relay = Relay::bind();
    let config = ListenConfig {
        public_addresses: vec![relay.addr],
        private_key: secure.then_some(KEY),
        ..ListenConfig::default()
    };
    let net = TestNet::with_config(Wire::Loopback, seed, server_app(|_| {}), &config)
        .expect("the server listens");
    relay.server = net.server_addr();
    (net, relay)
}

/// An unsecure [`relayed`] server with one client that dials the relay, welcomed.
pub fn relayed_client(seed: u64) -> (TestNet, Relay) {
    let (mut net, mut relay) = relayed(seed, false);
    net.add_client_dialing(
        client_app(|_| {}),
        "relayed",
        skirmish_net::socket::LinkConditioner::default(),
        relay.addr,
    )
    .expect("the client starts connecting");
    relay.run_until(&mut net, "the relayed client connects", 600, |net| {
        net.is_welcomed(0)
    });
    (net, relay)
}
