//! The connection's life after it started: giving up on a server that never answers, noticing
//! the end of a connection and saying why in a player's words, and leaving on purpose.

use bevy::prelude::*;
use bevy_renet::RenetClient;

use super::replica;
use super::session::{ClientSession, ConnectTimeout, ConnectionStatus, real_elapsed};
use super::transport::ClientTransport;
use crate::netcode::DisconnectReason as NetcodeDisconnectReason;

/// Leaves the server now (or stops connecting): tells the server, drops the connection and the
/// replicated world, and sets [`ConnectionStatus::Idle`].
pub fn disconnect(world: &mut World) {
    if let Some(mut transport) = world.get_resource_mut::<ClientTransport>() {
        transport.disconnect();
    }
    cleanup_transport(world);
    world.insert_resource(ConnectionStatus::Idle);
}

/// Ends a connection attempt that got no welcome within [`ConnectTimeout`].
pub(super) fn give_up_connecting(world: &mut World) {
    let ConnectionStatus::Connecting { server } = *world.resource::<ConnectionStatus>() else {
        return;
    };
    let timeout = world.resource::<ConnectTimeout>().0;
    let started = world.resource::<ClientSession>().connect_started;
    let now = real_elapsed(world);
    if started.is_none_or(|started| now.saturating_sub(started) < timeout) {
        return;
    }
    let secure = world.resource::<ClientSession>().secure;
    let reason = describe_disconnect(
        Some(NetcodeDisconnectReason::ConnectionRequestTimedOut),
        None,
        secure,
    );
    info!("giving up on {server} after {timeout:?}: {reason}");
    if let Some(mut transport) = world.get_resource_mut::<ClientTransport>() {
        transport.disconnect();
    }
    world.insert_resource(ConnectionStatus::Disconnected { reason });
    cleanup_transport(world);
}

/// Turns the transport's state into [`ConnectionStatus`], and clears the replicated world when
/// the connection ends.
pub(super) fn track_connection(world: &mut World) {
    let Some(client) = world.get_resource::<RenetClient>() else {
        return;
    };
    if !client.is_disconnected() {
        return;
    }
    if matches!(
        *world.resource::<ConnectionStatus>(),
        ConnectionStatus::Disconnected { .. }
    ) {
        // Already reported (for example by a protocol error); just drop the transport.
        cleanup_transport(world);
        return;
    }
    let renet_reason = client.disconnect_reason();
    let netcode_reason = world
        .get_resource::<ClientTransport>()
        .and_then(|transport| transport.disconnect_reason());
    let mut session = world.resource_mut::<ClientSession>();
    let secure = session.secure;
    // The server's own words first, when it said goodbye.
    let reason = session
        .goodbye
        .take()
        .unwrap_or_else(|| describe_disconnect(netcode_reason, renet_reason, secure));
    info!("disconnected: {reason}");
    world.insert_resource(ConnectionStatus::Disconnected { reason });
    cleanup_transport(world);
}

fn cleanup_transport(world: &mut World) {
    world.remove_resource::<ClientTransport>();
    world.remove_resource::<RenetClient>();
    replica::despawn_replicas(world);
}

/// A player-facing sentence for why a connection ended. `secure`: the connection used a connect
/// token. netcode answers a bad token with silence, so a secure attempt without an answer most
/// likely had its token refused.
pub fn describe_disconnect(
    netcode: Option<NetcodeDisconnectReason>,
    renet: Option<bevy_renet::renet::DisconnectReason>,
    secure: bool,
) -> String {
    use NetcodeDisconnectReason as N;
    match netcode {
        Some(N::ConnectionDenied) => "the server refused the connection (it may be full)".into(),
        Some(N::ConnectTokenExpired) => "the connect token expired".into(),
        Some(N::ConnectionRequestTimedOut | N::ConnectionResponseTimedOut) if secure => {
            "the server did not accept the connect token (expired, made for another server, or \
             signed with another key), or it is not running"
                .into()
        }
        Some(N::ConnectionRequestTimedOut | N::ConnectionResponseTimedOut) => {
            "no answer from the server (wrong address, server down, or it requires a connect \
             token)"
                .into()
        }
        Some(N::ConnectionTimedOut) => "connection lost: the server stopped answering".into(),
        Some(N::DisconnectedByServer) => "disconnected by the server".into(),
        Some(N::DisconnectedByClient) => "you left the game".into(),
        None => match renet {
            Some(reason) => format!("connection closed: {reason}"),
            None => "connection closed".into(),
        },
    }
}
