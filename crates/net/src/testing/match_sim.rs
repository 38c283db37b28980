//! Seeded simulation of whole matches, in the manner of FoundationDB's simulator and
//! TigerBeetle's VOPR: a game's server and clients on the in-memory network and the test clock,
//! under a [`Schedule`] of faults drawn from a seed (loss, lag and jitter, duplicates, replays,
//! cut-off and vanished clients, server stalls, clock jumps, hostile clients), with invariants
//! checked every step and, once the faults stop, agreement checked: every client holds exactly
//! what it should see, with the server's values. A failing seed reproduces exactly, and its
//! schedule shrinks to the shortest that still fails.
//!
//! A game implements [`SimGame`]; [`check_seeds`] runs a range of seeds and panics with the
//! command that replays the first failure.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use bevy::prelude::*;
use bevy_renet::RenetClient;

use super::fault_schedule::{Attack, Fault, Schedule};
use super::{TestNet, Wire};
use crate::channels::ClientChannel;
use crate::client::{
    ClientSession, ClientSystems, ClientTransport, ConnectionStatus, LocalInput, ReplicaLimits,
    ServerEntityMap,
};
use crate::codec::encode;
use crate::input::{InputBuffer, NetInput};
use crate::protocol::{ClientMessage, INPUT_REDUNDANCY};
use crate::registry::NetId;
use crate::server::{
    ClientReplication, ConnectedClient, ConnectedClients, IN_FLIGHT_SNAPSHOTS,
    MAX_CARRIED_DESPAWNS, ReplicationState, SNAPSHOT_BUDGET_BYTES,
};
use crate::socket::memory::NetworkFaults;
use crate::tick::SimulationTick;

/// Steps of faults in a simulated match (10 s at 60 Hz).
pub const FAULT_STEPS: u32 = 600;

/// Steps a match has to settle once its faults stop: a client cut off or sent away needs the
/// netcode timeout to notice, then a rejoin.
pub const SETTLE_STEPS: u32 = 900;

/// Steps the settled state must hold, to tell agreement from a passing coincidence.
const STABLE_STEPS: u32 = 30;

/// Most ticks a server runs in one update: Bevy caps a frame's time at 250 ms, so a stall or a
/// clock jump is caught up over several frames, never all at once.
const MAX_TICKS_PER_UPDATE: u32 = 16;

/// Most snapshots a client applies in one update.
const MAX_SNAPSHOTS_PER_UPDATE: u64 = 64;

/// Most input frames the server buffers for one client.
const MAX_BUFFERED_INPUTS: usize = 64;

/// The most bytes one client's snapshot payload may take: the budget, the largest entity it lets
/// through on its own, the carried despawns (at most 5 bytes each) and the end marks.
const MAX_PAYLOAD_BYTES: usize =
    SNAPSHOT_BUDGET_BYTES + crate::registry::MAX_COMPONENT_BYTES + 5 * MAX_CARRIED_DESPAWNS + 64;

/// A game under simulation: how to build its apps, what its inputs look like, and what must agree
/// once a match settles.
pub trait SimGame {
    /// The game's input.
    type Input: NetInput;

    /// A server app of the game (`MinimalPlugins`, its plugins and `NetServerPlugin`), not
    /// listening yet.
    fn server(&self) -> App;

    /// A client app of the game (`MinimalPlugins`, its plugins and `NetClientPlugin`), not
    /// connected.
    fn client(&self) -> App;

    /// A random input for a step of the fault phase (settling uses the default).
    fn random_input(&self, rng: &mut fastrand::Rng) -> Self::Input;

    /// The game's own abuse, sent by a client whose fault is [`Attack::GameAbuse`], every step
    /// (the demo renames itself).
    fn abuse(&self, _client: &mut World, _step: u32) {}

    /// The values of `entity` that server and client must agree on once the match settles (its
    /// quantized components, say); the same function reads both worlds.
    fn state(&self, world: &World, entity: Entity) -> Vec<i32>;

    /// Checks of the game's own on a settled client (its own player predicted where the server
    /// has it, one player per client...).
    fn check_settled(&self, _server: &World, _client: &World) -> Result<(), String> {
        Ok(())
    }
}

/// What a simulated match did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimReport {
    /// Steps taken, faults and settling.
    pub steps: u32,
    /// Steps the match took to settle after its faults stopped.
    pub settled_after: u32,
    /// Rejoins (clients sent away or vanished that joined again).
    pub rejoins: u32,
}

/// What a hostile client is doing, in its app.
#[derive(Resource, Debug, Default)]
struct Hostility {
    attack: Option<Attack>,
    /// The first snapshot it saw since the attack began, and the steps since.
    trickle: Option<(u32, u32)>,
    /// The ack the client really has, while a forged one is being sent.
    real_ack: Option<Option<u32>>,
}

/// Runs one match of `clients` clients under `schedule`, on `seed`. `Err` says which invariant
/// broke (a panic is one).
pub fn run_match<G: SimGame>(
    game: &G,
    seed: u64,
    clients: usize,
    schedule: &Schedule,
) -> Result<SimReport, String> {
    match catch_unwind(AssertUnwindSafe(|| run(game, seed, clients, schedule))) {
        Ok(result) => result,
        Err(panic) => Err(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        )),
    }
}

/// Runs `seeds`, each a match of `clients` clients under the schedule its seed draws; panics on
/// the first failure with the shrunk schedule and `replay`, the command that runs that seed
/// alone (`{seed}` in it is replaced). Prints how many seeds ran, how long they took, the
/// slowest settle and the rejoins, and returns each seed's report.
pub fn check_seeds<G: SimGame>(
    game: &G,
    seeds: std::ops::Range<u64>,
    clients: usize,
    replay: &str,
) -> Vec<SimReport> {
    let started = std::time::Instant::now();
    let count = seeds.end - seeds.start;
    let mut reports = Vec::new();
    for seed in seeds {
        let schedule = Schedule::from_seed(seed, clients, FAULT_STEPS);
        match run_match(game, seed, clients, &schedule) {
            Ok(report) => reports.push(report),
            Err(failure) => {
                let shrunk = schedule.shrink(40, |candidate| {
                    run_match(game, seed, clients, candidate).is_err()
                });
                let shrunk_failure = run_match(game, seed, clients, &shrunk)
                    .err()
                    .unwrap_or_else(|| failure.clone());
                panic!(
                    "seed {seed} fails: {failure}\nits schedule:\n{schedule}\nshortest schedule \
                     that still fails ({shrunk_failure}):\n{shrunk}\nreplay it: {}",
                    replay.replace("{seed}", &seed.to_string())
                );
            }
        }
    }
    let slowest = reports.iter().map(|report| report.settled_after).max();
    let rejoins: u32 = reports.iter().map(|report| report.rejoins).sum();
    eprintln!(
        "match simulation ({}): {count} seeds in {:.1} s, slowest settle {slowest:?} steps, \
         {rejoins} rejoins",
        std::any::type_name::<G>(),
        started.elapsed().as_secs_f64()
    );
    reports
}

/// The seeds to run: `SKIRMISH_SIM_SEED=S` runs seed `S` alone, `SKIRMISH_SIM_SEEDS=N` the
/// first `N` (the long mode), otherwise the first `default`.
pub fn seeds_from_env(default: u64) -> std::ops::Range<u64> {
    let read = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(seed) = read("SKIRMISH_SIM_SEED") {
        return seed..seed.saturating_add(1);
    }
    0..read("SKIRMISH_SIM_SEEDS").unwrap_or(default)
}

fn hostile_client<G: SimGame>(game: &G) -> App {
    let mut app = game.client();
    app.init_resource::<Hostility>().add_systems(
        FixedUpdate,
        (
            forge_acks.before(ClientSystems::SendInput),
            (restore_ack, forge_inputs::<G::Input>).after(ClientSystems::SendInput),
        ),
    );
    app
}

/// The ack lies of [`Attack::TrickleAcks`] and [`Attack::NeverAck`]: what the input about to be
/// sent acknowledges, put back right after (the client itself keeps applying what arrives, as a
/// hostile client's own copy of the code would).
fn forge_acks(mut hostility: ResMut<Hostility>, session: Option<ResMut<ClientSession>>) {
    let Some(mut session) = session else {
        return;
    };
    let real = session.last_snapshot_tick;
    hostility.real_ack = Some(real);
    match hostility.attack {
        Some(Attack::NeverAck) => session.last_snapshot_tick = None,
        Some(Attack::TrickleAcks) => {
            let trickle = match hostility.trickle {
                Some((first, steps)) => Some((first, steps + 1)),
                None => real.map(|first| (first, 0)),
            };
            hostility.trickle = trickle;
            // Quiet for a second, then the snapshot after the last one acked, every tick.
            session.last_snapshot_tick = trickle
                .and_then(|(first, steps)| steps.checked_sub(60).map(|k| first.saturating_add(k)));
        }
        _ => hostility.trickle = None,
    }
}

/// Puts back the ack [`forge_acks`] replaced.
fn restore_ack(mut hostility: ResMut<Hostility>, session: Option<ResMut<ClientSession>>) {
    if let (Some(mut session), Some(real)) = (session, hostility.real_ack.take()) {
        session.last_snapshot_tick = real;
    }
}

/// The extra input messages of [`Attack::InputFlood`] and [`Attack::FarFutureTicks`].
fn forge_inputs<I: NetInput>(hostility: Res<Hostility>, client: Option<ResMut<RenetClient>>) {
    let Some(mut client) = client else {
        return;
    };
    if !client.is_connected() {
        return;
    }
    let frames = || vec![I::default(); INPUT_REDUNDANCY];
    match hostility.attack {
        Some(Attack::InputFlood) => {
            for first_tick in 0..20 {
                let message = ClientMessage::Input {
                    ack: None,
                    first_tick,
                    frames: frames(),
                    view_behind: None,
                };
                client.send_message(ClientChannel::Input, encode(&message));
            }
        }
        Some(Attack::FarFutureTicks) => {
            let message = ClientMessage::Input {
                ack: Some(u32::MAX),
                first_tick: u32::MAX - INPUT_REDUNDANCY as u32,
                frames: frames(),
                view_behind: Some(u16::MAX),
            };
            client.send_message(ClientChannel::Input, encode(&message));
        }
        _ => {}
    }
}

/// A client's place in the match: its index in the net (it changes when a vanished client is
/// replaced) and its name.
struct Slot {
    index: usize,
    name: String,
    vanished: bool,
}

fn run<G: SimGame>(
    game: &G,
    seed: u64,
    clients: usize,
    schedule: &Schedule,
) -> Result<SimReport, String> {
    let mut net = TestNet::new(Wire::Memory, seed, game.server())
        .map_err(|err| format!("the server does not listen: {err}"))?;
    let mut slots = Vec::new();
    for slot in 0..clients {
        let name = format!("p{slot}");
        let index = net
            .add_client(hostile_client(game), &name)
            .map_err(|err| format!("client {slot} does not connect: {err}"))?;
        slots.push(Slot {
            index,
            name,
            vanished: false,
        });
    }
    net.connect_all();
    let junk = net
        .raw_peer()
        .map_err(|err| format!("no raw peer: {err}"))?;
    let mut rng = fastrand::Rng::with_seed(seed ^ 0xA77A_C4E5);
    let mut rejoins = 0;
    let mut watch = Watch::default();
    let end = schedule.end();

    for step in 0..end {
        let active: Vec<Fault> = schedule
            .faults
            .iter()
            .filter(|fault| fault.active(step))
            .map(|fault| fault.fault)
            .collect();
        for fault in schedule.faults.iter().filter(|fault| fault.at == step) {
            match fault.fault {
                Fault::ClockJump(ms) => net.jump_clock(Duration::from_millis(u64::from(ms))),
                Fault::Vanish(slot) if !slots[slot].vanished => {
                    drop(net.remove_client(slots[slot].index));
                    slots[slot].vanished = true;
                }
                _ => {}
            }
        }
        // (After the starts: a vanishing of one step leaves and comes back in that step.)
        for fault in &schedule.faults {
            if let Fault::Vanish(slot) = fault.fault
                && fault.at + fault.ticks == step + 1
                && slots[slot].vanished
            {
                slots[slot].index = net
                    .add_client(hostile_client(game), &slots[slot].name)
                    .map_err(|err| format!("slot {slot} does not rejoin: {err}"))?;
                slots[slot].vanished = false;
                rejoins += 1;
            }
        }
        net.network()
            .set_faults(network_faults(&net, &slots, &active));
        for (number, slot) in slots.iter().enumerate() {
            if slot.vanished {
                continue;
            }
            let attack = active.iter().find_map(|fault| match fault {
                Fault::Hostile(of, attack) if *of == number => Some(*attack),
                _ => None,
            });
            let input = game.random_input(&mut rng);
            let world = net.client_mut(slot.index).world_mut();
            world.resource_mut::<Hostility>().attack = attack;
            world.insert_resource(LocalInput(input));
            if attack == Some(Attack::GameAbuse) {
                game.abuse(world, step);
            }
            if attack == Some(Attack::Junk) {
                for _ in 0..3 {
                    let len = rng.usize(1..1300);
                    let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
                    let _ = junk.send_to(&bytes, net.server_addr());
                }
            }
        }
        if active.contains(&Fault::ServerStall) {
            net.step_server_stalled();
        } else {
            net.step();
        }
        watch
            .check_bounds::<G::Input>(&net)
            .map_err(|err| format!("step {step} (under faults): {err}"))?;
        // A client sent away (a hostile one, or one cut off past the timeout) joins again.
        rejoins += rejoin_the_departed(&mut net, &slots)?;
    }

    net.network().set_faults(NetworkFaults::default());
    for slot in slots.iter().filter(|slot| !slot.vanished) {
        let world = net.client_mut(slot.index).world_mut();
        world.resource_mut::<Hostility>().attack = None;
        world.insert_resource(LocalInput(G::Input::default()));
    }
    let mut stable = 0;
    let mut last_disagreement = String::new();
    for settle in 1..=SETTLE_STEPS {
        net.step();
        watch
            .check_bounds::<G::Input>(&net)
            .map_err(|err| format!("step {} (settling): {err}", end + settle))?;
        rejoins += rejoin_the_departed(&mut net, &slots)?;
        match agreement(game, &net, &slots) {
            Ok(()) => stable += 1,
            Err(disagreement) => {
                stable = 0;
                last_disagreement = disagreement;
            }
        }
        if stable == STABLE_STEPS {
            return Ok(SimReport {
                steps: end + settle,
                settled_after: settle - STABLE_STEPS,
                rejoins,
            });
        }
    }
    Err(format!(
        "not settled {SETTLE_STEPS} steps after the faults stopped: {last_disagreement}"
    ))
}

/// The network faults `active` make, together.
fn network_faults(net: &TestNet, slots: &[Slot], active: &[Fault]) -> NetworkFaults {
    let mut faults = NetworkFaults::default();
    for fault in active {
        match *fault {
            Fault::Loss(rate) => faults.loss = faults.loss.max(rate),
            Fault::Lag {
                latency_ms,
                jitter_ms,
            } => {
                faults.latency = faults
                    .latency
                    .max(Duration::from_millis(u64::from(latency_ms)));
                faults.jitter = faults
                    .jitter
                    .max(Duration::from_millis(u64::from(jitter_ms)));
            }
            Fault::Duplicates(rate) => faults.duplicate = faults.duplicate.max(rate),
            Fault::Replays(rate) => faults.replay = faults.replay.max(rate),
            Fault::CutOff(slot) if !slots[slot].vanished => {
                if let Some(addr) = net
                    .client(slots[slot].index)
                    .world()
                    .get_resource::<ClientTransport>()
                    .and_then(|transport| transport.local_addr().ok())
                {
                    faults.cut.push(addr);
                }
            }
            _ => {}
        }
    }
    faults
}

/// Connects again every client that was sent away or timed out; returns how many.
fn rejoin_the_departed(net: &mut TestNet, slots: &[Slot]) -> Result<u32, String> {
    let mut rejoined = 0;
    for slot in slots.iter().filter(|slot| !slot.vanished) {
        if net.disconnect_reason(slot.index).is_some() {
            net.reconnect(slot.index, &slot.name)
                .map_err(|err| format!("{} does not reconnect: {err}", slot.name))?;
            rejoined += 1;
        }
    }
    Ok(rejoined)
}

/// What the invariants remember between steps.
#[derive(Default)]
struct Watch {
    server_tick: Option<u32>,
    applied: BTreeMap<usize, u64>,
    /// The most replicated entities the server has had at once.
    most_entities: usize,
}

impl Watch {
    /// The invariants of every step: what the server holds per client stays under its bounds,
    /// and no update does unbounded work (counted: ticks run, snapshots applied, bytes built).
    fn check_bounds<I: NetInput>(&mut self, net: &TestNet) -> Result<(), String> {
        let server = net.server().world();
        if let Some(tick) = server.get_resource::<SimulationTick>() {
            let ran = self
                .server_tick
                .map_or(0, |before| tick.0.saturating_sub(before));
            if ran > MAX_TICKS_PER_UPDATE {
                return Err(format!("the server ran {ran} ticks in one update"));
            }
            self.server_tick = Some(tick.0);
        }
        if let Some(state) = server.get_resource::<ReplicationState>() {
            self.most_entities = self.most_entities.max(state.len());
        }
        let mut query = server
            .try_query::<(&ConnectedClient, &ClientReplication, &InputBuffer<I>)>()
            .ok_or("the server has no clients table")?;
        for (client, replication, inputs) in query.iter(server) {
            let held = replication.footprint();
            let id = client.client_id;
            // What the server holds per client is bounded by the world, not by what the client
            // does: each snapshot in flight names an entity at most once.
            let in_flight_bound = IN_FLIGHT_SNAPSHOTS * self.most_entities;
            if held.in_flight_entities > in_flight_bound {
                return Err(format!(
                    "client {id}: {} entities in flight, more than {in_flight_bound}",
                    held.in_flight_entities
                ));
            }
            if held.in_flight_snapshots > IN_FLIGHT_SNAPSHOTS
                || held.carried_despawns > MAX_CARRIED_DESPAWNS
                || held.last_payload_bytes > MAX_PAYLOAD_BYTES
            {
                return Err(format!("client {id}: the server holds {held:?}"));
            }
            if inputs.len() > MAX_BUFFERED_INPUTS {
                return Err(format!("client {id}: {} inputs buffered", inputs.len()));
            }
        }
        for index in net.client_indices() {
            let client = net.client(index).world();
            if let Some(map) = client.get_resource::<ServerEntityMap>() {
                let limit = client
                    .get_resource::<ReplicaLimits>()
                    .map_or(usize::MAX, |limits| limits.max_entities);
                if map.len() > limit {
                    return Err(format!("client {index} holds {} entities", map.len()));
                }
            }
            if let Some(session) = client.get_resource::<ClientSession>() {
                let before = self.applied.insert(index, session.snapshots_applied);
                let applied =
                    before.map_or(0, |before| session.snapshots_applied.saturating_sub(before));
                if applied > MAX_SNAPSHOTS_PER_UPDATE {
                    return Err(format!(
                        "client {index} applied {applied} snapshots in one update"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether the settled match agrees: every client welcomed, the server holding exactly the
/// clients in play, and every client holding exactly the entities it should see, with the
/// server's values, and passing the game's own checks.
fn agreement<G: SimGame>(game: &G, net: &TestNet, slots: &[Slot]) -> Result<(), String> {
    let server = net.server().world();
    let playing = server.resource::<ConnectedClients>().len();
    if playing != slots.len() {
        return Err(format!(
            "the server has {playing} clients, not {}",
            slots.len()
        ));
    }
    let state = server.resource::<ReplicationState>();
    for slot in slots {
        if slot.vanished {
            return Err(format!("{} never came back", slot.name));
        }
        if !net.is_welcomed(slot.index) {
            return Err(format!("{} is not welcomed", slot.name));
        }
        let client = net.client(slot.index).world();
        let client_id = client.resource::<ClientSession>().client_id;
        let Some(&client_entity) = server.resource::<ConnectedClients>().get(&client_id) else {
            return Err(format!(
                "{} ({client_id}) is not among the server's clients",
                slot.name
            ));
        };
        let Some(replication) = server.get::<ClientReplication>(client_entity) else {
            return Err(format!("{} has no replication state", slot.name));
        };
        let should: Vec<NetId> = replication.should_hold(state);
        let map = client.resource::<ServerEntityMap>();
        let mut held: Vec<NetId> = map
            .0
            .iter()
            .filter(|(_, entity)| client.get_entity(**entity).is_ok())
            .map(|(net_id, _)| *net_id)
            .collect();
        held.sort_unstable();
        if held != should {
            let ghosts: Vec<_> = held
                .iter()
                .filter(|id| should.binary_search(id).is_err())
                .collect();
            let missing: Vec<_> = should
                .iter()
                .filter(|id| held.binary_search(id).is_err())
                .collect();
            return Err(format!(
                "{} holds {} entities, should hold {}: ghosts {ghosts:?}, missing {missing:?}",
                slot.name,
                held.len(),
                should.len()
            ));
        }
        let mut on_server = server
            .try_query::<(Entity, &crate::registry::Replicated)>()
            .ok_or("no replicated entities")?;
        for (entity, _) in on_server.iter(server) {
            let Some(net_id) = state.net_id(entity) else {
                continue;
            };
            let Some(local) = map.get(net_id) else {
                continue;
            };
            let (theirs, ours) = (game.state(server, entity), game.state(client, local));
            if theirs != ours {
                return Err(format!(
                    "{} sees {net_id:?} as {ours:?}, the server has {theirs:?}",
                    slot.name
                ));
            }
        }
        game.check_settled(server, client)
            .map_err(|err| format!("{}: {err}", slot.name))?;
        if client.get_resource::<ConnectionStatus>().is_none() {
            return Err(format!("{} has no connection status", slot.name));
        }
    }
    Ok(())
}
