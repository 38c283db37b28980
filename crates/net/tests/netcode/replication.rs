//! End-to-end replication: who sees what, inputs moving only their sender's entity, despawns on
//! leaving, late joiners, a test-only component, and a server that shrugs off garbage, bad
//! messages and one client too many.

use bevy::prelude::*;
use bevy_renet::RenetClient;
use serde::{Deserialize, Serialize};
use skirmish_net::channels::ClientChannel;
use skirmish_net::client::ServerEntityMap;
use skirmish_net::codec::MAX_MESSAGE_BYTES;
use skirmish_net::prelude::*;
use skirmish_net::server::{ConnectedClients, ListenConfig};
use skirmish_net::testing::{TestNet, Wire};

use crate::protocol::*;

/// Every dot client `index` sees: (owner client id, place).
fn dots_seen(net: &mut TestNet, index: usize) -> Vec<(u64, Vec2)> {
    let world = net.client_mut(index).world_mut();
    let mut query = world.query::<(&Owner, &Dot)>();
    query
        .iter(world)
        .map(|(owner, dot)| (owner.0, dot.0))
        .collect()
}

/// The place of `owner`'s dot as client `index` has it (the server's word, not a prediction).
fn seen(net: &mut TestNet, index: usize, owner: u64) -> Option<Vec2> {
    dots_seen(net, index)
        .into_iter()
        .find(|(id, _)| *id == owner)
        .map(|(_, at)| at)
}

/// The place of client `index`'s dot on the server.
fn at_server(net: &mut TestNet, index: usize) -> Option<Vec2> {
    server_dot(net, index).map(|(_, dot)| dot.0)
}

fn connected_clients(net: &TestNet) -> &ConnectedClients {
    net.server().world().resource::<ConnectedClients>()
}

#[test]
fn two_clients_see_both_dots() {
    let mut net = connected(Wire::Memory, 1, 2);
    let (id_a, id_b) = (net.client_id(0), net.client_id(1));
    assert_ne!(id_a, id_b, "clients must get distinct ids");
    let mut expected = vec![id_a, id_b];
    expected.sort_unstable();

    net.run_until("both clients see both dots", 600, |net| {
        (0..2).all(|index| {
            let mut owners: Vec<u64> = dots_seen(net, index)
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            owners.sort_unstable();
            owners == expected
        })
    });
    assert_eq!(connected_clients(&net).len(), 2);
}

#[test]
fn inputs_move_only_the_senders_dot_and_others_see_it() {
    let mut net = connected(Wire::Memory, 2, 2);
    let (a, b) = (0, 1);
    let id_a = net.client_id(a);
    net.run_until("B sees A", 600, |net| seen(net, b, id_a).is_some());
    let a_start = at_server(&mut net, a).unwrap();
    let b_start = at_server(&mut net, b).unwrap();

    // B holds "right"; A does nothing.
    set_stick(&mut net, b, Vec2::X);
    net.run_until("B's dot moves 100 units on the server", 600, |net| {
        at_server(net, b).unwrap().x > b_start.x + 100.0
    });
    assert_eq!(
        at_server(&mut net, a).unwrap(),
        a_start,
        "B's inputs must never move A's dot"
    );

    // Now A moves up: B must see A's new server position.
    set_stick(&mut net, b, Vec2::ZERO);
    set_stick(&mut net, a, Vec2::Y);
    net.run_until("A's dot moves 100 units on the server", 600, |net| {
        at_server(net, a).unwrap().y > a_start.y + 100.0
    });
    set_stick(&mut net, a, Vec2::ZERO);
    // Once A stops, B converges on exactly the server's position.
    net.run_until("B sees A's final server position", 600, |net| {
        let authoritative = at_server(net, a).unwrap();
        seen(net, b, id_a) == Some(authoritative)
            && authoritative.y > a_start.y + 100.0
            && seen(net, a, id_a) == Some(authoritative)
    });
    assert_eq!(
        at_server(&mut net, a).unwrap().x,
        a_start.x,
        "moving up must not move A sideways"
    );
}

#[test]
fn disconnected_client_is_despawned_everywhere() {
    let mut net = connected(Wire::Memory, 3, 2);
    let (a, b) = (0, 1);
    let id_a = net.client_id(a);
    net.run_until("B sees A", 600, |net| seen(net, b, id_a).is_some());

    net.client_mut(a)
        .world_mut()
        .resource_mut::<RenetClient>()
        .disconnect();
    net.run_until("A's dot gone on the server and on B", 600, |net| {
        let world = net.server_mut().world_mut();
        let on_server = world
            .query::<&Owner>()
            .iter(world)
            .any(|owner| owner.0 == id_a);
        !on_server && !connected_clients(net).contains_key(&id_a) && seen(net, b, id_a).is_none()
    });
    assert_eq!(
        net.client(b).world().resource::<ServerEntityMap>().len(),
        1,
        "B keeps only its own dot"
    );
}

#[test]
fn late_joiner_receives_existing_entities_with_current_values() {
    let mut net = connected(Wire::Memory, 4, 1);
    let a = 0;
    let id_a = net.client_id(a);
    net.run_until("A sees itself", 600, |net| seen(net, a, id_a).is_some());
    let start = at_server(&mut net, a).unwrap();
    set_stick(&mut net, a, Vec2::new(-1.0, -1.0));
    net.run_until("A moves away from where it started", 600, |net| {
        at_server(net, a).unwrap().distance(start) > 80.0
    });
    set_stick(&mut net, a, Vec2::ZERO);
    net.run_for(std::time::Duration::from_millis(200));
    // A world object that exists before B joins.
    let object = Vec2::new(12.5, -7.25);
    net.server_mut()
        .world_mut()
        .spawn((Replicated, Dot(object)));

    let b = net.add_client(client_app(|_| {}), "b").unwrap();
    net.connect_all();
    net.run_until(
        "B receives A and the object at their current values",
        600,
        |net| {
            let Some(expected) = at_server(net, a) else {
                return false;
            };
            let world = net.client_mut(b).world_mut();
            let object_ok = world
                .query_filtered::<&Dot, Without<Owner>>()
                .iter(world)
                .any(|dot| dot.0 == object);
            seen(net, b, id_a) == Some(expected) && object_ok
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

#[test]
fn test_only_component_replicates_with_one_registration() {
    let server = server_app(|app| {
        app.replicate::<Crate>();
    });
    let mut net = TestNet::new(Wire::Memory, 5, server).unwrap();
    let client = client_app(|app| {
        app.replicate::<Crate>();
    });
    net.add_client(client, "a").unwrap();
    net.connect_all();

    let entity = net
        .server_mut()
        .world_mut()
        .spawn((
            Replicated,
            Crate {
                label: "ammo".into(),
                hit_points: 30,
            },
        ))
        .id();
    let crates_seen = |net: &mut TestNet| -> Vec<Crate> {
        let world = net.client_mut(0).world_mut();
        world.query::<&Crate>().iter(world).cloned().collect()
    };
    let ammo = |hit_points| Crate {
        label: "ammo".into(),
        hit_points,
    };
    net.run_until("the crate spawns on the client", 600, |net| {
        crates_seen(net) == vec![ammo(30)]
    });

    net.server_mut()
        .world_mut()
        .get_mut::<Crate>(entity)
        .unwrap()
        .hit_points = 5;
    net.run_until("the change reaches the client", 600, |net| {
        crates_seen(net) == vec![ammo(5)]
    });

    net.server_mut()
        .world_mut()
        .entity_mut(entity)
        .remove::<Crate>();
    net.run_until("the removal reaches the client", 600, |net| {
        crates_seen(net).is_empty()
    });

    let back = Crate {
        label: "back".into(),
        hit_points: 1,
    };
    net.server_mut()
        .world_mut()
        .entity_mut(entity)
        .insert(back.clone());
    net.run_until("re-insertion reaches the client", 600, |net| {
        crates_seen(net) == vec![back.clone()]
    });

    net.server_mut().world_mut().despawn(entity);
    net.run_until("the despawn reaches the client", 600, |net| {
        crates_seen(net).is_empty()
            // Left: the client's own dot.
            && net.client(0).world().resource::<ServerEntityMap>().len() == 1
    });
}

#[test]
fn garbage_datagrams_do_not_disturb_connected_clients() {
    let mut net = connected(Wire::Memory, 6, 2);
    let (a, b) = (0, 1);
    let id_a = net.client_id(a);
    net.run_until("B sees A", 600, |net| seen(net, b, id_a).is_some());

    let attacker = net.raw_peer().unwrap();
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
            attacker.send_to(datagram, net.server_addr()).unwrap();
        }
        net.step();
    }

    let before = seen(&mut net, b, id_a).unwrap();
    set_stick(&mut net, a, Vec2::X);
    net.run_until("B still sees A move after the garbage", 600, |net| {
        seen(net, b, id_a).is_some_and(|now| now.x > before.x + 50.0)
    });
    assert!(
        net.is_welcomed(a) && net.is_welcomed(b),
        "both clients stay connected"
    );
    assert_eq!(connected_clients(&net).len(), 2);
}

#[test]
fn undecodable_or_oversized_messages_disconnect_only_their_sender() {
    let mut net = connected(Wire::Memory, 7, 3);
    let (good, bad, huge) = (0, 1, 2);
    let (id_good, id_bad, id_huge) = (net.client_id(good), net.client_id(bad), net.client_id(huge));

    net.client_mut(bad)
        .world_mut()
        .resource_mut::<RenetClient>()
        .send_message(ClientChannel::Input, vec![0xFFu8; 32]);
    // Larger than MAX_MESSAGE_BYTES: renet carries it in slices, the server must refuse it.
    let oversized = vec![0u8; MAX_MESSAGE_BYTES + 100];
    net.client_mut(huge)
        .world_mut()
        .resource_mut::<RenetClient>()
        .send_message(ClientChannel::Command, oversized);

    net.run_until("both offenders are dropped", 600, |net| {
        let connected = connected_clients(net);
        !connected.contains_key(&id_bad)
            && !connected.contains_key(&id_huge)
            && !net.is_welcomed(bad)
            && !net.is_welcomed(huge)
            && seen(net, good, id_bad).is_none()
            && seen(net, good, id_huge).is_none()
    });
    assert!(
        net.is_welcomed(good),
        "the well-behaved client stays connected"
    );

    let before = at_server(&mut net, good).unwrap();
    set_stick(&mut net, good, Vec2::Y);
    net.run_until("the good client is still served", 600, |net| {
        seen(net, good, id_good).is_some_and(|now| now.y > before.y + 50.0)
            && at_server(net, good).is_some()
    });
}

#[test]
fn a_full_server_refuses_with_a_reason_and_admits_once_a_slot_frees() {
    let config = ListenConfig {
        max_clients: 1,
        ..ListenConfig::default()
    };
    let mut net = TestNet::with_config(Wire::Memory, 8, server_app(|_| {}), &config).unwrap();
    let first = net.add_client(client_app(|_| {}), "first").unwrap();
    net.connect_all();

    let second = net.add_client(client_app(|_| {}), "second").unwrap();
    net.run_until("the second client is refused", 600, |net| {
        net.disconnect_reason(second).is_some()
    });
    let reason = net.disconnect_reason(second).unwrap();
    assert!(reason.contains("full"), "the refusal says why: {reason}");
    assert!(net.is_welcomed(first), "the first client keeps playing");

    // The first client leaves; the slot frees and a new attempt gets in.
    net.client_mut(first)
        .world_mut()
        .resource_mut::<RenetClient>()
        .disconnect();
    net.run_until("the slot frees", 600, |net| {
        connected_clients(net).is_empty()
    });
    drop(net.remove_client(first));
    net.reconnect(second, "second").unwrap();
    net.connect_all();
    assert!(net.is_welcomed(second));
}
