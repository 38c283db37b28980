//! The netcode tests' own small game, "Dots": dots steered by a stick, named, and a chime from
//! the server. Nothing here comes from the demo, so these tests stay when a fork drops it.

use bevy::prelude::*;
use serde::{Deserialize, Serialize};
use skirmish_net::client::{ClientSession, ClientSystems, Controlled, LocalInput, NetClientPlugin};
use skirmish_net::prelude::*;
use skirmish_net::replication::Quantize;
use skirmish_net::server::ClientInput;
use skirmish_net::testing::{TestNet, Wire};

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

impl Blend for Dot {
    fn lerp(&self, to: &Self, t: f32) -> Self {
        Self(self.0.lerp(to.0, t))
    }

    fn distance(&self, other: &Self) -> f32 {
        self.0.distance(other.0)
    }

    fn offset_by(&self, a: &Self, b: &Self) -> Self {
        Self(self.0 + a.0 - b.0)
    }
}

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
        .replicate_quantized::<Dot>()
        .replicate::<Owner>()
        .replicate::<Label>()
        .add_server_message::<Chime>();
}

/// The server's rules: a dot for each client that joins, moved by its stick.
pub fn server_rules(app: &mut App) {
    app.add_plugins((shared, NetServerPlugin::<Stick>::new(TICK_RATE)))
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
    app.add_plugins((shared, NetClientPlugin::<Stick>::default()))
        .predict::<Dot>()
        .interpolate::<Dot>()
        .add_systems(PredictionStep, steer_own_dot)
        .add_systems(
            PreUpdate,
            take_own_dot
                .after(ClientSystems::Receive)
                .before(ClientSystems::Reconcile),
        );
}

fn take_own_dot(
    mut commands: Commands,
    session: Res<ClientSession>,
    dots: Query<(Entity, &Owner), Without<Controlled>>,
) {
    if !session.welcomed {
        return;
    }
    for (entity, owner) in &dots {
        if owner.0 == session.client_id {
            commands.entity(entity).insert(Controlled);
        }
    }
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
