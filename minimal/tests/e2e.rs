//! The minimal game end to end: its server and two clients over real UDP on 127.0.0.1. Each
//! client flies its own ship (predicted), sees the other's (interpolated), and hears of pickups.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use minimal_game::client::{PickupLog, client_app, set_helm};
use minimal_game::server::server_app;
use minimal_game::shared::{Gem, Helm, Pilot, Ship};
use skirmish_net::client::{ClientSession, Interpolated, NetStats, Predicted};
use skirmish_net::server::ConnectedClients;

/// Steps every app until `done` holds, or panics after a bounded deadline.
fn run_until(apps: &mut [&mut App], what: &str, mut done: impl FnMut(&mut [&mut App]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done(apps) {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        for app in apps.iter_mut() {
            app.update();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn client_id(app: &App) -> u64 {
    app.world().resource::<ClientSession>().client_id
}

/// Where `client` shows `pilot`'s ship: predicted for its own, interpolated for others.
fn ship_seen(client: &mut App, pilot: u64) -> Option<(Vec2, bool)> {
    let mut query = client.world_mut().query::<(
        &Pilot,
        Option<&Predicted<Ship>>,
        Option<&Interpolated<Ship>>,
    )>();
    query
        .iter(client.world())
        .find(|(p, _, _)| p.0 == pilot)
        .and_then(
            |(_, predicted, interpolated)| match (predicted, interpolated) {
                (Some(predicted), _) => Some((predicted.value.at, true)),
                (None, Some(interpolated)) => Some((interpolated.shown().at, false)),
                _ => None,
            },
        )
}

#[test]
fn two_pilots_fly_see_each_other_and_hear_of_pickups() {
    let (mut server, addr) =
        server_app(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("server listens");
    let mut a = client_app(addr, "a").expect("client a");
    let mut b = client_app(addr, "b").expect("client b");
    run_until(&mut [&mut server, &mut a, &mut b], "both joined", |apps| {
        apps[0].world().resource::<ConnectedClients>().len() == 2
            && apps[1].world().resource::<ClientSession>().welcomed
            && apps[2].world().resource::<ClientSession>().welcomed
    });
    let (id_a, id_b) = (client_id(&a), client_id(&b));

    // Each sees both ships: its own predicted, the other's interpolated.
    run_until(&mut [&mut server, &mut a, &mut b], "ships appear", |apps| {
        let (_, rest) = apps.split_at_mut(1);
        let (a, b) = rest.split_at_mut(1);
        matches!(ship_seen(a[0], id_a), Some((_, true)))
            && matches!(ship_seen(a[0], id_b), Some((_, false)))
            && matches!(ship_seen(b[0], id_b), Some((_, true)))
            && matches!(ship_seen(b[0], id_a), Some((_, false)))
    });

    // Gems are scattered and replicated.
    run_until(&mut [&mut server, &mut a, &mut b], "gems arrive", |apps| {
        let mut gems = apps[1].world_mut().query::<&Gem>();
        gems.iter(apps[1].world()).count() == minimal_game::server::GEMS
    });

    // A flies: its own view moves at once, B sees it move, the server agrees.
    let start = ship_seen(&mut a, id_a).unwrap().0;
    set_helm(
        &mut a,
        Helm {
            turn: 0.3,
            thrust: true,
        },
    );
    run_until(&mut [&mut server, &mut a, &mut b], "b sees a fly", |apps| {
        let (_, rest) = apps.split_at_mut(2);
        ship_seen(rest[0], id_a).is_some_and(|(at, _)| at.distance(start) > 50.0)
    });
    assert!(ship_seen(&mut a, id_a).unwrap().0.distance(start) > 50.0);

    // Steer A straight at a gem: both clients hear of the pickup.
    let mut haul_heard = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !haul_heard {
        assert!(Instant::now() < deadline, "no gem was collected");
        let own = ship_seen(&mut a, id_a).unwrap().0;
        let heading = {
            let mut ships = a.world_mut().query::<(&Pilot, &Predicted<Ship>)>();
            ships
                .iter(a.world())
                .find(|(p, _)| p.0 == id_a)
                .unwrap()
                .1
                .value
                .heading
        };
        let nearest = {
            let mut gems = a.world_mut().query::<&Gem>();
            gems.iter(a.world())
                .map(Gem::at)
                .min_by(|x, y| x.distance(own).total_cmp(&y.distance(own)))
        };
        if let Some(gem) = nearest {
            let wanted = (gem - own).to_angle();
            let turn = (wanted - heading + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU)
                - std::f32::consts::PI;
            set_helm(
                &mut a,
                Helm {
                    turn: (turn * 4.0).clamp(-1.0, 1.0),
                    thrust: turn.abs() < 0.5,
                },
            );
        }
        for app in [&mut server, &mut a, &mut b] {
            app.update();
        }
        std::thread::sleep(Duration::from_millis(2));
        let heard = |app: &App| {
            app.world()
                .resource::<PickupLog>()
                .0
                .iter()
                .any(|pickup| pickup.pilot == id_a && pickup.haul >= 1)
        };
        haul_heard = heard(&a) && heard(&b);
    }
    // Steady flight on a clean link needs no correction larger than the wire's rounding.
    let stats = a.world().resource::<NetStats>();
    assert!(
        stats.max_correction < 1.0,
        "own ship corrected by {} units",
        stats.max_correction
    );
}
