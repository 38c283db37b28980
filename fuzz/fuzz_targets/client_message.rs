//! What a client can make the server decode: any bytes on any client channel. The server reads
//! the hello's version, decodes `ClientMessage`, and feeds input frames (sanitized) to the
//! player's jitter buffer. None of it may panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skirmish_server::InputBuffer;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::{decode, peek_hello_version};

fuzz_target!(|data: &[u8]| {
    let _ = peek_hello_version(data);
    if let Ok(ClientMessage::Input { frames, .. }) = decode::<ClientMessage>(data) {
        let mut buffer = InputBuffer::default();
        for frame in frames {
            buffer.push(frame);
        }
        for _ in 0..4 {
            let frame = buffer.pop().sanitized();
            assert!(frame.movement.is_finite() && frame.movement.length() <= 1.0 + 1e-4);
            assert!(frame.aim.is_finite());
        }
    }
});
