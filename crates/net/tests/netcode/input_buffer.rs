//! The server's input buffer: its lead grows with jitter and shrinks back on a clean link, and
//! the client hears of it and paces its clock by it.

use skirmish_net::client::{ClientTransport, NetStats};
use skirmish_net::server::{ConnectedClient, ConnectedClients};
use skirmish_net::socket::LinkConditioner;
use skirmish_net::testing::{TestNet, Wire};

use crate::protocol::*;

/// The server's input lead target for client `index`, in ticks.
fn server_buffer(net: &TestNet, index: usize) -> f32 {
    let world = net.server().world();
    let client = world.resource::<ConnectedClients>()[&net.client_id(index)];
    world.get::<ConnectedClient>(client).unwrap().pacing.target
}

fn stats(net: &TestNet, index: usize) -> &NetStats {
    net.client(index).world().resource::<NetStats>()
}

#[test]
fn the_input_buffer_grows_with_jitter_and_shrinks_back_and_the_client_is_told() {
    let mut net = TestNet::new(Wire::Memory, 1, server_app(|_| {})).unwrap();
    // 40 ms of jitter each way: inputs arrive up to 2.4 ticks apart from their schedule.
    let jittery = LinkConditioner::new(20, 40, 0.0).unwrap();
    net.add_conditioned_client(client_app(|_| {}), "jittery", jittery)
        .unwrap();
    net.connect_all();
    net.run_until("the buffer grows and the client hears of it", 600, |net| {
        server_buffer(net, 0) >= 2.0 && stats(net, 0).input_buffer_ticks >= 2.0
    });
    net.client_mut(0)
        .world_mut()
        .resource_mut::<ClientTransport>()
        .set_conditioner(LinkConditioner::default());
    net.run_until("the buffer shrinks back on a clean link", 600, |net| {
        server_buffer(net, 0) <= 1.5 && stats(net, 0).input_buffer_ticks <= 1.5
    });
    // And the client's clock follows the advice back to the server's pace.
    net.run_until("the client's clock settles", 600, |net| {
        (stats(net, 0).clock_rate - 1.0).abs() < 0.02
    });
}
