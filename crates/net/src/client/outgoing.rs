//! The game's messages to the server, sent once the server has welcomed us.

use bevy::prelude::*;
use bevy_renet::RenetClient;

use super::session::ConnectionStatus;
use crate::channels::ClientChannel;
use crate::codec::encode;
use crate::messages::MessageRegistry;
use crate::protocol::ClientMessage;

/// Sends the game's client messages once welcomed.
pub(super) fn send_game_messages(world: &mut World) {
    let connected = world.resource::<RenetClient>().is_connected()
        && world.resource::<ConnectionStatus>().is_connected();
    if !connected {
        return;
    }
    let rules: Vec<_> = world
        .resource::<MessageRegistry>()
        .client_messages()
        .to_vec();
    let mut outgoing = Vec::new();
    for (kind, rule) in (0u8..).zip(&rules) {
        (rule.take_outgoing)(world, &mut outgoing);
        for (_, bytes) in outgoing.drain(..) {
            let message = ClientMessage::<()>::Message { kind, bytes };
            world
                .resource_mut::<RenetClient>()
                .send_message(ClientChannel::Command, encode(&message));
        }
    }
}
