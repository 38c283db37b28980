//! What a server (or anyone spoofing one) can make a client decode and apply: any bytes on the
//! reliable or the snapshot channel, applied to a live client world (welcome, kill feed, goodbye,
//! bit-packed snapshots with deltas against the client's history). Errors are fine (the client
//! disconnects with a reason); panics are bugs.
#![no_main]

use std::cell::RefCell;

use bevy::prelude::*;
use libfuzzer_sys::fuzz_target;

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
        if skirmish_client::apply_server_messages(world, reliable, snapshots).is_err() {
            // As after a real protocol error: the replicated world is dropped.
            skirmish_client::disconnect(world);
        }
    });
});
