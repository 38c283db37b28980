//! The minimal game end to end on `skirmish_net::testing`: its server and two clients on the
//! in-memory network, stepped on the test clock. Each client flies its own ship (predicted), sees
//! the other's (interpolated), and hears of pickups.

use std::time::Duration;

use bevy::prelude::*;
use minimal_game::client::{GemsClientPlugin, PickupLog, set_helm};
use minimal_game::server::GemsServerPlugin;
use minimal_game::shared::{Gem, Helm, Pilot, Ship};
use skirmish_net::client::{Interpolated, NetStats, Predicted};
use skirmish_net::testing::{TestNet, Wire};

/// Steps allowed for any one thing to happen: ten seconds of the test clock at 30 Hz.
const WITHIN: u32 = 300;

/// Where client `index` shows `pilot`'s ship: predicted for its own, interpolated for others.
fn ship_seen(net: &mut TestNet, index: usize, pilot: u64) -> Option<(Vec2, bool)> {
    let world = net.client_mut(index).world_mut();
    let mut query = world.query::<(
        &Pilot,
        Option<&Predicted<Ship>>,
        Option<&Interpolated<Ship>>,
    )>();
    query.iter(world).find(|(p, _, _)| p.0 == pilot).and_then(
        |(_, predicted, interpolated)| match (predicted, interpolated) {
            (Some(predicted), _) => Some((predicted.value.at, true)),
            (None, Some(interpolated)) => Some((interpolated.shown().at, false)),
            _ => None,
        },
    )
}

#[test]
fn two_pilots_fly_see_each_other_and_hear_of_pickups() {
    let mut server = App::new();
    server.add_plugins((MinimalPlugins, GemsServerPlugin));
    let mut net = TestNet::new(Wire::Memory, 7, server).expect("server listens");
    for name in ["a", "b"] {
        let mut client = App::new();
        client.add_plugins((MinimalPlugins, GemsClientPlugin));
        net.add_client(client, name).expect("client connects");
    }
    net.connect_all();
    let (id_a, id_b) = (net.client_id(0), net.client_id(1));

    // Each sees both ships: its own predicted, the other's interpolated.
    net.run_until("ships appear", WITHIN, |net| {
        matches!(ship_seen(net, 0, id_a), Some((_, true)))
            && matches!(ship_seen(net, 0, id_b), Some((_, false)))
            && matches!(ship_seen(net, 1, id_b), Some((_, true)))
            && matches!(ship_seen(net, 1, id_a), Some((_, false)))
    });

    // Gems are scattered and replicated.
    net.run_until("gems arrive", WITHIN, |net| {
        let world = net.client_mut(0).world_mut();
        let mut gems = world.query::<&Gem>();
        gems.iter(world).count() == minimal_game::server::GEMS
    });

    // A flies: its own view moves at once, B sees it move, the server agrees.
    let start = ship_seen(&mut net, 0, id_a).unwrap().0;
    set_helm(
        net.client_mut(0),
        Helm {
            turn: 0.3,
            thrust: true,
        },
    );
    net.run_until("b sees a fly", WITHIN, |net| {
        ship_seen(net, 1, id_a).is_some_and(|(at, _)| at.distance(start) > 50.0)
    });
    assert!(ship_seen(&mut net, 0, id_a).unwrap().0.distance(start) > 50.0);

    // Steer A straight at a gem: both clients hear of the pickup.
    let heard = |net: &TestNet, index: usize| {
        net.client(index)
            .world()
            .resource::<PickupLog>()
            .0
            .iter()
            .any(|pickup| pickup.pilot == id_a && pickup.haul >= 1)
    };
    let max_steps = net.steps_in(Duration::from_secs(20));
    net.run_until("a gem is collected and both hear of it", max_steps, |net| {
        let own = ship_seen(net, 0, id_a).unwrap().0;
        let world = net.client_mut(0).world_mut();
        let heading = {
            let mut ships = world.query::<(&Pilot, &Predicted<Ship>)>();
            ships
                .iter(world)
                .find(|(p, _)| p.0 == id_a)
                .unwrap()
                .1
                .value
                .heading
        };
        let nearest = {
            let mut gems = world.query::<&Gem>();
            gems.iter(world)
                .map(Gem::at)
                .min_by(|x, y| x.distance(own).total_cmp(&y.distance(own)))
        };
        if let Some(gem) = nearest {
            let wanted = (gem - own).to_angle();
            let turn = (wanted - heading + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU)
                - std::f32::consts::PI;
            set_helm(
                net.client_mut(0),
                Helm {
                    turn: (turn * 4.0).clamp(-1.0, 1.0),
                    thrust: turn.abs() < 0.5,
                },
            );
        }
        heard(net, 0) && heard(net, 1)
    });
    // On a clean link, with every input on time, no correction is larger than the wire's
    // rounding.
    let stats = net.client(0).world().resource::<NetStats>();
    assert!(
        stats.max_correction < 1.0,
        "own ship corrected by {} units",
        stats.max_correction
    );
}
