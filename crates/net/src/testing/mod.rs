//! A test harness for any game on `skirmish-net` (feature `test-utils`): the game's server app
//! and client apps in one process, stepped together on a clock the test controls, connected over
//! loopback UDP or over an in-memory network. Netcode, renet, the renet guard and the link
//! conditioner run as in a real game; on the in-memory wire only the socket is replaced, and loss
//! and jitter are drawn from the harness's seed, so one seed is one run: the same datagrams lost
//! and delayed, the same snapshots applied in the same steps (keys and nonces still come from the
//! operating system, so the encrypted bytes differ).
//!
//! ```
//! use bevy::prelude::*;
//! use skirmish_net::prelude::*;
//! use skirmish_net::testing::{TestNet, Wire};
//!
//! #[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Walk;
//! impl NetInput for Walk {}
//!
//! fn shared(app: &mut App) {
//!     app.insert_resource(GameProtocol { id: 7, version: 1 }).add_input::<Walk>();
//! }
//!
//! let mut server = App::new();
//! server.add_plugins((MinimalPlugins, shared, NetServerPlugin::new(60)));
//! let mut net = TestNet::new(Wire::Memory, 1, server).unwrap();
//!
//! let mut client = App::new();
//! client.add_plugins((MinimalPlugins, shared, NetClientPlugin));
//! net.add_client(client, "ada").unwrap();
//! net.connect_all();
//! assert_eq!(net.server().world().resource::<skirmish_net::server::ConnectedClients>().len(), 1);
//! ```

pub mod fault_schedule;
pub mod match_sim;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

use crate::client::{ClientSession, ConnectError, ConnectionStatus, ServerEntityMap};
use crate::netcode::ConnectToken;
use crate::server::{ConnectedClients, ListenConfig, ReplicationState, StartError};
use crate::socket::{GameSocket, LinkConditioner};
use crate::tick::DEFAULT_TICK_RATE;

pub use crate::socket::memory::{MemoryNetwork, MemoryPort, TestClock};

/// How long [`TestNet::connect_all`] waits, on the test clock.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// What the apps of a [`TestNet`] talk through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Real UDP sockets on 127.0.0.1, OS-assigned ports: the kernel's network stack in the loop.
    Loopback,
    /// An in-memory network: no kernel, and one seed is one run (the same losses, delays and
    /// snapshots).
    Memory,
}

/// Runs every schedule of `app` on the calling thread.
fn single_threaded(app: &mut App) {
    use bevy::ecs::schedule::{Schedules, SingleThreadedExecutor};
    if let Some(mut schedules) = app.world_mut().get_resource_mut::<Schedules>() {
        for (_, schedule) in schedules.iter_mut() {
            schedule.set_executor(SingleThreadedExecutor::new());
        }
    }
}

/// A server app and its clients, stepped together on one test clock.
pub struct TestNet {
    server: App,
    server_addr: SocketAddr,
    /// Every client added, by index; `None` once removed (indices never move).
    clients: Vec<Option<App>>,
    wire: Wire,
    network: MemoryNetwork,
    rng: fastrand::Rng,
    step: Duration,
    steps: u64,
    /// The real instant the test clock's zero stands for, in every app's `Time<Real>`.
    epoch: Instant,
}

impl TestNet {
    /// Listens with `server` (an app with `MinimalPlugins`, the game's plugins and
    /// `NetServerPlugin`) on `wire`, with the default [`ListenConfig`]. `seed` picks client ids
    /// and every socket's loss and jitter.
    pub fn new(wire: Wire, seed: u64, server: App) -> Result<Self, StartError> {
        Self::with_config(wire, seed, server, &ListenConfig::default())
    }

    /// Like [`TestNet::new`], listening with `config` (its conditioner applies to the server's
    /// socket; its public addresses default to where the server is bound).
    pub fn with_config(
        wire: Wire,
        seed: u64,
        server: App,
        config: &ListenConfig,
    ) -> Result<Self, StartError> {
        let conditioner = config.conditioner;
        Self::with_listener(wire, seed, server, conditioner, |world, socket| {
            crate::server::listen_on(world, socket, config)
        })
    }

    /// Like [`TestNet::new`], with the game's own way to listen (a game whose server wraps
    /// [`listen_on`](crate::server::listen_on) with settings of its own): `listen` gets the
    /// server's socket, conditioned by `conditioner`, and returns where it listens.
    pub fn with_listener(
        wire: Wire,
        seed: u64,
        mut server: App,
        conditioner: LinkConditioner,
        listen: impl FnOnce(&mut World, GameSocket) -> Result<SocketAddr, StartError>,
    ) -> Result<Self, StartError> {
        // Exactly the fixed timestep, so every step runs exactly one tick.
        let step = server.world().get_resource::<Time<Fixed>>().map_or_else(
            || Time::<Fixed>::from_hz(f64::from(DEFAULT_TICK_RATE)).timestep(),
            Time::timestep,
        );
        // (Its own stream, so the sockets' seeds stay what they were before faults existed.)
        let network = MemoryNetwork::with_seed(seed ^ 0x5EED_FA17);
        let mut rng = fastrand::Rng::with_seed(seed);
        let socket = server_socket(wire, &network, None, conditioner, rng.u64(..))?;
        let epoch = Instant::now();
        single_threaded(&mut server);
        server.insert_resource(TimeUpdateStrategy::ManualInstant(epoch));
        let server_addr = listen(server.world_mut(), socket)?;
        Ok(Self {
            server,
            server_addr,
            clients: Vec::new(),
            wire,
            network,
            rng,
            step,
            steps: 0,
            epoch,
        })
    }

    /// Makes `app` read the test clock (it reads it anew at every [`TestNet::step`]).
    /// (Also runs its schedules on one thread: the apps of a test net take turns anyway, and
    /// handing a few dozen small systems to a thread pool costs more than running them.)
    fn on_test_clock(&self, app: &mut App) {
        single_threaded(app);
        let now = self.epoch + self.network.clock().now();
        app.insert_resource(TimeUpdateStrategy::ManualInstant(now));
    }

    /// Connects `client` (an app with `MinimalPlugins`, the game's plugins and `NetClientPlugin`)
    /// to the unsecure server as `name`, its socket conditioned by `conditioner`. Returns its index.
    pub fn add_client(&mut self, client: App, name: &str) -> Result<usize, ConnectError> {
        self.add_conditioned_client(client, name, LinkConditioner::default())
    }

    /// Like [`TestNet::add_client`], with loss, latency and jitter on the client's socket (both
    /// directions), drawn from the harness's seed.
    pub fn add_conditioned_client(
        &mut self,
        client: App,
        name: &str,
        conditioner: LinkConditioner,
    ) -> Result<usize, ConnectError> {
        let server = self.server_addr;
        self.add_client_dialing(client, name, conditioner, server)
    }

    /// Like [`TestNet::add_conditioned_client`], dialing `server` instead of the server's own
    /// address: a relay in front of it (the server's public addresses must name it).
    pub fn add_client_dialing(
        &mut self,
        mut client: App,
        name: &str,
        conditioner: LinkConditioner,
        server: SocketAddr,
    ) -> Result<usize, ConnectError> {
        let socket = self.client_socket(conditioner)?;
        let client_id = self.rng.u64(1..);
        self.on_test_clock(&mut client);
        crate::client::connect_unsecure_on(client.world_mut(), socket, server, client_id, name)?;
        self.clients.push(Some(client));
        Ok(self.clients.len() - 1)
    }

    /// Connects client `index` again (after it left or was refused), as `name`, on a new socket
    /// with a new client id: what a player's "join" button does a second time.
    pub fn reconnect(&mut self, index: usize, name: &str) -> Result<(), ConnectError> {
        let socket = self.client_socket(LinkConditioner::default())?;
        let client_id = self.rng.u64(1..);
        let server = self.server_addr;
        crate::client::connect_unsecure_on(
            self.client_mut(index).world_mut(),
            socket,
            server,
            client_id,
            name,
        )?;
        Ok(())
    }

    /// Takes client `index` out of the net and returns it; every other client keeps its index.
    /// Dropping the app closes its socket without a word to the server, as if its process was
    /// killed.
    pub fn remove_client(&mut self, index: usize) -> App {
        self.clients
            .get_mut(index)
            .and_then(Option::take)
            .unwrap_or_else(|| panic!("no client {index}"))
    }

    /// Drops the server app and its socket, as if its process died: no disconnect packet. Until
    /// [`TestNet::listen_again`], steps update the clients and an empty server app.
    pub fn drop_server(&mut self) {
        drop(std::mem::replace(&mut self.server, App::new()));
    }

    /// After [`TestNet::drop_server`]: `server` listens with `config` at the address the old one
    /// had, as a restarted server process would.
    pub fn listen_again(
        &mut self,
        mut server: App,
        config: &ListenConfig,
    ) -> Result<(), StartError> {
        let seed = self.rng.u64(..);
        let socket = server_socket(
            self.wire,
            &self.network,
            Some(self.server_addr),
            config.conditioner,
            seed,
        )?;
        self.on_test_clock(&mut server);
        let addr = crate::server::listen_on(server.world_mut(), socket, config)?;
        if addr != self.server_addr {
            return Err(StartError::InvalidSetting(format!(
                "the server came back at {addr}, not at {}",
                self.server_addr
            )));
        }
        self.server = server;
        Ok(())
    }

    /// Connects `client` to a secure server with `token` (minted for [`TestNet::server_addr`]).
    pub fn add_token_client(
        &mut self,
        mut client: App,
        token: ConnectToken,
        name: &str,
        conditioner: LinkConditioner,
    ) -> Result<usize, ConnectError> {
        let socket = self.client_socket(conditioner)?;
        self.on_test_clock(&mut client);
        crate::client::connect_with_token_on(client.world_mut(), socket, token, name)?;
        self.clients.push(Some(client));
        Ok(self.clients.len() - 1)
    }

    fn client_socket(&mut self, conditioner: LinkConditioner) -> Result<GameSocket, ConnectError> {
        let seed = self.rng.u64(..);
        match self.wire {
            Wire::Loopback => GameSocket::with_test_clock(
                UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(ConnectError::Socket)?,
                conditioner,
                self.network.clock(),
                seed,
            )
            .map_err(ConnectError::Socket),
            Wire::Memory => {
                let port = self.network.bind().ok_or_else(|| {
                    ConnectError::Netcode("the in-memory network is out of ports".into())
                })?;
                Ok(GameSocket::in_memory(port, conditioner, seed))
            }
        }
    }

    /// Where clients reach the server (for connect tokens and raw datagrams on loopback).
    pub fn server_addr(&self) -> SocketAddr {
        self.server_addr
    }

    /// The wire the apps talk through.
    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// The in-memory network (bind extra ports on it to play a raw peer on [`Wire::Memory`]).
    pub fn network(&self) -> &MemoryNetwork {
        &self.network
    }

    /// A raw socket on this net's wire, to play an attacker that sends whatever bytes it likes:
    /// a UDP socket on 127.0.0.1 on [`Wire::Loopback`], a port of the in-memory network on
    /// [`Wire::Memory`].
    pub fn raw_peer(&self) -> std::io::Result<RawPeer> {
        match self.wire {
            Wire::Loopback => {
                let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
                socket.set_nonblocking(true)?;
                Ok(RawPeer::Udp(socket))
            }
            Wire::Memory => self
                .network
                .bind()
                .map(RawPeer::Memory)
                .ok_or_else(|| std::io::Error::other("the in-memory network is out of ports")),
        }
    }

    /// The test clock every app and socket keeps time by.
    pub fn clock(&self) -> TestClock {
        self.network.clock()
    }

    /// How far one [`TestNet::step`] moves the clock: one server tick.
    pub fn step_duration(&self) -> Duration {
        self.step
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The server app.
    pub fn server(&self) -> &App {
        &self.server
    }

    /// The server app, to change its world.
    pub fn server_mut(&mut self) -> &mut App {
        &mut self.server
    }

    /// Client `index` (in the order they were added); panics if it was removed.
    pub fn client(&self, index: usize) -> &App {
        self.clients
            .get(index)
            .and_then(Option::as_ref)
            .unwrap_or_else(|| panic!("no client {index}"))
    }

    /// Client `index`, to change its world; panics if it was removed.
    pub fn client_mut(&mut self, index: usize) -> &mut App {
        self.clients
            .get_mut(index)
            .and_then(Option::as_mut)
            .unwrap_or_else(|| panic!("no client {index}"))
    }

    /// The indices of the clients in the net (removed ones left out), in order.
    pub fn client_indices(&self) -> impl Iterator<Item = usize> + use<> {
        let present: Vec<usize> = (0..self.clients.len())
            .filter(|&index| self.clients[index].is_some())
            .collect();
        present.into_iter()
    }

    /// Every client in the net, in the order they were added.
    pub fn clients_mut(&mut self) -> impl Iterator<Item = &mut App> {
        self.clients.iter_mut().flatten()
    }

    /// How many clients are in the net (added and not removed).
    pub fn client_count(&self) -> usize {
        self.clients.iter().flatten().count()
    }

    /// Moves the clock one tick, then updates the server and every client once, in order.
    pub fn step(&mut self) {
        let clock = self.network.clock();
        clock.advance(self.step);
        // Every app reads the one clock the sockets keep time by (a late app's first update
        // only starts its clock, as any Bevy app's does).
        let now = self.epoch + clock.now();
        self.server
            .insert_resource(TimeUpdateStrategy::ManualInstant(now));
        self.server.update();
        for client in self.clients.iter_mut().flatten() {
            client.insert_resource(TimeUpdateStrategy::ManualInstant(now));
            client.update();
        }
        self.steps += 1;
    }

    /// Like [`TestNet::step`], with the server stalled: the clock moves and the clients update,
    /// the server does not (a frame stuck on a slow disk, a descheduled process). Its next
    /// step catches up on the ticks it missed.
    pub fn step_server_stalled(&mut self) {
        let clock = self.network.clock();
        clock.advance(self.step);
        let now = self.epoch + clock.now();
        for client in self.clients.iter_mut().flatten() {
            client.insert_resource(TimeUpdateStrategy::ManualInstant(now));
            client.update();
        }
        self.steps += 1;
    }

    /// Moves the clock `by` at once, with no app updated in between: what every app sees of a
    /// machine that slept or a clock that jumped.
    pub fn jump_clock(&mut self, by: Duration) {
        self.network.clock().advance(by);
    }

    /// Steps `count` times.
    pub fn run(&mut self, count: u32) {
        for _ in 0..count {
            self.step();
        }
    }

    /// Steps `duration` of test time (rounded up to whole steps).
    pub fn run_for(&mut self, duration: Duration) {
        let steps = duration.as_nanos().div_ceil(self.step.as_nanos().max(1));
        self.run(u32::try_from(steps).unwrap_or(u32::MAX));
    }

    /// Steps until `condition` holds (checked after each step), at most `max_steps` times;
    /// panics naming `what` if it never does. Returns the steps it took.
    pub fn run_until(
        &mut self,
        what: &str,
        max_steps: u32,
        mut condition: impl FnMut(&mut Self) -> bool,
    ) -> u32 {
        for taken in 1..=max_steps {
            self.step();
            if condition(self) {
                return taken;
            }
        }
        panic!("{what}: not within {max_steps} steps");
    }

    /// Steps until every client is welcomed; panics with each client's status if that takes
    /// longer than [`CONNECT_WITHIN`] on the test clock.
    pub fn connect_all(&mut self) {
        let max_steps = self.steps_in(CONNECT_WITHIN);
        for _ in 0..max_steps {
            self.step();
            if self.client_indices().all(|index| self.is_welcomed(index)) {
                return;
            }
        }
        let statuses: Vec<String> = self
            .client_indices()
            .map(|index| {
                let status = self
                    .client(index)
                    .world()
                    .get_resource::<ConnectionStatus>();
                format!("client {index}: {status:?}")
            })
            .collect();
        panic!("clients were not all welcomed within {CONNECT_WITHIN:?}: {statuses:?}");
    }

    /// How many steps make `duration` (at least one).
    pub fn steps_in(&self, duration: Duration) -> u32 {
        let steps = duration.as_nanos().div_ceil(self.step.as_nanos().max(1));
        u32::try_from(steps).unwrap_or(u32::MAX).max(1)
    }

    /// Whether client `index` is connected and welcomed.
    pub fn is_welcomed(&self, index: usize) -> bool {
        self.client(index)
            .world()
            .get_resource::<ConnectionStatus>()
            .is_some_and(ConnectionStatus::is_connected)
    }

    /// Why client `index`'s connection ended, as it shows the player; `None` while it is
    /// connecting, connected or idle.
    pub fn disconnect_reason(&self, index: usize) -> Option<String> {
        match self
            .client(index)
            .world()
            .get_resource::<ConnectionStatus>()?
        {
            ConnectionStatus::Disconnected { reason } => Some(reason.clone()),
            _ => None,
        }
    }

    /// Client `index`'s netcode client id (0 until a token client is welcomed).
    pub fn client_id(&self, index: usize) -> u64 {
        self.client(index)
            .world()
            .get_resource::<ClientSession>()
            .map_or(0, |session| session.client_id)
    }

    /// The server's entity for client `index`'s connection, once it joined.
    pub fn server_client_entity(&self, index: usize) -> Option<Entity> {
        let id = self.client_id(index);
        self.server
            .world()
            .get_resource::<ConnectedClients>()?
            .get(&id)
            .copied()
    }

    /// The entity on client `index` that mirrors `server_entity`, once it was replicated there.
    pub fn replica(&self, index: usize, server_entity: Entity) -> Option<Entity> {
        let net_id = self
            .server
            .world()
            .get_resource::<ReplicationState>()?
            .net_id(server_entity)?;
        self.client(index)
            .world()
            .get_resource::<ServerEntityMap>()?
            .get(net_id)
    }

    /// Component `C` of `server_entity` as client `index` has it.
    pub fn replica_component<C: Component>(
        &self,
        index: usize,
        server_entity: Entity,
    ) -> Option<&C> {
        let entity = self.replica(index, server_entity)?;
        self.client(index).world().get::<C>(entity)
    }
}

/// A raw socket on a [`TestNet`]'s wire ([`TestNet::raw_peer`]): no netcode, no conditioner,
/// just datagrams, as an attacker has them.
#[derive(Debug)]
pub enum RawPeer {
    /// A non-blocking UDP socket on 127.0.0.1.
    Udp(UdpSocket),
    /// A port of the in-memory network.
    Memory(MemoryPort),
}

impl RawPeer {
    /// This socket's address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::Udp(socket) => socket
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            Self::Memory(port) => port.addr(),
        }
    }

    /// Sends `bytes` to `to`. A full buffer loses the datagram (UDP may say so; the in-memory
    /// network does not).
    pub fn send_to(&self, bytes: &[u8], to: SocketAddr) -> std::io::Result<usize> {
        match self {
            Self::Udp(socket) => socket.send_to(bytes, to),
            Self::Memory(port) => port.send_to(bytes, to),
        }
    }

    /// The oldest datagram waiting here; `WouldBlock` when none is.
    pub fn recv_from(&self, buffer: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        match self {
            Self::Udp(socket) => socket.recv_from(buffer),
            Self::Memory(port) => port.recv_from(buffer),
        }
    }
}

/// A socket for a server on `wire`: at `addr` (a restarted server) or wherever the OS or the
/// in-memory network puts it.
fn server_socket(
    wire: Wire,
    network: &MemoryNetwork,
    addr: Option<SocketAddr>,
    conditioner: LinkConditioner,
    seed: u64,
) -> Result<GameSocket, StartError> {
    match wire {
        Wire::Loopback => {
            let addr = addr.unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
            GameSocket::with_test_clock(
                UdpSocket::bind(addr).map_err(StartError::Socket)?,
                conditioner,
                network.clock(),
                seed,
            )
            .map_err(StartError::Socket)
        }
        Wire::Memory => {
            let port = match addr {
                Some(addr) => network.bind_at(addr).ok_or_else(|| {
                    StartError::InvalidSetting(format!("{addr} is taken on the in-memory network"))
                })?,
                None => network.bind().ok_or_else(|| {
                    StartError::InvalidSetting("the in-memory network is out of ports".into())
                })?,
            };
            Ok(GameSocket::in_memory(port, conditioner, seed))
        }
    }
}
