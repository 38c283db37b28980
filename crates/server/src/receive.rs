//! Receiving client messages: decode, validate, apply. A message that fails to decode or breaks
//! the protocol disconnects only its sender, with the reason logged.

use bevy::prelude::*;
use bevy_renet::RenetServer;
use bevy_renet::renet::ClientId;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::{INPUT_REDUNDANCY, decode};

use crate::ServerSystems;
use crate::connection::{ClientInfo, ConnectedClients};

pub(super) fn plugin(app: &mut App) {
    app.add_systems(PreUpdate, receive_messages.in_set(ServerSystems::Receive));
}

/// Why a client was disconnected for what it sent.
#[derive(Debug)]
enum Violation {
    Undecodable(skirmish_shared::protocol::DecodeError),
    WrongChannel(&'static str),
    TooManyFrames(usize),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Undecodable(err) => write!(f, "undecodable message: {err}"),
            Self::WrongChannel(what) => write!(f, "{what} sent on the wrong channel"),
            Self::TooManyFrames(n) => {
                write!(
                    f,
                    "{n} input frames in one message (limit {INPUT_REDUNDANCY})"
                )
            }
        }
    }
}

fn receive_messages(
    mut commands: Commands,
    mut server: ResMut<RenetServer>,
    mut clients: ResMut<ConnectedClients>,
    tick: Res<SimulationTick>,
) {
    for (&client_id, info) in clients.iter_mut() {
        let received = receive_from(&mut server, client_id, info, tick.0);
        match received {
            Ok(Some(name)) => {
                commands.entity(info.player).try_insert(PlayerName(name));
            }
            Ok(None) => {}
            Err(violation) => {
                warn!("disconnecting client {client_id}: {violation}");
                server.disconnect(client_id);
            }
        }
    }
}

fn receive_from(
    server: &mut RenetServer,
    client_id: ClientId,
    info: &mut ClientInfo,
    tick: u32,
) -> Result<Option<String>, Violation> {
    let mut new_name = None;
    while let Some(bytes) = server.receive_message(client_id, ClientChannel::Input) {
        match decode::<ClientMessage>(&bytes).map_err(Violation::Undecodable)? {
            ClientMessage::Input { ack, frames } => {
                if frames.len() > INPUT_REDUNDANCY {
                    return Err(Violation::TooManyFrames(frames.len()));
                }
                if let Some(ack) = ack {
                    // An ack from the future is a lie; never trust more than we sent.
                    info.replication.acknowledge(ack.min(tick));
                }
                for frame in frames {
                    info.inputs.push(frame);
                }
            }
            ClientMessage::SetName(_) => return Err(Violation::WrongChannel("SetName")),
        }
    }
    while let Some(bytes) = server.receive_message(client_id, ClientChannel::Command) {
        match decode::<ClientMessage>(&bytes).map_err(Violation::Undecodable)? {
            ClientMessage::SetName(name) => {
                let name = sanitize_name(&name);
                info!("client {client_id} is called {name:?}");
                new_name = Some(name);
            }
            ClientMessage::Input { .. } => return Err(Violation::WrongChannel("Input")),
        }
    }
    Ok(new_name)
}

/// A display name safe to show: no control characters, trimmed, at most 24 characters, never empty.
fn sanitize_name(name: &str) -> String {
    let name: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(24)
        .collect::<String>()
        .trim()
        .to_owned();
    if name.is_empty() {
        "Player".to_owned()
    } else {
        name
    }
}
