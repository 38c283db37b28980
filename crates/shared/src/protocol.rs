//! The game's wire messages. The channels they travel on and the codec they are encoded with
//! come from `skirmish-net` ([`connection_config`], [`encode`], [`decode`]) and are re-exported
//! here.

use serde::{Deserialize, Serialize};

use crate::simulation::InputFrame;

/// Bumped whenever the wire format changes. The client states it in [`ClientMessage::Hello`]; a
/// server with another version answers [`ServerMessage::Goodbye`] with the reason and disconnects.
pub const PROTOCOL_VERSION: u16 = 3;

/// The netcode protocol id: the game's tag ("SKIRM"). It stays the same across versions so that a
/// client of another version still completes the handshake and hears, in words, why it cannot
/// play ([`PROTOCOL_VERSION`] is checked in [`ClientMessage::Hello`]). Forks should change it, so
/// that other games' clients and tokens are refused by netcode itself.
pub const PROTOCOL_ID: u64 = 0x534B_4952_4D00_0000;

pub use skirmish_net::channels::{ClientChannel, ServerChannel, connection_config};
pub use skirmish_net::codec::{DecodeError, MAX_MESSAGE_BYTES, decode, encode};

/// How many past input frames every input message repeats, so a lost packet costs nothing.
pub const INPUT_REDUNDANCY: usize = 8;

/// Messages from a client to the server.
///
/// `Hello` must stay the first variant with `version` as its first field, in every version, so
/// any server can read the version of any client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// On [`ClientChannel::Command`]: the first message of every connection. The server answers
    /// [`ServerMessage::Welcome`] (and spawns the player) or [`ServerMessage::Goodbye`].
    Hello {
        /// The client's [`PROTOCOL_VERSION`].
        version: u16,
        /// The player's display name.
        name: String,
    },
    /// On [`ClientChannel::Input`]: the newest input frames, oldest first, and the newest
    /// snapshot tick the client has applied.
    Input {
        /// Newest server tick whose snapshot the client applied, if any.
        ack: Option<u32>,
        /// Up to [`INPUT_REDUNDANCY`] frames, oldest first.
        frames: Vec<InputFrame>,
    },
    /// On [`ClientChannel::Command`]: sets the player's display name.
    SetName(String),
}

/// Messages from the server to a client.
///
/// `Goodbye` must stay the first variant, unchanged, in every version, so a client of any version
/// can read why it is sent away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// On [`ServerChannel::Reliable`]: the server is about to disconnect this client, and why
    /// (shutting down, wrong version, a protocol violation...). Shown to the player.
    Goodbye {
        /// Why, in words a player understands.
        reason: String,
    },
    /// On [`ServerChannel::Reliable`]: the answer to an accepted [`ClientMessage::Hello`].
    Welcome {
        /// The netcode client id the server knows this client by.
        client_id: u64,
        /// Server tick rate in Hz.
        tick_rate: u16,
        /// Fingerprint of the replication registry; see
        /// [`ReplicationRegistry::fingerprint`](crate::replication::ReplicationRegistry::fingerprint).
        registry_fingerprint: u64,
    },
    /// On [`ServerChannel::Snapshot`]: world state at `tick`, delta against the client's ack.
    Snapshot(Snapshot),
    /// On [`ServerChannel::Reliable`]: the player of client `killer` killed the one of `victim`.
    Kill {
        /// Client id of the shooter.
        killer: u64,
        /// Client id of the player who died.
        victim: u64,
    },
}

/// The world as of one server tick, relative to what the client acknowledged.
///
/// Holding snapshot `tick` means holding the complete replicated state at `tick` for every entity
/// it carries: each entity's changes since the newest acknowledged snapshot that carried it, so a
/// lost snapshot is repaired by the next one. The payload's bit layout is in
/// [`snapshot`](skirmish_net::snapshot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Server tick this snapshot describes.
    pub tick: u32,
    /// Client tick of this client's newest input simulated by `tick`: the client replays its
    /// inputs after it on top of this snapshot (prediction and reconciliation).
    pub last_input: Option<u32>,
    /// Entities and despawns, bit-packed (see [`snapshot`](skirmish_net::snapshot)).
    pub payload: Vec<u8>,
}

/// The protocol version of an encoded [`ClientMessage::Hello`], read even when the rest of the
/// message is in a format this build does not know (a newer client's hello). `None` when `bytes`
/// is not a hello.
pub fn peek_hello_version(bytes: &[u8]) -> Option<u16> {
    #[derive(Deserialize)]
    enum HelloPrefix {
        Hello { version: u16 },
    }
    if bytes.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    let (HelloPrefix::Hello { version }, _) = bincode::serde::decode_from_slice::<HelloPrefix, _>(
        bytes,
        skirmish_net::codec::wire_config(),
    )
    .ok()?;
    Some(version)
}

#[cfg(test)]
mod tests {
    use bevy::math::Vec2;

    use super::*;

    #[test]
    fn client_messages_round_trip() {
        let messages = [
            ClientMessage::Input {
                ack: Some(42),
                frames: vec![
                    InputFrame {
                        tick: 7,
                        movement: Vec2::new(1.0, -0.5),
                        aim: Vec2::Y,
                        fire: true,
                    },
                    InputFrame {
                        tick: 8,
                        movement: Vec2::ZERO,
                        ..Default::default()
                    },
                ],
            },
            ClientMessage::Input {
                ack: None,
                frames: vec![],
            },
            ClientMessage::SetName("Ferris".into()),
            ClientMessage::Hello {
                version: PROTOCOL_VERSION,
                name: "Ferris".into(),
            },
        ];
        for message in messages {
            let bytes = encode(&message);
            let decoded: ClientMessage = decode(&bytes).expect("a message we encoded must decode");
            assert_eq!(decoded, message, "round trip must preserve the message");
        }
    }

    #[test]
    fn server_messages_round_trip() {
        let messages = [
            ServerMessage::Goodbye {
                reason: "server shutting down".into(),
            },
            ServerMessage::Welcome {
                client_id: u64::MAX,
                tick_rate: 60,
                registry_fingerprint: 0xDEAD_BEEF,
            },
            ServerMessage::Snapshot(Snapshot {
                tick: 1234,
                last_input: Some(1200),
                payload: vec![1, 2, 3, 255],
            }),
        ];
        for message in messages {
            let bytes = encode(&message);
            let decoded: ServerMessage = decode(&bytes).expect("a message we encoded must decode");
            assert_eq!(decoded, message, "round trip must preserve the message");
        }
    }

    #[test]
    fn oversized_input_is_rejected_before_decoding() {
        let bytes = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(
            matches!(
                decode::<ClientMessage>(&bytes),
                Err(DecodeError::TooLarge(_))
            ),
            "a message over the limit must be rejected as too large"
        );
    }

    #[test]
    fn length_prefix_beyond_limit_is_rejected() {
        // A SetName whose length prefix claims 4 GiB: must fail, not allocate.
        let mut bytes = vec![2u8]; // variant index of SetName
        bytes.push(252); // bincode varint marker for a u32
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            matches!(
                decode::<ClientMessage>(&bytes),
                Err(DecodeError::Malformed(_))
            ),
            "a length prefix over the limit must be rejected"
        );
    }

    #[test]
    fn garbage_and_trailing_bytes_are_rejected() {
        assert!(
            decode::<ClientMessage>(&[]).is_err(),
            "empty input is not a message"
        );
        assert!(
            decode::<ClientMessage>(&[0xFF; 16]).is_err(),
            "unknown variant must fail"
        );
        let mut bytes = encode(&ClientMessage::SetName("a".into()));
        bytes.push(0);
        assert!(
            matches!(
                decode::<ClientMessage>(&bytes),
                Err(DecodeError::TrailingBytes(1))
            ),
            "trailing bytes must be reported"
        );
    }

    /// What every version must keep: the `Hello` and `Goodbye` layouts, so versions can talk
    /// about their mismatch. This is the encoding version 3 produces; it must never change.
    #[test]
    fn hello_and_goodbye_keep_their_wire_layout() {
        let hello = encode(&ClientMessage::Hello {
            version: 7,
            name: "ab".into(),
        });
        assert_eq!(hello, [0, 7, 2, b'a', b'b']);
        let goodbye = encode(&ServerMessage::Goodbye {
            reason: "bye".into(),
        });
        assert_eq!(goodbye, [0, 3, b'b', b'y', b'e']);
        // A future client's hello with more fields after the name still yields its version.
        let mut future = hello.clone();
        future.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(
            decode::<ClientMessage>(&future),
            Err(DecodeError::TrailingBytes(3))
        ));
        assert_eq!(peek_hello_version(&future), Some(7));
    }
}
