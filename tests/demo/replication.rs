//! The demo's own replication over real `renet_netcode` sockets on 127.0.0.1: the arena it
//! plays in, and interest by distance with a roster that still lists everyone. (The netcode's
//! generic replication tests are in `crates/net/tests/netcode/replication.rs`.)

use std::time::Duration;

use crate::common::*;
use bevy::prelude::*;
use skirmish_app::ServerSettings;
use skirmish_server::MatchSettings;
use skirmish_shared::prelude::*;

/// In a large arena a client gets only the players near it, yet its roster (scoreboard, player
/// count, kill feed names) lists everyone.
#[test]
fn far_players_are_not_sent_but_every_roster_lists_them() {
    let settings = ServerSettings {
        bind: loopback_any(),
        ..default()
    };
    let game = MatchSettings {
        arena: Arena::new(3),
        ..default()
    };
    let mut server = server_from(&settings, &game, |_| {});
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
        let at = skirmish_server::combat::spawn_point(&game.arena, slot, 0);
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
        ..default()
    };
    let game = MatchSettings {
        arena: Arena::new(3),
        ..default()
    };
    let mut server = server_from(&settings, &game, |_| {});
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
