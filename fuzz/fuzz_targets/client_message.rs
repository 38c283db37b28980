//! What a client can make the server decode: any bytes on any client channel. The server reads
//! the hello's version, decodes `ClientMessage`, feeds input frames (sanitized) to the client's
//! jitter buffer and decodes the game's messages. None of it may panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skirmish_net::codec::decode;
use skirmish_net::input::InputBuffer;
use skirmish_net::protocol::peek_hello_version;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::SetName;

fuzz_target!(|data: &[u8]| {
    let _ = peek_hello_version(data);
    match decode::<ClientMessage>(data) {
        Ok(ClientMessage::Input {
            first_tick, frames, ..
        }) => {
            let mut buffer = InputBuffer::<InputFrame>::default();
            for (offset, frame) in (0u32..).zip(frames) {
                buffer.push(first_tick.saturating_add(offset), frame);
            }
            for _ in 0..4 {
                let frame = buffer.pop();
                assert!(frame.movement.is_finite() && frame.movement.length() <= 1.0 + 1e-4);
                assert!(frame.aim.is_finite());
            }
        }
        Ok(ClientMessage::Message { bytes, .. }) => {
            let _ = decode::<SetName>(&bytes);
        }
        _ => {}
    }
});
