//! Interpolation under loss: another client's dot, as a watcher shows it, moves smoothly, never
//! backwards and never faster than it really goes.

use std::time::Duration;

use bevy::prelude::*;
use skirmish_net::client::InterpolationClock;
use skirmish_net::prelude::*;
use skirmish_net::socket::LinkConditioner;
use skirmish_net::testing::{TestNet, Wire};

use crate::protocol::*;

/// The dot of `owner` as client `index` shows it, interpolated.
fn interpolated(net: &mut TestNet, index: usize, owner: u64) -> Option<&Interpolated<Dot>> {
    let world = net.client_mut(index).world_mut();
    let mut query = world.query::<(&Owner, &Interpolated<Dot>)>();
    query
        .iter(world)
        .find(|(dot_owner, _)| dot_owner.0 == owner)
        .map(|(_, interpolated)| interpolated)
}

fn shown(net: &mut TestNet, index: usize, owner: u64) -> Option<Vec2> {
    interpolated(net, index, owner).map(|interpolated| interpolated.shown().0)
}

#[test]
fn interpolated_remote_never_jumps_or_goes_backwards_under_loss() {
    let mut net = TestNet::new(Wire::Memory, 1, server_app(|_| {})).unwrap();
    let mover = net.add_client(client_app(|_| {}), "mover").unwrap();
    let lossy = LinkConditioner::new(0, 0, 0.05).unwrap();
    let watcher = net
        .add_conditioned_client(client_app(|_| {}), "watcher", lossy)
        .unwrap();
    net.connect_all();
    let mover_id = net.client_id(mover);
    net.run_until("the watcher interpolates the mover", 600, |net| {
        shown(net, watcher, mover_id).is_some()
    });

    set_stick(&mut net, mover, Vec2::X);
    // Let the motion reach the watcher's render clock.
    net.run_for(Duration::from_millis(300));

    let mut last = shown(&mut net, watcher, mover_id).unwrap();
    let start = last;
    for _ in 0..net.steps_in(Duration::from_millis(1500)) {
        net.step();
        let now = shown(&mut net, watcher, mover_id).unwrap();
        // The watcher's own frame time: what its player sees between two frames.
        let dt = net
            .client(watcher)
            .world()
            .resource::<Time<Real>>()
            .delta_secs();
        // The render clock runs at most 10% fast, so a frame moves at most ~1.1x real speed.
        let max_step = SPEED * dt * 1.15 + 0.01;
        assert!(now.x >= last.x - 1e-3, "moved backwards: {last} -> {now}");
        if (now - last).length() > max_step {
            let clock = *net.client(watcher).world().resource::<InterpolationClock>();
            let samples: Vec<(u32, Vec2)> = interpolated(&mut net, watcher, mover_id)
                .unwrap()
                .samples()
                .map(|(tick, dot)| (*tick, dot.0))
                .collect();
            panic!(
                "jumped {} in {dt}s: {last} -> {now}, clock {clock:?}, samples {:?}",
                (now - last).length(),
                &samples[samples.len().saturating_sub(12)..]
            );
        }
        assert!(
            (now.y - start.y).abs() < 1e-3,
            "left the straight path: {now}"
        );
        last = now;
    }
    // 1.5 s at full stick covers 1.5 * SPEED; the watcher saw at least 2/3 s of it.
    assert!(
        last.x > start.x + SPEED * 2.0 / 3.0,
        "the watcher saw the mover advance: {start} -> {last}"
    );
}
