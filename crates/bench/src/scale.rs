//! The replication benchmark at scale behind `skirmish bench`: the server's real collect + snapshot path,
//! driven tick by tick without sockets, with every client acknowledging each snapshot one tick
//! later (a perfect link).
//!
//! The reference body is a 2D entity with [`Position`], [`Velocity`] and [`Rotation`] in a
//! 2000 x 2000 arena, moving at 90-110 units/s in a random direction, bouncing off the walls,
//! turning 0.01 rad per tick, at 60 Hz.

use std::time::Instant;

use bevy::prelude::*;
use serde::Serialize;
use skirmish_shared::SharedPlugin;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::{Snapshot, encode};

use bevy::tasks::{TaskPool, TaskPoolBuilder};
use skirmish_net::internals::{
    InterestView, SnapshotCache, build_payloads, collect_into, resolve_relevance,
    set_history_horizon, set_view,
};
use skirmish_net::server::interest::{AppInterestExt, InterestSettings};
use skirmish_net::server::{ClientReplication, ReplicationState};

/// Half the side of the benchmark arena.
const HALF: f32 = 1000.0;
/// Ticks per second.
const RATE: f32 = 60.0;

/// One benchmark scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Connected clients.
    pub clients: usize,
    /// Replicated entities.
    pub entities: usize,
    /// Fraction of entities moving (the rest rest).
    pub moving_fraction: f32,
    /// Ticks measured after warm-up.
    pub ticks: usize,
    /// Threads building the clients' snapshots (1: the tick's thread only).
    pub threads: usize,
    /// A large world: its side (the bodies spread over it) and each client's interest radius
    /// around a random centre. `None`: the 2000 x 2000 reference arena, every client gets all.
    pub world: Option<(f32, f32)>,
}

/// The figures of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Connected clients.
    pub clients: usize,
    /// Replicated entities.
    pub entities: usize,
    /// Fraction of entities moving.
    pub moving_fraction: f32,
    /// Threads building the clients' snapshots.
    pub threads: usize,
    /// The world's side, when larger than the reference arena (interest management on).
    pub world_side: Option<f32>,
    /// Mean entities relevant to a client (all of them without interest management).
    pub relevant_per_client: f64,
    /// Mean snapshot payload bytes per moving entity per snapshot (per client).
    pub bytes_per_moving_entity: f64,
    /// Mean snapshot payload bytes per entity when the whole world rests.
    pub bytes_per_resting_entity: f64,
    /// Mean bytes of snapshot messages (renet payload: message header + payload) per client per
    /// second; netcode and UDP add about 60 bytes per packet on top.
    pub bytes_per_client_per_s: f64,
    /// Median server time per tick to collect changes and build and encode every client's
    /// snapshot, in microseconds.
    pub server_us_per_tick: f64,
    /// 99th percentile of the same.
    pub server_us_per_tick_p99: f64,
    /// `server_us_per_tick / clients`: what one more client costs, on average.
    pub server_us_per_client: f64,
    /// The naive encoding: every entity's full state as `f32`s with bincode, per entity.
    pub naive_bytes_per_moving_entity: f64,
    /// `naive_bytes_per_moving_entity / bytes_per_moving_entity`.
    pub naive_ratio: f64,
}

/// The scenario grid `skirmish bench` runs: clients 1/16/64 x entities 100/1000/5000 with a
/// quarter of the entities moving, plus the reference rows (1000 entities, all moving).
pub fn default_grid() -> Vec<Scenario> {
    let mut grid = Vec::new();
    for clients in [1, 16, 64] {
        for entities in [100, 1000, 5000] {
            grid.push(Scenario {
                clients,
                entities,
                moving_fraction: 0.25,
                ticks: 120,
                threads: 1,
                world: None,
            });
        }
    }
    for (clients, threads) in [(1, 1), (64, 1), (64, 2)] {
        grid.push(Scenario {
            clients,
            entities: 1000,
            moving_fraction: 1.0,
            ticks: 120,
            threads,
            world: None,
        });
    }
    grid.extend(large_world_rows());
    grid
}

/// The interest radius that holds about 300 of `entities` spread evenly over a square of `side`:
/// pi r^2 * entities / side^2 = 300.
pub fn radius_for(side: f32, entities: usize) -> f32 {
    side * (300.0 / (std::f32::consts::PI * entities.max(1) as f32)).sqrt()
}

/// The large world: 20,000 entities of which a quarter move, over 16,000 x 16,000, 200 clients
/// spread over it with about 300 relevant entities each; with 1 and 2 threads. Then the world
/// doubled (entities and area) at the same density per client: 400 clients (the cost per client
/// should stay flat), and with the same 200 clients (what entities nobody sees cost).
pub fn large_world_rows() -> Vec<Scenario> {
    let radius = radius_for(16_000.0, 20_000);
    let row = |clients: usize, entities: usize, side: f32, threads| Scenario {
        clients,
        entities,
        moving_fraction: 0.25,
        ticks: 200,
        threads,
        world: Some((side, radius)),
    };
    let doubled = 16_000.0 * std::f32::consts::SQRT_2;
    vec![
        row(200, 20_000, 16_000.0, 1),
        row(200, 20_000, 16_000.0, 2),
        row(400, 40_000, doubled, 2),
        row(200, 40_000, doubled, 2),
    ]
}

/// A tiny deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Moving entities of the reference scenario.
#[derive(Component)]
struct Moving;

fn move_bodies(world: &mut World, half: f32) {
    let mut query =
        world.query_filtered::<(&mut Position, &mut Velocity, &mut Rotation), With<Moving>>();
    for (mut position, mut velocity, mut rotation) in query.iter_mut(world) {
        let mut next = position.0 + velocity.0 / RATE;
        if next.x.abs() > half {
            velocity.x = -velocity.x;
            next.x = next.x.clamp(-half, half);
        }
        if next.y.abs() > half {
            velocity.y = -velocity.y;
            next.y = next.y.clamp(-half, half);
        }
        position.0 = next;
        rotation.0 += 0.01;
    }
}

/// The server's collect-and-snapshot path without sockets: a world of reference bodies (the first
/// `moving` of them move) and clients that acknowledge each snapshot one tick later.
struct Harness {
    app: App,
    state: ReplicationState,
    cache: SnapshotCache,
    clients: Vec<ClientReplication>,
    tick: u32,
    /// The threads building snapshots, when more than one.
    pool: Option<TaskPool>,
    /// Half the side of the world the bodies bounce in.
    half: f32,
}

impl Harness {
    fn new(scenario: &Scenario, moving: usize) -> Self {
        let (clients, entities, threads) = (scenario.clients, scenario.entities, scenario.threads);
        let half = scenario.world.map_or(HALF, |(side, _)| side / 2.0);
        let mut app = App::new();
        app.add_plugins(SharedPlugin);
        if let Some((_, radius)) = scenario.world {
            app.spatial_interest::<Position>(InterestSettings {
                radius,
                hysteresis: 100.0,
                cell: radius / 2.0,
            });
        }
        let state = app
            .world_mut()
            .remove_resource::<ReplicationState>()
            .unwrap_or_default();
        let world = app.world_mut();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for index in 0..entities {
            let position = Vec2::new(rng.next_f32() * 2.0 - 1.0, rng.next_f32() * 2.0 - 1.0) * half;
            let speed = 90.0 + rng.next_f32() * 20.0;
            let velocity = Vec2::from_angle(rng.next_f32() * std::f32::consts::TAU) * speed;
            let mut entity = world.spawn((
                Replicated,
                Position(position),
                Velocity(velocity),
                Rotation(rng.next_f32() * std::f32::consts::TAU),
            ));
            if index < moving {
                entity.insert(Moving);
            }
        }
        let clients = (0..clients)
            .map(|_| {
                let mut client = ClientReplication::default();
                let view = scenario.world.map(|(_, radius)| InterestView {
                    center: Some(
                        Vec2::new(rng.next_f32() * 2.0 - 1.0, rng.next_f32() * 2.0 - 1.0) * half,
                    ),
                    radius,
                    hysteresis: 100.0,
                    rooms: u64::MAX,
                    ..default()
                });
                set_view(&mut client, view);
                client
            })
            .collect();
        Self {
            app,
            state,
            cache: SnapshotCache::default(),
            clients,
            tick: 0,
            pool: (threads > 1).then(|| TaskPoolBuilder::new().num_threads(threads).build()),
            half,
        }
    }

    /// One tick: moves the bodies (when `moving`), collects the changes and builds and encodes
    /// every client's snapshot, handing each encoded message to `sent`. Returns the server time
    /// of collecting, building and encoding in microseconds, and the payload bytes of all clients.
    fn step(&mut self, moving: bool, mut sent: impl FnMut(Vec<u8>)) -> (f64, usize) {
        let tick = self.tick;
        self.tick += 1;
        let world = self.app.world_mut();
        // Each "system" gets its own change tick, as in a running app.
        world.increment_change_tick();
        if moving {
            move_bodies(world, self.half);
        }
        world.increment_change_tick();
        let start = Instant::now();
        let horizon = self
            .clients
            .iter()
            .map(ClientReplication::newest_ack)
            .min()
            .flatten();
        set_history_horizon(&mut self.state, horizon);
        collect_into(&mut self.state, world, tick);
        for client in &mut self.clients {
            if tick > 0 {
                // The ack of the previous snapshot arrives one tick later.
                client.acknowledge(tick - 1);
            }
        }
        let mut clients: Vec<&mut ClientReplication> = self.clients.iter_mut().collect();
        resolve_relevance(
            &mut clients,
            &mut self.state,
            world,
            tick,
            self.pool.as_ref(),
        );
        let payloads = build_payloads(
            &mut clients,
            &self.state,
            &mut self.cache,
            tick,
            self.pool.as_ref(),
        );
        let mut payload_bytes = 0;
        for payload in payloads {
            payload_bytes += payload.len();
            sent(encode(&ServerMessage::Snapshot(Snapshot {
                tick,
                last_input: Some(tick),
                payload,
                clock: 0,
                buffer: 4,
                total: None,
            })));
        }
        (start.elapsed().as_secs_f64() * 1e6, payload_bytes)
    }
}

/// Runs one scenario and returns its figures.
pub fn run(scenario: Scenario) -> BenchRow {
    let moving_count = (scenario.entities as f32 * scenario.moving_fraction).round() as usize;
    let mut harness = Harness::new(&scenario, moving_count);

    // Warm up until every client holds the whole world (the initial sync is budget-limited).
    let warmup = 30 + scenario.entities * 16 / (8 * 1024) + 10;
    for _ in 0..warmup {
        harness.step(true, drop);
    }

    // Entities relevant to each client (all, without interest management), of which moving.
    let relevant: f64 = if scenario.world.is_some() {
        harness
            .clients
            .iter()
            .map(|client| client.relevant_count() as f64)
            .sum::<f64>()
            / scenario.clients.max(1) as f64
    } else {
        scenario.entities as f64
    };
    let moving_seen = relevant * f64::from(scenario.moving_fraction);

    let mut times = Vec::with_capacity(scenario.ticks);
    let mut payload_total = 0usize;
    let mut message_total = 0usize;
    for _ in 0..scenario.ticks {
        let (elapsed, payload) = harness.step(true, |message| message_total += message.len());
        times.push(elapsed);
        payload_total += payload;
    }
    let snapshots = (scenario.ticks * scenario.clients) as f64;
    let bytes_per_snapshot = payload_total as f64 / snapshots;

    // A resting world: let the last movement be acknowledged, then measure for longer than the
    // delta history, so a periodic refresh of resting entities would show.
    for _ in 0..3 {
        harness.step(false, drop);
    }
    let mut resting_total = 0usize;
    let resting_ticks = 100;
    for _ in 0..resting_ticks {
        resting_total += harness.step(false, drop).1;
    }

    // The naive encoding: id plus five f32 fields with bincode, for the moving entities.
    let world = harness.app.world_mut();
    let mut naive_query = world.query::<(&Position, &Velocity, &Rotation)>();
    let naive: Vec<usize> = naive_query
        .iter(world)
        .take(moving_count.max(1))
        .enumerate()
        .map(|(id, (p, v, r))| encode(&(id as u32, p.x, p.y, v.x, v.y, r.0)).len())
        .collect();
    let naive_bytes = naive.iter().sum::<usize>() as f64 / naive.len().max(1) as f64;

    times.sort_by(f64::total_cmp);
    let percentile = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let bytes_per_moving_entity = bytes_per_snapshot / moving_seen.max(1.0);
    BenchRow {
        clients: scenario.clients,
        entities: scenario.entities,
        moving_fraction: scenario.moving_fraction,
        threads: scenario.threads,
        bytes_per_moving_entity,
        world_side: scenario.world.map(|(side, _)| side),
        relevant_per_client: relevant,
        bytes_per_resting_entity: resting_total as f64
            / (resting_ticks * scenario.clients) as f64
            / relevant.max(1.0),
        bytes_per_client_per_s: message_total as f64 / snapshots * f64::from(RATE),
        server_us_per_tick: percentile(0.5),
        server_us_per_tick_p99: percentile(0.99),
        server_us_per_client: percentile(0.5) / scenario.clients.max(1) as f64,
        naive_bytes_per_moving_entity: naive_bytes,
        naive_ratio: naive_bytes / bytes_per_moving_entity.max(f64::EPSILON),
    }
}

/// Formats rows as an aligned text table.
pub fn table(rows: &[BenchRow]) -> String {
    let mut out = String::from(
        "clients entities moving threads  world relevant | B/moving B/resting  B/client/s | us/tick p50   p99 us/client | naive B/moving  ratio\n",
    );
    for row in rows {
        out.push_str(&format!(
            "{:>7} {:>8} {:>6.2} {:>7} {:>6} {:>8.0} | {:>8.2} {:>9.4} {:>11.0} | {:>11.0} {:>5.0} {:>9.2} | {:>14.1} {:>5.1}x\n",
            row.clients,
            row.entities,
            row.moving_fraction,
            row.threads,
            row.world_side
                .map_or_else(|| "2000".to_owned(), |side| format!("{side:.0}")),
            row.relevant_per_client,
            row.bytes_per_moving_entity,
            row.bytes_per_resting_entity,
            row.bytes_per_client_per_s,
            row.server_us_per_tick,
            row.server_us_per_tick_p99,
            row.server_us_per_client,
            row.naive_bytes_per_moving_entity,
            row.naive_ratio,
        ));
    }
    out
}
