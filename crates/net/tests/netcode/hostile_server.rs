//! A server that misbehaves (hostile, or a fork's with a bug) sends well-formed messages that
//! would make its clients spend without bound: each is refused with a reason, and the client
//! leaves instead of freezing.

use bevy::prelude::*;
use bevy_renet::RenetServer;
use skirmish_net::client::ReplicaLimits;
use skirmish_net::prelude::*;
use skirmish_net::server::{ClientJoined, Farewells};
use skirmish_net::testing::{TestNet, Wire};
use skirmish_net::tick::MAX_TICK_RATE;

use crate::protocol::*;

/// Steps `net` until client `index` has a disconnect reason; returns it.
fn reason_within_seconds(net: &mut TestNet, index: usize, seconds: u64) -> String {
    let steps = seconds as u32 * u32::from(TICK_RATE);
    net.run_until("the client leaves", steps, |net| {
        net.disconnect_reason(index).is_some()
    });
    net.disconnect_reason(index)
        .expect("the client leaves the server, saying why")
}

#[test]
fn a_server_claiming_a_huge_tick_rate_is_left() {
    // (A server refuses to listen at such a rate; a hostile one claims it all the same.)
    let mut net = TestNet::new(Wire::Memory, 11, server_app(|_| {})).unwrap();
    net.server_mut()
        .world_mut()
        .insert_resource(skirmish_net::server::TickRate(MAX_TICK_RATE + 1));
    let client = net.add_client(client_app(|_| {}), "c").unwrap();
    let reason = reason_within_seconds(&mut net, client, 10);
    assert!(reason.contains("tick rate"), "{reason:?}");
    assert!(!net.is_welcomed(client));
}

#[test]
fn a_server_spawning_past_the_clients_limit_is_left() {
    const LIMIT: usize = 100;
    let server = server_app(|app| {
        app.add_observer(|_: On<ClientJoined>, mut commands: Commands| {
            for i in 0..LIMIT * 2 {
                commands.spawn((Replicated, Dot(Vec2::new(i as f32, 0.0))));
            }
        });
    });
    let mut net = TestNet::new(Wire::Memory, 12, server).unwrap();
    let client = net
        .add_client(
            client_app(|app| {
                app.insert_resource(ReplicaLimits {
                    max_entities: LIMIT,
                });
            }),
            "c",
        )
        .unwrap();
    let reason = reason_within_seconds(&mut net, client, 10);
    assert!(
        reason.contains(&format!("more than {LIMIT} entities")),
        "{reason:?}"
    );
    let held = net
        .client(client)
        .world()
        .resource::<skirmish_net::client::ServerEntityMap>()
        .len();
    assert!(held <= LIMIT, "the client held {held} entities");
}

#[test]
fn a_goodbye_with_terminal_escapes_is_shown_without_them() {
    let server = server_app(|app| {
        app.add_systems(
            Update,
            |mut server: ResMut<RenetServer>,
             mut farewells: ResMut<Farewells>,
             time: Res<Time<Real>>,
             clients: Res<skirmish_net::server::ConnectedClients>| {
                for &client_id in clients.keys() {
                    let reason = format!("bye\u{1B}[2J\u{1B}]0;pwned\u{7}{}", "!".repeat(5000));
                    farewells.send(&mut server, client_id, &reason, time.elapsed());
                }
            },
        );
    });
    let mut net = TestNet::new(Wire::Memory, 13, server).unwrap();
    let client = net.add_client(client_app(|_| {}), "c").unwrap();
    let reason = reason_within_seconds(&mut net, client, 10);
    assert!(reason.contains("bye"), "{reason:?}");
    assert!(
        !reason.chars().any(char::is_control),
        "no control character reaches the screen or the log: {reason:?}"
    );
    assert!(
        reason.chars().count() < 300,
        "cut short: {} chars",
        reason.len()
    );
}
