//! The feel benchmark behind `skirmish bench feel`: what a player feels, measured. A headless
//! server and a shooting client run in one process over real UDP on 127.0.0.1, the client's
//! socket behind the link conditioner. The shooter is a bot with perfect aim at what it sees:
//! it leads the target it is shown (interpolated) with the projectile's speed, from where its
//! own (predicted) player is, and fires as fast as the weapon allows, while strafing. The target
//! is a server-side dummy crossing a corridor at full player speed, then jumping back to its
//! start (a teleport); the bot does not fire at where the dummy will not be.
//!
//! Figures per condition: the hit rate (with and without lag compensation), the frames from a
//! fire input to the projectile on the shooter's screen (and to the server's projectile, what
//! it was before predicted shots), own-player corrections, and how interpolation shows the
//! target (time behind the server, extrapolated frames, visible jumps).
//!
//! `tests/demo/feel.rs` runs this same harness.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use serde::Serialize;
use skirmish_client::{ClientPlugin, ClientSession, ConnectionStatus, InputState, LocalPlayer};
use skirmish_net::client::{
    InputHistory, Interpolated, InterpolationClock, NetStats, Predicted, PredictedSpawn, SpawnKey,
};
use skirmish_net::registry::Teleported;
use skirmish_net::server::ListenConfig;
use skirmish_net::server::lag_compensation::LagCompensation;
use skirmish_net::socket::LinkConditioner;
use skirmish_server::ServerPlugin;
use skirmish_server::combat::ShieldedUntil;
use skirmish_shared::game::{
    MAX_HEALTH, PLAYER_RADIUS, PROJECTILE_DAMAGE, PROJECTILE_RADIUS, PROJECTILE_SPEED, Shielded,
};
use skirmish_shared::prelude::*;
use skirmish_shared::simulation::PLAYER_SPEED;

/// The dummy target's client id (not a connection: the server moves it).
const DUMMY: u64 = 0xD0_0D1E;
/// The dummy's corridor: x, and the y it runs from and to.
const CORRIDOR_X: f32 = 150.0;
const CORRIDOR: (f32, f32) = (-250.0, 250.0);
/// Where the shooter strafes: x, and half the span of y.
const SHOOTER_X: f32 = -100.0;
const STRAFE_HALF: f32 = 150.0;

/// One network condition of the shooter's link.
#[derive(Debug, Clone, Copy)]
pub struct Condition {
    /// Its name in the table.
    pub name: &'static str,
    /// Latency, jitter and loss on the shooter's socket (both directions).
    pub conditioner: LinkConditioner,
    /// Whether the shooter renders unevenly, at 20 to 40 frames per second.
    pub uneven_frames: bool,
}

/// The conditions of the table: clean; 100 ms round trip with 20 ms jitter and 2% loss; 200 ms
/// with 5% loss; and a clean link to a client whose frames come at an uneven 20-40 fps.
pub fn conditions() -> Vec<Condition> {
    let link = |latency, jitter, loss| {
        LinkConditioner::new(latency, jitter, loss).expect("valid conditioner settings")
    };
    vec![
        Condition {
            name: "clean",
            conditioner: LinkConditioner::default(),
            uneven_frames: false,
        },
        Condition {
            name: "100ms+20ms jitter+2% loss",
            conditioner: link(50, 20, 0.02),
            uneven_frames: false,
        },
        Condition {
            name: "200ms+5% loss",
            conditioner: link(100, 0, 0.05),
            uneven_frames: false,
        },
        Condition {
            name: "uneven 20-40 fps",
            conditioner: LinkConditioner::default(),
            uneven_frames: true,
        },
    ]
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FeelRow {
    /// The condition's name.
    pub condition: String,
    /// Whether the server judged hits against what the shooter saw.
    pub lag_compensation: bool,
    /// Shots the server fired for the shooter.
    pub shots: u32,
    /// Of them, hits on the dummy.
    pub hits: u32,
    /// `hits / shots`.
    pub hit_rate: f64,
    /// Median frames from a fire input to its projectile on the shooter's screen.
    pub fire_to_screen_frames: f64,
    /// Median frames from a fire input to the server's projectile arriving (what the shooter saw
    /// before shots were predicted).
    pub fire_to_server_frames: f64,
    /// Own-player prediction corrections per minute (any size).
    pub corrections_per_min: f64,
    /// Of them, larger than one unit, per minute.
    pub large_corrections_per_min: f64,
    /// The largest correction, in units.
    pub max_correction: f32,
    /// Median time the target is shown behind the newest snapshot, in milliseconds.
    pub behind_ms: f64,
    /// Frames the target was shown extrapolated past the newest snapshot.
    pub extrapolated_frames: u32,
    /// Frames the target jumped on screen (moved more than 1.5 times its speed allows, not
    /// counting its teleports).
    pub jumps: u32,
}

/// Server side: the dummy's shots taken, and the shooter's shots fired.
#[derive(Resource, Default)]
struct Tally {
    hits: u32,
    shots: u32,
    shooter: u64,
}

/// Client side: what the shooter measured.
#[derive(Resource, Default)]
struct Watch {
    frame: u64,
    /// Frame each fire input (by client tick) was sampled on.
    fired_at: Vec<(u32, u64)>,
    to_screen: Vec<f64>,
    to_server: Vec<f64>,
    behind: Vec<f64>,
    extrapolated: u32,
    jumps: u32,
    last_shown: Option<(Vec2, u8, f64)>,
}

/// Runs one condition for `seconds` of play (after connecting) and returns its figures.
pub fn run(condition: &Condition, lag_compensation: bool, seconds: f64) -> FeelRow {
    let mut server = App::new();
    server
        .add_plugins((MinimalPlugins, StatesPlugin, ServerPlugin::default()))
        .insert_resource(LagCompensation {
            enabled: lag_compensation,
            ..default()
        })
        .init_resource::<Tally>()
        .add_observer(count_shots)
        .add_systems(FixedUpdate, run_dummy.after(SimulationSystems::Simulate));
    let socket =
        UdpSocket::bind(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)).expect("bind loopback");
    let addr = skirmish_net::server::listen(server.world_mut(), socket, &ListenConfig::default())
        .expect("listen on loopback");
    let dummy = server
        .world_mut()
        .spawn((
            Replicated,
            Player { client_id: DUMMY },
            PlayerName("Dummy".into()),
            Position(Vec2::new(CORRIDOR_X, CORRIDOR.0)),
        ))
        .id();
    server
        .world_mut()
        .entity_mut(dummy)
        .remove::<(Shielded, ShieldedUntil)>();

    let mut client = App::new();
    client
        .add_plugins((MinimalPlugins, ClientPlugin))
        .init_resource::<Watch>()
        .add_observer(watch_projectiles)
        .add_systems(
            FixedUpdate,
            note_fire_inputs.after(skirmish_net::client::ClientSystems::SendInput),
        )
        .add_systems(
            Update,
            (aim_perfectly, watch_target).after(skirmish_net::client::ClientSystems::Interpolate),
        );
    skirmish_client::connect_with(client.world_mut(), addr, "Shooter", condition.conditioner)
        .expect("connect");

    // Connect, then put the shooter in place.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client.world().resource::<ConnectionStatus>().is_connected()
        || skirmish_server::player_of(server.world(), shooter_id(&client)).is_none()
    {
        assert!(Instant::now() < deadline, "the shooter did not connect");
        server.update();
        client.update();
        std::thread::sleep(Duration::from_millis(2));
    }
    let shooter = shooter_id(&client);
    server.world_mut().resource_mut::<Tally>().shooter = shooter;
    let player = skirmish_server::player_of(server.world(), shooter).expect("the shooter plays");
    {
        let mut player = server.world_mut().entity_mut(player);
        player.get_mut::<Position>().expect("a position").0 = Vec2::new(SHOOTER_X, 0.0);
        player
            .get_mut::<Teleported>()
            .expect("teleport count")
            .bump();
        player.remove::<(Shielded, ShieldedUntil)>();
    }
    // Settle: the teleport arrives, prediction and the clock settle.
    run_apps(&mut server, &mut client, condition, Duration::from_secs(2));
    *server.world_mut().resource_mut::<Tally>() = Tally {
        shooter,
        ..Tally::default()
    };
    *client.world_mut().resource_mut::<Watch>() = Watch::default();
    client.world_mut().insert_resource(NetStats::default());
    client.world_mut().resource_mut::<InputState>().fire = true;

    run_apps(
        &mut server,
        &mut client,
        condition,
        Duration::from_secs_f64(seconds),
    );

    let tally = server.world().resource::<Tally>();
    let watch = client.world().resource::<Watch>();
    let stats = client.world().resource::<NetStats>();
    let minutes = seconds / 60.0;
    FeelRow {
        condition: condition.name.to_owned(),
        lag_compensation,
        shots: tally.shots,
        hits: tally.hits,
        hit_rate: f64::from(tally.hits) / f64::from(tally.shots.max(1)),
        fire_to_screen_frames: median(&watch.to_screen),
        fire_to_server_frames: median(&watch.to_server),
        corrections_per_min: stats.corrections as f64 / minutes,
        large_corrections_per_min: stats.large_corrections as f64 / minutes,
        max_correction: stats.max_correction,
        behind_ms: median(&watch.behind),
        extrapolated_frames: watch.extrapolated,
        jumps: watch.jumps,
    }
}

fn shooter_id(client: &App) -> u64 {
    client.world().resource::<ClientSession>().client_id
}

/// Steps both apps for `duration`: the server about every 2 ms (it runs its ticks by its own
/// clock), the client every 16 ms, or every 25 to 50 ms when its frames are uneven.
fn run_apps(server: &mut App, client: &mut App, condition: &Condition, duration: Duration) {
    let mut rng = fastrand::Rng::with_seed(7);
    let end = Instant::now() + duration;
    let mut next_frame = Instant::now();
    while Instant::now() < end {
        server.update();
        if Instant::now() >= next_frame {
            client.update();
            let frame = if condition.uneven_frames {
                Duration::from_millis(rng.u64(25..=50))
            } else {
                Duration::from_millis(16)
            };
            next_frame += frame;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Server: the dummy crosses its corridor at full speed, then jumps back; it never dies (each
/// hit is counted and healed).
fn run_dummy(
    time: Res<Time>,
    mut tally: ResMut<Tally>,
    mut dummies: Query<(&Player, &mut Position, &mut Health, &mut Teleported)>,
) {
    for (player, mut position, mut health, mut teleported) in &mut dummies {
        if player.client_id != DUMMY {
            continue;
        }
        if health.0 < MAX_HEALTH {
            tally.hits += u32::from((MAX_HEALTH - health.0) / PROJECTILE_DAMAGE);
            health.0 = MAX_HEALTH;
        }
        position.y += PLAYER_SPEED * time.delta_secs();
        if position.y > CORRIDOR.1 {
            position.y = CORRIDOR.0;
            teleported.bump();
        }
    }
}

fn count_shots(
    add: On<Add, Projectile>,
    mut tally: ResMut<Tally>,
    projectiles: Query<&Projectile>,
) {
    if projectiles
        .get(add.entity)
        .is_ok_and(|projectile| projectile.owner == tally.shooter)
    {
        tally.shots += 1;
    }
}

/// Client: remembers on which frame each fire input was sampled.
fn note_fire_inputs(history: Res<InputHistory<InputFrame>>, mut watch: ResMut<Watch>) {
    if let (Some(input), Some(tick)) = (history.sent_this_tick(), history.tick_sent_this_tick())
        && input.fire
    {
        let frame = watch.frame;
        watch.fired_at.push((tick, frame));
        if watch.fired_at.len() > 600 {
            watch.fired_at.drain(..300);
        }
    }
}

/// Client: frames from the fire input to our projectile on screen (predicted), and to the
/// server's.
fn watch_projectiles(
    add: On<Add, Projectile>,
    mut watch: ResMut<Watch>,
    keys: Query<(Option<&PredictedSpawn>, Option<&SpawnKey>)>,
) {
    let Ok((predicted, server)) = keys.get(add.entity) else {
        return;
    };
    let frame = watch.frame;
    let sampled = |key: u32, watch: &Watch| {
        watch
            .fired_at
            .iter()
            .find(|(tick, _)| *tick == key)
            .map(|(_, at)| (frame - at) as f64)
    };
    if let Some(predicted) = predicted
        && let Some(frames) = sampled(predicted.key, &watch)
    {
        watch.to_screen.push(frames);
    }
    if let Some(server) = server
        && let Some(frames) = sampled(server.key, &watch)
    {
        watch.to_server.push(frames);
    }
}

/// Client: aims where the projectile meets the target as it is shown, strafing meanwhile; holds
/// fire when that point is past the corridor's end.
fn aim_perfectly(
    time: Res<Time<Real>>,
    session: Res<ClientSession>,
    mut input: ResMut<InputState>,
    own: Query<&Predicted<Position>, With<LocalPlayer>>,
    targets: Query<(&Player, &Interpolated<Position>)>,
) {
    // Strafe up and down, a second each way.
    let phase = (time.elapsed_secs() / 1.0) as u32;
    let own = own.single().ok().map(|own| own.value.0);
    input.movement = match own {
        Some(at) if at.y > STRAFE_HALF => Vec2::NEG_Y,
        Some(at) if at.y < -STRAFE_HALF => Vec2::Y,
        _ if phase.is_multiple_of(2) => Vec2::Y,
        _ => Vec2::NEG_Y,
    };
    let Some(origin) = own else {
        return;
    };
    let Some((_, target)) = targets.iter().find(|(player, _)| player.client_id == DUMMY) else {
        input.aim = Vec2::ZERO;
        return;
    };
    let samples: Vec<_> = target.samples().collect();
    let [.., (tick_a, a), (tick_b, b)] = samples.as_slice() else {
        input.aim = Vec2::ZERO;
        return;
    };
    let per_second = f32::from(session.tick_rate);
    let dt = 1.0 / per_second;
    let velocity = (b.0 - a.0) / (tick_b - tick_a) as f32 * per_second;
    let at = target.shown().0;
    // As the rules fire it: from where this tick's move takes us, out of the muzzle, and moved
    // once in the tick it is fired.
    let origin = origin + input.movement * PLAYER_SPEED * dt;
    let head_start = PLAYER_RADIUS + PROJECTILE_RADIUS + 1.0 + PROJECTILE_SPEED * dt;
    let Some(flight) = intercept(at - origin, velocity, PROJECTILE_SPEED, head_start) else {
        input.aim = Vec2::ZERO;
        return;
    };
    let meet = at + velocity * flight;
    // A perfect shot only: not at where the dummy will have jumped away from.
    input.aim = if meet.y < CORRIDOR.1 - 10.0 {
        (meet - origin).normalize_or_zero()
    } else {
        Vec2::ZERO
    };
}

/// The flight time of a projectile at `speed`, `head_start` units out when it starts, meeting
/// a target at `offset` moving at `velocity`: `|offset + velocity t| = head_start + speed t`.
fn intercept(offset: Vec2, velocity: Vec2, speed: f32, head_start: f32) -> Option<f32> {
    let a = velocity.length_squared() - speed * speed;
    let b = 2.0 * offset.dot(velocity) - 2.0 * head_start * speed;
    let c = offset.length_squared() - head_start * head_start;
    let discriminant = b * b - 4.0 * a * c;
    if discriminant < 0.0 || a.abs() < 1e-6 {
        return None;
    }
    let root = discriminant.sqrt();
    [(-b - root) / (2.0 * a), (-b + root) / (2.0 * a)]
        .into_iter()
        .filter(|t| *t > 0.0)
        .min_by(f32::total_cmp)
}

/// Client: how the target is shown: behind the server by how much, extrapolated or not, and
/// whether it jumped.
fn watch_target(
    time: Res<Time<Real>>,
    session: Res<ClientSession>,
    clock: Res<InterpolationClock>,
    mut watch: ResMut<Watch>,
    targets: Query<(&Player, &Interpolated<Position>, &Teleported)>,
) {
    watch.frame += 1;
    let (Some(render), Some(newest)) = (clock.render_tick, session.last_snapshot_tick) else {
        return;
    };
    let Some((_, target, teleported)) = targets
        .iter()
        .find(|(player, _, _)| player.client_id == DUMMY)
    else {
        return;
    };
    let tick_ms = 1000.0 / f64::from(session.tick_rate);
    watch.behind.push((f64::from(newest) - render) * tick_ms);
    if target
        .samples()
        .last()
        .is_some_and(|(tick, _)| render > f64::from(*tick))
    {
        watch.extrapolated += 1;
    }
    let shown = target.shown().0;
    let now = time.elapsed_secs_f64();
    if let Some((last, teleports, at)) = watch.last_shown
        && teleports == teleported.0
    {
        let allowed = PLAYER_SPEED * ((now - at) as f32) * 1.5 + 1.0;
        if shown.distance(last) > allowed {
            watch.jumps += 1;
        }
    }
    watch.last_shown = Some((shown, teleported.0, now));
}

/// The rows as a table.
pub fn table(rows: &[FeelRow]) -> String {
    let mut out = format!(
        "{:<26} {:>4} | {:>5} {:>5} {:>6} | {:>6} {:>6} | {:>7} {:>7} {:>6} | {:>6} {:>5} {:>5}\n",
        "condition",
        "lag",
        "shots",
        "hits",
        "rate",
        "screen",
        "server",
        "corr/m",
        ">1u/m",
        "max",
        "behind",
        "extra",
        "jumps"
    );
    for row in rows {
        out.push_str(&format!(
            "{:<26} {:>4} | {:>5} {:>5} {:>5.1}% | {:>6.0} {:>6.0} | {:>7.1} {:>7.1} {:>6.2} | {:>4.0}ms {:>5} {:>5}\n",
            row.condition,
            if row.lag_compensation { "on" } else { "off" },
            row.shots,
            row.hits,
            row.hit_rate * 100.0,
            row.fire_to_screen_frames,
            row.fire_to_server_frames,
            row.corrections_per_min,
            row.large_corrections_per_min,
            row.max_correction,
            row.behind_ms,
            row.extrapolated_frames,
            row.jumps,
        ));
    }
    out
}
