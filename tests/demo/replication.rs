//! End-to-end replication over real `renet_netcode` sockets on 127.0.0.1.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use crate::common::*;
use bevy::prelude::*;
use bevy_renet::RenetClient;
use serde::{Deserialize, Serialize};
use skirmish_client::ServerEntityMap;
use skirmish_server::{ConnectedClients, ServerSettings};
use skirmish_shared::prelude::*;

#[test]
fn two_clients_see_both_players() {
    let mut server = server();
    let mut a = client(server.addr, "a");
    let mut b = client(server.addr, "b");
    connect_all(&mut server, &mut [&mut a, &mut b]);
    let (id_a, id_b) = (client_id(&a), client_id(&b));
    assert_ne!(id_a, id_b, "clients must get distinct ids");

    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "both clients see both players",
        |_, clients| {
            clients.iter_mut().all(|client| {
                let mut seen: Vec<u64> =
                    players_seen(client).into_iter().map(|(id, _)| id).collect();
                seen.sort_unstable();
                let mut expected = vec![id_a, id_b];
                expected.sort_unstable();
                seen == expected
            })
        },
    );
    assert_eq!(server.app.world().resource::<ConnectedClients>().len(), 2);
}

#[test]
fn inputs_move_only_the_senders_player_and_others_see_it() {
    let mut server = server();
    let mut a = client(server.addr, "a");
    let mut b = client(server.addr, "b");
    connect_all(&mut server, &mut [&mut a, &mut b]);
    let (id_a, id_b) = (client_id(&a), client_id(&b));
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "B sees A",
        |_, clients| seen_position(clients[1], id_a).is_some(),
    );
    let a_start = server_position(&mut server, id_a).unwrap();
    let b_start = server_position(&mut server, id_b).unwrap();

    // B holds "right"; A does nothing.
    set_movement(&mut b, Vec2::X);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "B's player moves 100 units on the server",
        |server, _| server_position(server, id_b).unwrap().x > b_start.x + 100.0,
    );
    assert_eq!(
        server_position(&mut server, id_a).unwrap(),
        a_start,
        "B's inputs must never move A's player"
    );

    // Now A moves up: B must see A's new server position.
    set_movement(&mut b, Vec2::ZERO);
    set_movement(&mut a, Vec2::Y);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "A's player moves 100 units on the server",
        |server, _| server_position(server, id_a).unwrap().y > a_start.y + 100.0,
    );
    set_movement(&mut a, Vec2::ZERO);
    // Once A stops, B converges on exactly the server's position.
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "B sees A's final server position",
        |server, clients| {
            let authoritative = server_position(server, id_a).unwrap();
            server_position(server, id_a) == seen_position(clients[1], id_a)
                && authoritative.y > a_start.y + 100.0
                && seen_position(clients[0], id_a) == Some(authoritative)
        },
    );
    assert_eq!(
        server_position(&mut server, id_a).unwrap().x,
        a_start.x,
        "moving up must not move A sideways"
    );
}

#[test]
fn disconnected_client_is_despawned_everywhere() {
    let mut server = server();
    let mut a = client(server.addr, "a");
    let mut b = client(server.addr, "b");
    connect_all(&mut server, &mut [&mut a, &mut b]);
    let id_a = client_id(&a);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "B sees A",
        |_, clients| seen_position(clients[1], id_a).is_some(),
    );

    a.world_mut().resource_mut::<RenetClient>().disconnect();
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "A's player gone on server and on B",
        |server, clients| {
            let on_server = server
                .app
                .world_mut()
                .query::<&Player>()
                .iter(server.app.world())
                .any(|player| player.client_id == id_a);
            !on_server
                && !server
                    .app
                    .world()
                    .resource::<ConnectedClients>()
                    .contains_key(&id_a)
                && seen_position(clients[1], id_a).is_none()
        },
    );
    assert_eq!(
        b.world().resource::<ServerEntityMap>().len(),
        3,
        "B keeps only its own player, the arena and the roster"
    );
}

#[test]
fn late_joiner_receives_existing_entities_with_current_values() {
    let mut server = server();
    let mut a = client(server.addr, "a");
    connect_all(&mut server, &mut [&mut a]);
    let id_a = client_id(&a);
    run_until(&mut server, &mut [&mut a], "A sees itself", |_, clients| {
        seen_position(clients[0], id_a).is_some()
    });
    let start = server_position(&mut server, id_a).unwrap();
    set_movement(&mut a, Vec2::new(-1.0, -1.0));
    run_until(
        &mut server,
        &mut [&mut a],
        "A moves away from its spawn point",
        |server, _| server_position(server, id_a).unwrap().distance(start) > 80.0,
    );
    set_movement(&mut a, Vec2::ZERO);
    run_for(&mut server, &mut [&mut a], Duration::from_millis(200));
    // A world object that exists before B joins.
    server
        .app
        .world_mut()
        .spawn((Replicated, Position(Vec2::new(12.5, -7.25))));

    let mut b = client(server.addr, "b");
    connect_all(&mut server, &mut [&mut a, &mut b]);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "B receives A and the object at their current values",
        |server, clients| {
            let Some(expected) = server_position(server, id_a) else {
                return false;
            };
            let b_view = &mut *clients[1];
            let mut positions = b_view
                .world_mut()
                .query_filtered::<&Position, Without<Player>>();
            let object_ok = positions
                .iter(b_view.world())
                .any(|position| position.0 == Vec2::new(12.5, -7.25));
            seen_position(b_view, id_a) == Some(expected) && object_ok
        },
    );
}

/// A component that exists only in this test: the template promise is that one `replicate` call
/// on each side is all it takes.
#[derive(Component, Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Crate {
    label: String,
    hit_points: u16,
}

/// In a large arena a client gets only the players near it, yet its roster (scoreboard, player
/// count, kill feed names) lists everyone.
#[test]
fn far_players_are_not_sent_but_every_roster_lists_them() {
    let settings = ServerSettings {
        bind: loopback_any(),
        arena: Arena::new(3),
        ..default()
    };
    let mut server = server_from(&settings, |_| {});
    let mut a = client(server.addr, "Ada");
    let mut b = client(server.addr, "Brook");
    connect_all(&mut server, &mut [&mut a, &mut b]);
    let (id_a, id_b) = (client_id(&a), client_id(&b));
    let roster = |app: &mut App| {
        let mut rosters = app.world_mut().query::<&Roster>();
        rosters.iter(app.world()).next().cloned()
    };
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "both rosters list both players",
        |_, clients| {
            clients.iter_mut().all(|client| {
                roster(client).is_some_and(|roster| {
                    roster.players == 2
                        && roster.name_of(id_a) == Some("Ada")
                        && roster.name_of(id_b) == Some("Brook")
                })
            })
        },
    );
    // Opposite corner tiles (where they spawn depends on their random ids: maybe one tile).
    for (id, slot) in [(id_a, 0), (id_b, 8)] {
        let player = skirmish_server::player_of(server.app.world(), id).expect("plays");
        let at = skirmish_server::combat::spawn_point(&settings.arena, slot, 0);
        server
            .app
            .world_mut()
            .get_mut::<Position>(player)
            .unwrap()
            .0 = at;
    }
    run_for(
        &mut server,
        &mut [&mut a, &mut b],
        Duration::from_millis(300),
    );
    assert!(seen_position(&mut b, id_a).is_none(), "A is too far for B");
    assert!(seen_position(&mut a, id_b).is_none(), "B is too far for A");
    assert!(seen_position(&mut a, id_a).is_some(), "each sees itself");
}

#[test]
fn clients_play_in_the_servers_arena_and_forget_it_when_they_leave() {
    let settings = ServerSettings {
        bind: loopback_any(),
        arena: Arena::new(3),
        ..default()
    };
    let mut server = server_from(&settings, |_| {});
    let mut a = client(server.addr, "a");
    assert_eq!(*a.world().resource::<Arena>(), Arena::default());
    connect_all(&mut server, &mut [&mut a]);
    run_until(
        &mut server,
        &mut [&mut a],
        "the client's arena becomes the server's 3 x 3 tiles",
        |_, clients| *clients[0].world().resource::<Arena>() == Arena::new(3),
    );
    skirmish_client::disconnect(a.world_mut());
    a.update();
    assert_eq!(
        *a.world().resource::<Arena>(),
        Arena::default(),
        "after leaving, the client is back in the default arena"
    );
}

#[test]
fn test_only_component_replicates_with_one_registration() {
    let mut server = server_with(|app| {
        app.replicate::<Crate>();
    });
    let mut a = client_with(server.addr, "a", |app| {
        app.replicate::<Crate>();
    });
    connect_all(&mut server, &mut [&mut a]);

    let entity = server
        .app
        .world_mut()
        .spawn((
            Replicated,
            Crate {
                label: "ammo".into(),
                hit_points: 30,
            },
        ))
        .id();
    let crates_seen = |app: &mut App| -> Vec<Crate> {
        let mut query = app.world_mut().query::<&Crate>();
        query.iter(app.world()).cloned().collect()
    };
    run_until(
        &mut server,
        &mut [&mut a],
        "the crate spawns on the client",
        |_, clients| {
            crates_seen(clients[0])
                == vec![Crate {
                    label: "ammo".into(),
                    hit_points: 30,
                }]
        },
    );

    server
        .app
        .world_mut()
        .get_mut::<Crate>(entity)
        .unwrap()
        .hit_points = 5;
    run_until(
        &mut server,
        &mut [&mut a],
        "the change reaches the client",
        |_, clients| {
            crates_seen(clients[0])
                == vec![Crate {
                    label: "ammo".into(),
                    hit_points: 5,
                }]
        },
    );

    server.app.world_mut().entity_mut(entity).remove::<Crate>();
    run_until(
        &mut server,
        &mut [&mut a],
        "the removal reaches the client",
        |_, clients| crates_seen(clients[0]).is_empty(),
    );

    server.app.world_mut().entity_mut(entity).insert(Crate {
        label: "back".into(),
        hit_points: 1,
    });
    run_until(
        &mut server,
        &mut [&mut a],
        "re-insertion reaches the client",
        |_, clients| {
            crates_seen(clients[0])
                == vec![Crate {
                    label: "back".into(),
                    hit_points: 1,
                }]
        },
    );

    server.app.world_mut().despawn(entity);
    run_until(
        &mut server,
        &mut [&mut a],
        "the despawn reaches the client",
        |_, clients| {
            crates_seen(clients[0]).is_empty()
                // Left: the client's own player, the arena and the roster.
                && clients[0].world().resource::<ServerEntityMap>().len() == 3
        },
    );
}

#[test]
fn garbage_datagrams_do_not_disturb_connected_clients() {
    let mut server = server();
    let mut a = client(server.addr, "a");
    let mut b = client(server.addr, "b");
    connect_all(&mut server, &mut [&mut a, &mut b]);
    let id_a = client_id(&a);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "B sees A",
        |_, clients| seen_position(clients[1], id_a).is_some(),
    );

    let attacker = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut rng = fastrand::Rng::with_seed(0x5EED);
    let mut datagrams: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0xFF; 4000], vec![0; 1400]];
    for len in [1, 13, 50, 200, 1199, 1300, 1500] {
        datagrams.push((0..len).map(|_| rng.u8(..)).collect());
    }
    // A "connection request" prefix (packet type 0) followed by junk.
    datagrams.push(
        [0u8]
            .into_iter()
            .chain((0..1077).map(|_| rng.u8(..)))
            .collect(),
    );
    for _ in 0..20 {
        for datagram in &datagrams {
            attacker.send_to(datagram, server.addr).unwrap();
        }
        step(&mut server, &mut [&mut a, &mut b]);
    }

    let before = seen_position(&mut b, id_a).unwrap();
    set_movement(&mut a, Vec2::X);
    run_until(
        &mut server,
        &mut [&mut a, &mut b],
        "B still sees A move after the garbage",
        |_, clients| seen_position(clients[1], id_a).is_some_and(|now| now.x > before.x + 50.0),
    );
    assert!(
        is_connected(&a) && is_connected(&b),
        "both clients stay connected"
    );
    assert_eq!(server.app.world().resource::<ConnectedClients>().len(), 2);
}

#[test]
fn undecodable_or_oversized_messages_disconnect_only_their_sender() {
    let mut server = server();
    let mut good = client(server.addr, "good");
    let mut bad = client(server.addr, "bad");
    let mut huge = client(server.addr, "huge");
    connect_all(&mut server, &mut [&mut good, &mut bad, &mut huge]);
    let (id_good, id_bad, id_huge) = (client_id(&good), client_id(&bad), client_id(&huge));

    bad.world_mut()
        .resource_mut::<RenetClient>()
        .send_message(ClientChannel::Input, vec![0xFFu8; 32]);
    // Larger than MAX_MESSAGE_BYTES: renet carries it in slices, the server must refuse it.
    let oversized = vec![0u8; skirmish_shared::protocol::MAX_MESSAGE_BYTES + 100];
    huge.world_mut()
        .resource_mut::<RenetClient>()
        .send_message(ClientChannel::Command, oversized);

    run_until(
        &mut server,
        &mut [&mut good, &mut bad, &mut huge],
        "both offenders are dropped",
        |server, clients| {
            let connected = server.app.world().resource::<ConnectedClients>();
            !connected.contains_key(&id_bad)
                && !connected.contains_key(&id_huge)
                && !is_connected(clients[1])
                && !is_connected(clients[2])
                && seen_position(clients[0], id_bad).is_none()
                && seen_position(clients[0], id_huge).is_none()
        },
    );
    assert!(
        is_connected(&good),
        "the well-behaved client stays connected"
    );

    let before = server_position(&mut server, id_good).unwrap();
    set_movement(&mut good, Vec2::Y);
    run_until(
        &mut server,
        &mut [&mut good],
        "the good client is still served",
        |server, clients| {
            seen_position(clients[0], id_good).is_some_and(|seen| seen.y > before.y + 50.0)
                && server_position(server, id_good).is_some()
        },
    );
}

#[test]
fn a_full_server_refuses_with_a_reason_and_admits_once_a_slot_frees() {
    let mut server = server_with_capacity(1, |_| {});
    let mut first = client(server.addr, "first");
    connect_all(&mut server, &mut [&mut first]);

    let mut second = client(server.addr, "second");
    run_until(
        &mut server,
        &mut [&mut first, &mut second],
        "the second client is refused",
        |_, c| {
            matches!(
                c[1].world().resource::<skirmish_client::ConnectionStatus>(),
                skirmish_client::ConnectionStatus::Disconnected { .. }
            )
        },
    );
    let status = second
        .world()
        .resource::<skirmish_client::ConnectionStatus>()
        .clone();
    let skirmish_client::ConnectionStatus::Disconnected { reason } = status else {
        unreachable!("checked above");
    };
    assert!(reason.contains("full"), "the refusal says why: {reason}");
    assert!(is_connected(&first), "the first client keeps playing");

    // The first client leaves; the slot frees and a new attempt gets in.
    first.world_mut().resource_mut::<RenetClient>().disconnect();
    run_until(
        &mut server,
        &mut [&mut first],
        "the slot frees",
        |server, _| server.app.world().resource::<ConnectedClients>().is_empty(),
    );
    skirmish_client::connect(second.world_mut(), server.addr, "second").unwrap();
    connect_all(&mut server, &mut [&mut second]);
}
