//! Server-authoritative combat over real UDP: projectiles, health, death, respawn, score and the
//! server's fire-rate limit.

use std::time::Duration;

use crate::common::*;
use bevy::platform::collections::HashSet;
use bevy::prelude::*;
use skirmish_client::{InputState, KillFeed, NetStats};
use skirmish_net::registry::Teleported;
use skirmish_server::combat::ShieldedUntil;
use skirmish_shared::game::{MAX_HEALTH, PROJECTILE_DAMAGE, Shielded};
use skirmish_shared::prelude::*;

fn player_entity(server: &TestServer, client_id: u64) -> Entity {
    skirmish_server::player_of(server.app.world(), client_id).expect("the client plays")
}

/// Puts a player somewhere on the server (the authority), as a level script would: a jump,
/// which clients restart from instead of smoothing.
fn teleport(server: &mut TestServer, client_id: u64, to: Vec2) {
    let entity = player_entity(server, client_id);
    let mut player = server.app.world_mut().entity_mut(entity);
    player.get_mut::<Position>().unwrap().0 = to;
    player.get_mut::<Teleported>().unwrap().bump();
}

/// Takes a player's spawn protection away.
fn unshield(server: &mut TestServer, client_id: u64) {
    let entity = player_entity(server, client_id);
    server
        .app
        .world_mut()
        .entity_mut(entity)
        .remove::<(Shielded, ShieldedUntil)>();
}

fn seen_shielded(viewer: &mut App, owner: u64) -> Option<bool> {
    let mut query = viewer.world_mut().query::<(&Player, Has<Shielded>)>();
    query
        .iter(viewer.world())
        .find(|(player, _)| player.client_id == owner)
        .map(|(_, shielded)| shielded)
}

fn server_health(server: &TestServer, client_id: u64) -> Health {
    *server
        .app
        .world()
        .get::<Health>(player_entity(server, client_id))
        .unwrap()
}

fn server_score(server: &TestServer, client_id: u64) -> Score {
    *server
        .app
        .world()
        .get::<Score>(player_entity(server, client_id))
        .unwrap()
}

/// `owner`'s health and score as `viewer` sees them.
fn seen_stats(viewer: &mut App, owner: u64) -> Option<(Health, Score)> {
    let mut query = viewer.world_mut().query::<(&Player, &Health, &Score)>();
    query
        .iter(viewer.world())
        .find(|(player, _, _)| player.client_id == owner)
        .map(|(_, health, score)| (*health, *score))
}

fn aim_and_fire(client: &mut App, aim: Vec2, fire: bool) {
    let mut input = client.world_mut().resource_mut::<InputState>();
    input.aim = aim;
    input.fire = fire;
}

fn duel() -> (TestServer, App, App, u64, u64) {
    let mut server = server();
    let mut a = client(server.addr, "shooter");
    let mut b = client(server.addr, "target");
    connect_all(&mut server, &mut [&mut a, &mut b]);
    let (id_a, id_b) = (client_id(&a), client_id(&b));
    teleport(&mut server, id_a, Vec2::new(0.0, 0.0));
    teleport(&mut server, id_b, Vec2::new(200.0, 0.0));
    unshield(&mut server, id_a);
    unshield(&mut server, id_b);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "both see both at full health",
        |_, c| {
            [id_a, id_b].iter().all(|id| {
                seen_stats(c[0], *id).is_some_and(|(h, _)| h.0 == MAX_HEALTH)
                    && seen_stats(c[1], *id).is_some_and(|(h, _)| h.0 == MAX_HEALTH)
            })
        },
    );
    (server, a, b, id_a, id_b)
}

#[test]
fn a_hit_lowers_health_on_the_server_and_on_both_clients() {
    let (mut server, mut a, mut b, _, id_b) = duel();
    aim_and_fire(&mut a, Vec2::X, true);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "the first shot leaves",
        |server, _| {
            let mut projectiles = server.app.world_mut().query::<&Projectile>();
            projectiles.iter(server.app.world()).count() > 0
        },
    );
    aim_and_fire(&mut a, Vec2::X, false);
    let hit = MAX_HEALTH - PROJECTILE_DAMAGE;
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "one hit shows everywhere",
        |server, c| {
            server_health(server, id_b).0 == hit
                && seen_stats(c[0], id_b).is_some_and(|(h, _)| h.0 == hit)
                && seen_stats(c[1], id_b).is_some_and(|(h, _)| h.0 == hit)
        },
    );
    // Projectiles are replicated entities and disappear everywhere after the hit.
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "no projectile left",
        |server, c| {
            let count = |world: &mut World| world.query::<&Projectile>().iter(world).count();
            count(server.app.world_mut()) == 0
                && count(c[0].world_mut()) == 0
                && count(c[1].world_mut()) == 0
        },
    );
}

#[test]
fn kills_count_and_the_dead_respawn_at_full_health() {
    let (mut server, mut a, mut b, id_a, id_b) = duel();
    aim_and_fire(&mut a, Vec2::X, true);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "the target dies",
        |server, _| !server_health(server, id_b).is_alive(),
    );
    aim_and_fire(&mut a, Vec2::X, false);
    // From here on, the target's own prediction is watched: its respawn is a jump, not a
    // misprediction.
    b.world_mut().insert_resource(NetStats::default());
    assert_eq!(
        server_score(&server, id_a),
        Score {
            kills: 1,
            deaths: 0
        }
    );
    assert_eq!(
        server_score(&server, id_b),
        Score {
            kills: 0,
            deaths: 1
        }
    );
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "clients see the kill and the death",
        |_, c| {
            c.iter_mut().all(|client| {
                seen_stats(client, id_a).is_some_and(|(_, s)| s.kills == 1)
                    && seen_stats(client, id_b).is_some_and(|(h, s)| s.deaths == 1 && h.0 == 0)
                    && client
                        .world()
                        .resource::<KillFeed>()
                        .0
                        .contains(&(id_a, id_b))
            })
        },
    );
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "the target respawns at full health, shielded",
        |server, c| {
            server_health(server, id_b).0 == MAX_HEALTH
                && seen_stats(c[1], id_b).is_some_and(|(h, _)| h.0 == MAX_HEALTH)
                && seen_shielded(c[0], id_b) == Some(true)
        },
    );
    run_for(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_millis(300),
    );
    let stats = b.world().resource::<NetStats>();
    assert!(
        stats.max_correction < 1.0,
        "the respawn jump was smoothed as a correction of {} units",
        stats.max_correction
    );
}

#[test]
fn spawn_protection_absorbs_shots_until_the_player_fires() {
    let mut server = server();
    let mut a = client(server.addr, "shooter");
    let mut b = client(server.addr, "newcomer");
    connect_all(&mut server, &mut [&mut a, &mut b]);
    let (id_a, id_b) = (client_id(&a), client_id(&b));
    teleport(&mut server, id_a, Vec2::new(0.0, 0.0));
    teleport(&mut server, id_b, Vec2::new(200.0, 0.0));
    unshield(&mut server, id_a);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "the shooter sees the newcomer's shield",
        |_, c| seen_shielded(c[0], id_b) == Some(true),
    );
    // Shots at the shielded newcomer do nothing (it stays protected while it does not fire).
    aim_and_fire(&mut a, Vec2::X, true);
    run_for(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_millis(800),
    );
    assert_eq!(
        server_health(&server, id_b).0,
        MAX_HEALTH,
        "the shield took it"
    );
    // Firing gives the protection up: then shots hurt.
    aim_and_fire(&mut b, Vec2::Y, true);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "the newcomer is hurt once unshielded",
        |server, c| {
            server_health(server, id_b).0 < MAX_HEALTH && seen_shielded(c[0], id_b) == Some(false)
        },
    );
}

#[test]
fn the_server_limits_the_fire_rate_and_ignores_a_nan_aim() {
    let (mut server, mut a, mut b, _, id_b) = duel();
    // A NaN aim is no aim: nothing is fired.
    aim_and_fire(&mut a, Vec2::new(f32::NAN, 0.0), true);
    run_for(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_millis(300),
    );
    let mut projectiles = server.app.world_mut().query::<(Entity, &Projectile)>();
    assert_eq!(
        projectiles.iter(server.app.world()).count(),
        0,
        "NaN aim must not fire"
    );

    // Hold fire upwards (away from the target) for one second; the client asks every tick.
    aim_and_fire(&mut a, Vec2::Y, true);
    let mut fired = HashSet::new();
    let start = TestInstant::now();
    while start.elapsed() < Duration::from_secs(1) {
        step(&mut server, &mut [&mut a, &mut b]);
        fired.extend(
            projectiles
                .iter(server.app.world())
                .map(|(entity, _)| entity),
        );
    }
    // 60 ticks / 9-tick cooldown: at most 7 shots per second (8 with a boundary tick).
    assert!(
        (4..=8).contains(&fired.len()),
        "one second of fire must give about 7 shots, got {}",
        fired.len()
    );
    assert_eq!(
        server_health(&server, id_b).0,
        MAX_HEALTH,
        "shots upwards miss the target"
    );
}

#[test]
fn a_bot_shoots_a_nearby_player() {
    let mut server = server();
    let bot = skirmish_server::bots::spawn_bot(server.app.world_mut(), 0);
    let mut a = client(server.addr, "human");
    connect_all(&mut server, &mut [&mut a]);
    let id_a = client_id(&a);
    run_until(
        &mut server,
        &mut [&mut a],
        "the human sees the bot",
        |_, c| seen_stats(c[0], skirmish_server::bots::BOT_ID_BASE).is_some(),
    );
    let bot_position = server.app.world().get::<Position>(bot).unwrap().0;
    teleport(&mut server, id_a, bot_position + Vec2::new(150.0, 0.0));
    run_until(
        &mut server,
        &mut [&mut a],
        "the bot hits the human",
        |server, c| {
            server_health(server, id_a).0 < MAX_HEALTH
                && seen_stats(c[0], id_a).is_some_and(|(h, _)| h.0 < MAX_HEALTH)
        },
    );
}

/// Projectiles of `owner` on `viewer`, and how many of them are still the local prediction.
fn own_projectiles(viewer: &mut App, owner: u64) -> (usize, usize) {
    let mut query = viewer
        .world_mut()
        .query::<(&Projectile, Has<skirmish_net::client::PredictedSpawn>)>();
    query
        .iter(viewer.world())
        .filter(|(projectile, _)| projectile.owner == owner)
        .fold((0, 0), |(all, local), (_, predicted)| {
            (all + 1, local + usize::from(predicted))
        })
}

#[test]
fn an_own_shot_shows_at_once_and_becomes_the_servers_without_a_double() {
    let (mut server, mut a, mut b, id_a, _) = duel();
    aim_and_fire(&mut a, Vec2::Y, true);
    // The frame whose fixed tick samples the fire input already shows the projectile.
    let mut frames = 0;
    while own_projectiles(&mut a, id_a).0 == 0 {
        step(&mut server, &mut [&mut a, &mut b]);
        frames += 1;
        assert!(frames < 200, "no projectile appeared");
    }
    assert_eq!(
        own_projectiles(&mut a, id_a),
        (1, 1),
        "the first one is the prediction"
    );
    aim_and_fire(&mut a, Vec2::Y, false);
    // The server's arrives and takes over: one projectile, flying on locally.
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "the server's projectile replaces the prediction",
        |_, c| {
            let mut flying = c[0].world_mut().query_filtered::<&Projectile, (
                With<skirmish_client::shooting::LocalFlight>,
                With<skirmish_net::client::SpawnKey>,
            )>();
            own_projectiles(c[0], id_a).1 == 0 && flying.iter(c[0].world()).count() >= 1
        },
    );
    let (all, _) = own_projectiles(&mut a, id_a);
    let fired = server
        .app
        .world_mut()
        .query::<&Projectile>()
        .iter(server.app.world())
        .filter(|projectile| projectile.owner == id_a)
        .count();
    assert!(
        all <= fired.max(1),
        "no double: {all} shown, {fired} on the server"
    );
}

#[test]
fn a_shot_the_server_refuses_disappears() {
    let (mut server, mut a, mut b, id_a, _) = duel();
    // The server's weapon is not ready for a long time: every shot is refused.
    let player = player_entity(&server, id_a);
    server
        .app
        .world_mut()
        .get_mut::<skirmish_server::combat::Weapon>(player)
        .unwrap()
        .ready_at = u32::MAX;
    aim_and_fire(&mut a, Vec2::Y, true);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "a predicted shot",
        |_, c| own_projectiles(c[0], id_a).1 > 0,
    );
    aim_and_fire(&mut a, Vec2::Y, false);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "the refused shots disappear",
        |_, c| own_projectiles(c[0], id_a) == (0, 0),
    );
}

/// Makes `client` claim, in every input, that it is showing server tick `tick`.
fn claim_view(client: &mut App, tick: f64) {
    client.add_systems(
        Update,
        (move |mut clock: ResMut<skirmish_net::client::InterpolationClock>| {
            clock.render_tick = Some(tick);
        })
        .after(skirmish_net::client::ClientSystems::Interpolate),
    );
}

/// A shooter claims to see the target where it stood a second ago and fires there. Returns
/// whether the target was hit.
fn shoot_at_an_old_view(lag: skirmish_net::server::lag_compensation::LagCompensation) -> bool {
    let (mut server, mut a, mut b, _, id_b) = duel();
    server.app.insert_resource(lag);
    // The target stands in the line of fire for a second, then steps out of it.
    run_for(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_millis(300),
    );
    let then = f64::from(server.app.world().resource::<SimulationTick>().0);
    run_for(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_millis(700),
    );
    teleport(&mut server, id_b, Vec2::new(200.0, 300.0));
    run_for(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_millis(600),
    );
    claim_view(&mut a, then);
    aim_and_fire(&mut a, Vec2::X, true);
    run_for(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_millis(1000),
    );
    server_health(&server, id_b).0 < MAX_HEALTH
}

#[test]
fn a_client_cannot_claim_an_older_view_than_its_latency_allows() {
    use skirmish_net::server::lag_compensation::LagCompensation;
    // Unbounded, the lie would land: the server would judge against a second ago.
    let unbounded = LagCompensation {
        max_rewind: Duration::from_secs(10),
        view_slack: Duration::from_secs(10),
        view_behind_ack: Duration::from_secs(10),
        ..LagCompensation::default()
    };
    assert!(
        shoot_at_an_old_view(unbounded),
        "the lie works when nothing bounds it"
    );
    // Bounded by the client's latency (loopback: a few ticks) and 250 ms, it misses.
    assert!(
        !shoot_at_an_old_view(LagCompensation::default()),
        "a view older than the latency allows must not be honoured"
    );
}
