//! The server tells each client which entities it controls: the client marks them `Controlled`
//! with no game code, and unmarks them when the server takes one away or gives it to another.

use bevy::prelude::*;
use skirmish_net::client::Controlled;
use skirmish_net::server::ControlledBy;
use skirmish_net::testing::{TestNet, Wire};

use crate::protocol::{Owner, connected, server_dot};

/// Steps allowed for one change to reach the clients: five seconds of the test clock.
fn within(net: &TestNet) -> u32 {
    net.steps_in(std::time::Duration::from_secs(5))
}

/// The owners of the entities client `index` has marked `Controlled`.
fn controlled_owners(net: &mut TestNet, index: usize) -> Vec<u64> {
    let world = net.client_mut(index).world_mut();
    let mut owners = world.query_filtered::<&Owner, With<Controlled>>();
    let mut owners: Vec<u64> = owners.iter(world).map(|owner| owner.0).collect();
    owners.sort_unstable();
    owners
}

#[test]
fn each_client_controls_what_the_server_says_and_only_that() {
    let mut net = connected(Wire::Memory, 41, 2);
    let (a, b) = (net.client_id(0), net.client_id(1));
    let steps = within(&net);
    net.run_until("each client marks its own dot", steps, |net| {
        controlled_owners(net, 0) == [a] && controlled_owners(net, 1) == [b]
    });

    // The server hands a's dot to b: a no longer controls it, b controls both.
    let (dot_a, _) = server_dot(&mut net, 0).expect("a's dot");
    let client_b = *net
        .server()
        .world()
        .resource::<skirmish_net::server::ConnectedClients>()
        .get(&b)
        .expect("b is connected");
    net.server_mut()
        .world_mut()
        .entity_mut(dot_a)
        .insert(ControlledBy(client_b));
    let mut both = vec![a, b];
    both.sort_unstable();
    net.run_until("a's dot moves to b", steps, |net| {
        controlled_owners(net, 0).is_empty() && controlled_owners(net, 1) == both
    });

    // And takes it away from everyone.
    net.server_mut()
        .world_mut()
        .entity_mut(dot_a)
        .remove::<ControlledBy>();
    net.run_until("nobody controls a's dot", steps, |net| {
        controlled_owners(net, 0).is_empty() && controlled_owners(net, 1) == [b]
    });
}
