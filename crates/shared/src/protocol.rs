//! What the demo's server and client must agree on: its protocol id and version, its replicated
//! components, its messages and its input type, registered in this module's plugin on both sides
//! in the same order. The connection protocol itself (hello, welcome, snapshots, the codec and channels)
//! is `skirmish-net`'s.

use bevy::prelude::*;
use serde::{Deserialize, Serialize};
use skirmish_net::client::SpawnKey;
use skirmish_net::input::AppInputExt;
use skirmish_net::messages::AppMessageExt;
use skirmish_net::protocol::GameProtocol;
use skirmish_net::registry::{AppReplicateExt, ReplicationRegistry, Teleported};

use crate::arena::ServerArena;
use crate::game::{Health, Killed, Ping, PlayerSlot, Projectile, Roster, Score, Shielded};
use crate::simulation::{InputFrame, Player, PlayerName, Position, Rotation, Velocity};

pub use skirmish_net::channels::{ClientChannel, ServerChannel, connection_config};
pub use skirmish_net::codec::{DecodeError, MAX_MESSAGE_BYTES, decode, encode};
pub use skirmish_net::protocol::{INPUT_REDUNDANCY, ServerMessage, Snapshot, peek_hello_version};

/// Bumped whenever the demo's wire format changes (its components, messages or input, or
/// `skirmish-net`'s protocol). A server with another version answers the client's hello with a
/// goodbye that says so.
pub const PROTOCOL_VERSION: u16 = 10;

/// The netcode protocol id: the game's tag ("SKIRM"). It stays the same across versions so that a
/// client of another version still completes the handshake and hears, in words, why it cannot
/// play. Forks should change it, so that other games' clients and tokens are refused by netcode
/// itself.
pub const PROTOCOL_ID: u64 = 0x534B_4952_4D00_0000;

/// The demo's [`GameProtocol`].
pub const GAME_PROTOCOL: GameProtocol = GameProtocol {
    id: PROTOCOL_ID,
    version: PROTOCOL_VERSION,
};

/// The connection protocol's client messages, with the demo's input.
pub type ClientMessage = skirmish_net::protocol::ClientMessage<InputFrame>;

/// Client to server: the player's new display name.
#[derive(Message, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetName(pub String);

/// Registers everything both apps must agree on. Both add it (through
/// [`SharedPlugin`](crate::SharedPlugin)), so the registries are identical on both sides.
pub(super) fn plugin(app: &mut App) {
    app.insert_resource(GAME_PROTOCOL)
        .init_resource::<ReplicationRegistry>()
        .add_input::<InputFrame>()
        // A position with a velocity is coded against where that velocity takes it.
        .replicate_quantized_with_rate::<Position, Velocity>()
        .predict()
        .interpolate()
        .lag_compensate()
        .replicate_quantized::<Velocity>()
        .replicate_quantized::<Rotation>()
        // Before `Projectile`: a client sees whose prediction a projectile answers as it arrives.
        .replicate::<SpawnKey>()
        .replicate::<Player>()
        .replicate::<PlayerName>()
        .replicate::<Health>()
        .replicate::<Projectile>()
        .replicate::<Score>()
        .replicate::<Ping>()
        .replicate::<PlayerSlot>()
        .replicate::<Shielded>()
        .replicate::<Teleported>()
        // On the one entity that tells every client which arena the server runs.
        .replicate::<ServerArena>()
        // On the one entity that lists every player for every client.
        .replicate::<Roster>()
        .add_server_message::<Killed>()
        .add_client_message::<SetName>();
}

#[cfg(test)]
mod tests {
    use bevy::math::Vec2;

    use super::*;

    #[test]
    fn input_messages_round_trip() {
        let message = ClientMessage::Input {
            ack: Some(42),
            first_tick: 7,
            frames: vec![
                InputFrame {
                    movement: Vec2::new(1.0, -0.5),
                    aim: Vec2::Y,
                    fire: true,
                },
                InputFrame::default(),
            ],
            view_behind: Some(77),
        };
        let bytes = encode(&message);
        let decoded: ClientMessage = decode(&bytes).expect("a message we encoded must decode");
        assert_eq!(decoded, message);
    }

    #[test]
    fn oversized_input_is_rejected_before_decoding() {
        let bytes = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            decode::<ClientMessage>(&bytes),
            Err(DecodeError::TooLarge(_))
        ));
    }
}
