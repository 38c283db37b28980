//! The connection protocol: the messages every connection carries, whatever the game. The game's
//! own messages travel inside [`ClientMessage::Message`] and [`ServerMessage::Message`], typed by
//! the [`messages`](crate::messages) registry; its input travels in [`ClientMessage::Input`].

use serde::{Deserialize, Serialize};

use crate::codec::{MAX_MESSAGE_BYTES, wire_config};

/// How many past input frames every input message repeats, so a lost packet costs nothing.
pub const INPUT_REDUNDANCY: usize = 8;

/// The game's identity on the wire, inserted by the game's shared plugin: both apps need it.
#[derive(bevy::prelude::Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct GameProtocol {
    /// The netcode protocol id: the game's tag. Clients and tokens of another id are refused by
    /// netcode itself, so every game (and every fork) should have its own.
    pub id: u64,
    /// The game's wire version, bumped whenever its messages or components change. A client of
    /// another version completes the handshake, says hello and hears, in words, why it cannot play.
    pub version: u16,
}

/// Messages from a client to the server, `I` being the game's input type.
///
/// `Hello` must stay the first variant with `version` as its first field, in every version, so
/// any server can read the version of any client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage<I> {
    /// On [`ClientChannel::Command`](crate::channels::ClientChannel::Command): the first message
    /// of every connection. The server answers [`ServerMessage::Welcome`] or
    /// [`ServerMessage::Goodbye`].
    Hello {
        /// The client's [`GameProtocol::version`].
        version: u16,
        /// The player's display name.
        name: String,
    },
    /// On [`ClientChannel::Input`](crate::channels::ClientChannel::Input): the newest input
    /// frames, one per consecutive client tick, and the newest snapshot tick the client applied.
    Input {
        /// Newest server tick whose snapshot the client applied, if any.
        ack: Option<u32>,
        /// The client tick of the first frame; the others follow tick by tick.
        first_tick: u32,
        /// Up to [`INPUT_REDUNDANCY`] frames, oldest first. More fail to decode, counted while
        /// decoding: bincode does not count zero-sized elements against its byte limit, so a
        /// game whose input is `()` would otherwise spin through any length a peer claims.
        #[serde(
            deserialize_with = "bounded_frames::deserialize",
            bound(deserialize = "I: Deserialize<'de>")
        )]
        frames: Vec<I>,
        /// How far behind `ack` the client was showing the world when it sampled the newest
        /// frame, in 1/16 ticks (earlier frames were shown a tick earlier each): what lag
        /// compensation rewinds to. Relative to `ack`, so it means the same at any tick and
        /// the server can bound it by what an acknowledged snapshot allows; `None` without an
        /// ack.
        view_behind: Option<u16>,
    },
    /// On [`ClientChannel::Command`](crate::channels::ClientChannel::Command): one of the game's
    /// client messages (see [`AppMessageExt::add_client_message`](crate::messages::AppMessageExt::add_client_message)).
    Message {
        /// Its registration index.
        kind: u8,
        /// Its encoding.
        bytes: Vec<u8>,
    },
}

/// Decoding of [`ClientMessage::Input`]'s frames that stops past [`INPUT_REDUNDANCY`].
mod bounded_frames {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};

    use super::INPUT_REDUNDANCY;

    struct Frames<I>(PhantomData<I>);

    impl<'de, I: Deserialize<'de>> Visitor<'de> for Frames<I> {
        type Value = Vec<I>;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            write!(formatter, "at most {INPUT_REDUNDANCY} input frames")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<I>, A::Error> {
            if let Some(claimed) = seq.size_hint()
                && claimed > INPUT_REDUNDANCY
            {
                return Err(A::Error::invalid_length(claimed, &self));
            }
            let mut frames = Vec::with_capacity(INPUT_REDUNDANCY);
            while let Some(frame) = seq.next_element()? {
                if frames.len() == INPUT_REDUNDANCY {
                    return Err(A::Error::invalid_length(frames.len() + 1, &self));
                }
                frames.push(frame);
            }
            Ok(frames)
        }
    }

    pub(super) fn deserialize<'de, D, I>(deserializer: D) -> Result<Vec<I>, D::Error>
    where
        D: Deserializer<'de>,
        I: Deserialize<'de>,
    {
        deserializer.deserialize_seq(Frames(PhantomData))
    }
}

/// Messages from the server to a client.
///
/// `Goodbye` must stay the first variant, unchanged, in every version, so a client of any version
/// can read why it is sent away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// On [`ServerChannel::Reliable`](crate::channels::ServerChannel::Reliable): the server is
    /// about to disconnect this client, and why (shutting down, wrong version, a protocol
    /// violation...). Shown to the player.
    Goodbye {
        /// Why, in words a player understands.
        reason: String,
    },
    /// On [`ServerChannel::Reliable`](crate::channels::ServerChannel::Reliable): the answer to an
    /// accepted [`ClientMessage::Hello`].
    Welcome {
        /// The netcode client id the server knows this client by.
        client_id: u64,
        /// Server tick rate in Hz.
        tick_rate: u16,
        /// Fingerprint of everything both sides must register alike (replicated components,
        /// messages, the input type); see [`crate::registry::ReplicationRegistry::fingerprint`].
        registry_fingerprint: u64,
    },
    /// On [`ServerChannel::Snapshot`](crate::channels::ServerChannel::Snapshot): world state at
    /// `tick`, delta against the client's ack.
    Snapshot(Snapshot),
    /// On [`ServerChannel::Reliable`](crate::channels::ServerChannel::Reliable): one of the
    /// game's server messages (see
    /// [`AppMessageExt::add_server_message`](crate::messages::AppMessageExt::add_server_message)).
    Message {
        /// Its registration index.
        kind: u8,
        /// Its encoding.
        bytes: Vec<u8>,
    },
    /// On [`ServerChannel::Reliable`](crate::channels::ServerChannel::Reliable): the entity
    /// `entity` is now this client's to control (`yours`), or no longer is. The client marks it
    /// [`Controlled`](crate::client::Controlled), so its components are predicted.
    Control {
        /// The entity's network id.
        entity: crate::registry::NetId,
        /// Whether this client controls it from now on.
        yours: bool,
    },
}

/// The world as of one server tick, relative to what the client acknowledged.
///
/// Holding snapshot `tick` means holding the complete replicated state at `tick` for every entity
/// it carries: each entity's changes since the newest acknowledged snapshot that carried it, so a
/// lost snapshot is repaired by the next one. The payload's bit layout is in
/// `snapshot_format`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Server tick this snapshot describes.
    pub tick: u32,
    /// Client tick of this client's newest input simulated by `tick`: the client replays its
    /// inputs after it on top of this snapshot (prediction and reconciliation).
    pub last_input: Option<u32>,
    /// Entities and despawns, bit-packed (see `snapshot_format`). On the wire as
    /// bincode writes any byte sequence (length, then the bytes), copied in one piece.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// The server's advice to this client's clock, in 1/4 ticks: positive, run a little faster
    /// (its inputs arrive too late for the server's jitter buffer); negative, slower.
    pub clock: i8,
    /// The input lead the server's jitter buffer aims for with this client, in 1/4 ticks.
    pub buffer: u8,
    /// How many entities the server replicates in all, when it changed since the last snapshot
    /// (a client with interest management gets only those relevant to it).
    pub total: Option<u32>,
}

/// A hash of everything both sides must register alike: replicated components, messages (with
/// their order) and the input type. Sent in the welcome, so a client built differently notices
/// at once.
pub fn registry_fingerprint(world: &bevy::prelude::World) -> u64 {
    let registry = world.get_resource::<crate::registry::ReplicationRegistry>();
    let components = registry.map_or(0, crate::registry::ReplicationRegistry::fingerprint);
    let messages: Vec<&str> = world
        .get_resource::<crate::messages::MessageRegistry>()
        .map(|registry| registry.names().collect())
        .unwrap_or_default();
    let input = registry
        .and_then(crate::registry::ReplicationRegistry::input_type)
        .unwrap_or("");
    crate::registry::fnv1a(
        components,
        messages.iter().chain([&input]).map(|name| name.as_bytes()),
    )
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
    let (HelloPrefix::Hello { version }, _) =
        bincode::serde::decode_from_slice::<HelloPrefix, _>(bytes, wire_config()).ok()?;
    Some(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{DecodeError, decode, encode};

    type Message = ClientMessage<(i8, bool)>;

    #[test]
    fn a_frame_count_past_the_redundancy_fails_to_decode_even_for_zero_sized_inputs() {
        let input = |frames: Vec<()>| ClientMessage::Input {
            ack: None,
            first_tick: 0,
            frames,
            view_behind: None,
        };
        let most = encode(&input(vec![(); INPUT_REDUNDANCY]));
        assert!(decode::<ClientMessage<()>>(&most).is_ok());
        let more = encode(&input(vec![(); INPUT_REDUNDANCY + 1]));
        assert!(decode::<ClientMessage<()>>(&more).is_err());
        // A claimed length of 2^64 - 1 zero-sized frames: refused at once, not counted through.
        let mut endless = encode(&input(vec![]));
        let length_at = endless.len() - 2; // the frame count, then `view`'s `None`
        assert_eq!(endless[length_at], 0);
        endless.splice(
            length_at..=length_at,
            [0xFD].into_iter().chain(u64::MAX.to_le_bytes()),
        );
        let started = std::time::Instant::now();
        assert!(decode::<ClientMessage<()>>(&endless).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn client_messages_round_trip() {
        let messages = [
            Message::Input {
                ack: Some(42),
                first_tick: 7,
                frames: vec![(1, true), (-1, false)],
                view_behind: Some(1234),
            },
            Message::Input {
                ack: None,
                first_tick: 0,
                frames: vec![],
                view_behind: None,
            },
            Message::Message {
                kind: 3,
                bytes: vec![1, 2],
            },
            Message::Hello {
                version: 9,
                name: "Ferris".into(),
            },
        ];
        for message in messages {
            let bytes = encode(&message);
            let decoded: Message = decode(&bytes).expect("a message we encoded must decode");
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
                clock: -3,
                buffer: 8,
                total: Some(20_000),
            }),
            ServerMessage::Message {
                kind: 0,
                bytes: vec![7],
            },
        ];
        for message in messages {
            let bytes = encode(&message);
            let decoded: ServerMessage = decode(&bytes).expect("a message we encoded must decode");
            assert_eq!(decoded, message, "round trip must preserve the message");
        }
    }

    #[test]
    fn length_prefix_beyond_limit_is_rejected() {
        // A game message whose length prefix claims 4 GiB: must fail, not allocate.
        let mut bytes = vec![2u8, 0]; // variant index of Message, kind 0
        bytes.push(252); // bincode varint marker for a u32
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode::<Message>(&bytes),
            Err(DecodeError::Malformed(_))
        ));
    }

    /// What every version must keep: the `Hello` and `Goodbye` layouts, so versions can talk
    /// about their mismatch. This is the encoding every version produces; it must never change.
    #[test]
    fn hello_and_goodbye_keep_their_wire_layout() {
        let hello = encode(&Message::Hello {
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
            decode::<Message>(&future),
            Err(DecodeError::TrailingBytes(3))
        ));
        assert_eq!(peek_hello_version(&future), Some(7));
    }
}
