//! What a server (or anyone spoofing one) can make a client decode and apply: any bytes on the
//! reliable or the snapshot channel, applied to a live client world (welcome, kill feed, goodbye,
//! bit-packed snapshots with deltas against the client's history). Errors are fine (the client
//! disconnects with a reason); panics are bugs, and so is holding more than the client's caps
//! allow (entities, controlled entities) or a tick rate outside what a client accepts.
#![no_main]

use std::cell::RefCell;

use bevy::prelude::*;
use libfuzzer_sys::fuzz_target;
use skirmish_net::client::{ControlledIds, MAX_CONTROLLED, ReplicaLimits, ServerEntityMap};
use skirmish_net::tick::MAX_TICK_RATE;

thread_local! {
    static CLIENT: RefCell<App> = RefCell::new(skirmish_client::headless_app());
}

fuzz_target!(|data: &[u8]| {
    CLIENT.with_borrow_mut(|app| {
        // The first byte picks the channel; the rest is the message.
        let (channel, message) = data.split_first().unwrap_or((&0, &[]));
        let none: [&[u8]; 0] = [];
        let one = [message];
        let (reliable, snapshots) = if channel & 1 == 0 {
            (&none[..], &one[..])
        } else {
            (&one[..], &none[..])
        };
        let world = app.world_mut();
        // Small caps, so the fuzzer reaches them within one message.
        world.insert_resource(ReplicaLimits { max_entities: 64 });
        if skirmish_client::apply_server_messages(world, reliable, snapshots).is_err() {
            // As after a real protocol error: the replicated world is dropped.
            skirmish_client::disconnect(world);
        }
        assert!(world.resource::<ServerEntityMap>().len() <= 64);
        assert!(world.resource::<ControlledIds>().len() <= MAX_CONTROLLED);
        let rate = world.resource::<skirmish_net::client::ClientSession>().tick_rate;
        assert!((1..=MAX_TICK_RATE).contains(&rate), "tick rate {rate}");
    });
});
