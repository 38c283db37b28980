//! What the server sends: the hello that opens a session, then its welcome, goodbye, the game's
//! messages and snapshots, decoded and applied. Anything malformed ends the connection with a
//! reason instead of a panic.

use bevy::prelude::*;
use bevy_renet::RenetClient;

use super::replica::{ControlledIds, MAX_CONTROLLED, ServerEntityMap};
use super::session::{AnnouncedVersion, ClientSession, ConnectionStatus, Controlled};
use super::{interpolation, replica};
use crate::channels::{ClientChannel, ServerChannel};
use crate::codec::{decode, encode};
use crate::messages::MessageRegistry;
use crate::protocol::{ClientMessage, GameProtocol, ServerMessage, registry_fingerprint};
use crate::tick::MAX_TICK_RATE;

/// Written once per snapshot applied, in tick order.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotApplied {
    /// The snapshot's server tick.
    pub tick: u32,
    /// Our newest input the server had simulated by then.
    pub last_input: Option<u32>,
}

/// The first message of every connection, as soon as netcode is connected: our protocol version
/// and name. The server answers with a welcome or a goodbye.
fn say_hello(world: &mut World) {
    if world.resource::<ClientSession>().hello_sent
        || !world.resource::<RenetClient>().is_connected()
    {
        return;
    }
    let version = match world.get_resource::<AnnouncedVersion>() {
        Some(announced) => announced.0,
        None => world
            .get_resource::<GameProtocol>()
            .map_or(0, |protocol| protocol.version),
    };
    let mut session = world.resource_mut::<ClientSession>();
    session.hello_sent = true;
    // The hello's layout is the same for every input type.
    let hello = ClientMessage::<()>::Hello {
        version,
        name: session.name.clone(),
    };
    world
        .resource_mut::<RenetClient>()
        .send_message(ClientChannel::Command, encode(&hello));
}

/// Drains both server channels, applying snapshots in tick order. Anything malformed ends the
/// connection with a reason instead of a panic.
pub(super) fn receive_messages(world: &mut World) {
    say_hello(world);
    let mut reliable = Vec::new();
    let mut snapshots = Vec::new();
    {
        let mut client = world.resource_mut::<RenetClient>();
        while let Some(bytes) = client.receive_message(ServerChannel::Reliable) {
            reliable.push(bytes);
        }
        while let Some(bytes) = client.receive_message(ServerChannel::Snapshot) {
            snapshots.push(bytes);
        }
    }
    if let Err(reason) = handle_messages(world, &reliable, &snapshots) {
        error!("disconnecting: {reason}");
        world.resource_mut::<RenetClient>().disconnect();
        world.insert_resource(ConnectionStatus::Disconnected { reason });
    }
}

/// Applies server messages as if they had just arrived on the reliable and snapshot channels,
/// snapshots in tick order. An error is what would end the connection (a malformed message or
/// snapshot). The fuzz targets drive the client's decoders through this.
pub fn apply_server_messages<B: AsRef<[u8]>>(
    world: &mut World,
    reliable: &[B],
    snapshots: &[B],
) -> Result<(), String> {
    handle_messages(world, reliable, snapshots)
}

fn handle_messages<B: AsRef<[u8]>>(
    world: &mut World,
    reliable: &[B],
    snapshots: &[B],
) -> Result<(), String> {
    for bytes in reliable {
        match decode::<ServerMessage>(bytes.as_ref())
            .map_err(|err| format!("bad server message: {err}"))?
        {
            ServerMessage::Welcome {
                client_id,
                tick_rate,
                registry_fingerprint: theirs,
            } => {
                if theirs != registry_fingerprint(world) {
                    return Err(
                        "the server registers different components, messages or input than this \
                         game (another build): use the same game version as the server"
                            .into(),
                    );
                }
                if !(1..=MAX_TICK_RATE).contains(&tick_rate) {
                    return Err(format!(
                        "the server's tick rate ({tick_rate} Hz) is outside 1 to {MAX_TICK_RATE} Hz"
                    ));
                }
                world.insert_resource(Time::<Fixed>::from_hz(f64::from(tick_rate)));
                let mut session = world.resource_mut::<ClientSession>();
                session.tick_rate = tick_rate;
                if session.client_id != client_id && session.client_id != 0 {
                    warn!(
                        "server knows us as {client_id}, we chose {}",
                        session.client_id
                    );
                }
                session.client_id = client_id;
                world.insert_resource(ConnectionStatus::Connected);
            }
            ServerMessage::Message { kind, bytes } => {
                let rule = world
                    .resource::<MessageRegistry>()
                    .server_messages()
                    .get(usize::from(kind))
                    .copied()
                    .ok_or_else(|| format!("unknown server message kind {kind}"))?;
                (rule.deliver)(world, None, &bytes)
                    .map_err(|err| format!("bad {}: {err}", rule.name))?;
            }
            ServerMessage::Goodbye { reason } => {
                let reason = crate::peer_text::peer_text(&reason);
                info!("the server says goodbye: {reason}");
                world.resource_mut::<ClientSession>().goodbye = Some(reason);
            }
            ServerMessage::Control { entity, yours } => {
                let mut controlled = world.resource_mut::<ControlledIds>();
                if !yours {
                    controlled.0.remove(&entity);
                    let local = world.resource::<ServerEntityMap>().get(entity);
                    if let Some(mut local) =
                        local.and_then(|local| world.get_entity_mut(local).ok())
                    {
                        local.remove::<Controlled>();
                    }
                } else if controlled.0.len() < MAX_CONTROLLED {
                    controlled.0.insert(entity);
                } else if !controlled.0.contains(&entity) {
                    return Err(format!(
                        "the server gave this client more than {MAX_CONTROLLED} entities to control"
                    ));
                }
            }
            ServerMessage::Snapshot(_) => {
                return Err("snapshot on the reliable channel".into());
            }
        }
    }

    let mut decoded = Vec::with_capacity(snapshots.len());
    for bytes in snapshots {
        match decode::<ServerMessage>(bytes.as_ref())
            .map_err(|err| format!("bad snapshot: {err}"))?
        {
            ServerMessage::Snapshot(snapshot) => decoded.push(snapshot),
            ServerMessage::Welcome { .. }
            | ServerMessage::Message { .. }
            | ServerMessage::Goodbye { .. }
            | ServerMessage::Control { .. } => {
                return Err("a reliable message on the snapshot channel".into());
            }
        }
    }
    decoded.sort_by_key(|snapshot| snapshot.tick);
    for snapshot in decoded {
        let last = world.resource::<ClientSession>().last_snapshot_tick;
        // Each snapshot is complete relative to what we acknowledged: older ones add nothing.
        if last.is_some_and(|last| snapshot.tick <= last) {
            continue;
        }
        let entries = replica::apply_snapshot(world, &snapshot)?;
        interpolation::record_samples(world, snapshot.tick);
        let mut session = world.resource_mut::<ClientSession>();
        session.last_snapshot_tick = Some(snapshot.tick);
        session.last_input_ack = snapshot.last_input;
        session.snapshots_applied += 1;
        session.snapshot_payload_bytes += snapshot.payload.len() as u64;
        session.snapshot_entity_updates += entries;
        session.clock_advice = f32::from(snapshot.clock) / 4.0;
        if let Some(total) = snapshot.total {
            session.server_entities = Some(total);
        }
        session.input_buffer = f32::from(snapshot.buffer) / 4.0;
        world.write_message(SnapshotApplied {
            tick: snapshot.tick,
            last_input: snapshot.last_input,
        });
    }
    Ok(())
}
