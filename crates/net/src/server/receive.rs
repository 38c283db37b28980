//! Receiving client messages: decode, validate, apply. A new connection's first message must be a
//! hello with the game's protocol version. A message that fails to decode or breaks the protocol
//! sends only its sender away, with the reason logged and told to it.

use bevy::prelude::*;
use bevy_renet::RenetServer;
use bevy_renet::renet::ClientId;
use metrics::counter;

use crate::channels::ClientChannel;
use crate::codec::{DecodeError, decode};
use crate::input::{InputBuffer, NetInput};
use crate::messages::MessageRegistry;
use crate::protocol::{ClientMessage, GameProtocol, INPUT_REDUNDANCY, peek_hello_version};
use crate::server::clients::{AwaitingHello, ConnectedClient, Farewells, ReservedClientIds, admit};
use crate::server::lag_compensation::LagCompensation;
use crate::server::names::sanitize_name;
use crate::server::replication::ClientReplication;
use crate::tick::SimulationTick;

/// Why a client was disconnected for what it sent.
#[derive(Debug)]
enum Violation {
    Undecodable(DecodeError),
    WrongChannel(&'static str),
    TooManyFrames(usize),
    HelloTwice,
    UnknownMessage(u8),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Undecodable(err) => write!(f, "undecodable message: {err}"),
            Self::WrongChannel(what) => write!(f, "{what} sent on the wrong channel"),
            Self::HelloTwice => write!(f, "hello sent twice"),
            Self::TooManyFrames(n) => {
                write!(
                    f,
                    "{n} input frames in one message (limit {INPUT_REDUNDANCY})"
                )
            }
            Self::UnknownMessage(kind) => write!(f, "unknown message kind {kind}"),
        }
    }
}

/// Game messages received this frame: (kind, sender, bytes), delivered after the loop over
/// clients (delivery needs the whole world).
#[derive(Default)]
struct Inbox(Vec<(u8, (ClientId, Entity), Vec<u8>)>);

pub(super) fn receive_messages<I: NetInput>(
    mut commands: Commands,
    mut server: ResMut<RenetServer>,
    mut awaiting: Query<(Entity, &AwaitingHello)>,
    mut clients: Query<(
        Entity,
        &ConnectedClient,
        &mut InputBuffer<I>,
        &mut ClientReplication,
    )>,
    mut farewells: ResMut<Farewells>,
    protocol: Res<GameProtocol>,
    reserved: Res<ReservedClientIds>,
    registry: Option<Res<MessageRegistry>>,
    tick: Res<SimulationTick>,
    time: Res<Time<Real>>,
    lag: Option<Res<LagCompensation>>,
    tick_rate: Option<Res<super::TickRate>>,
) {
    let now = time.elapsed();
    let max_view_behind = lag.map_or(f64::INFINITY, |lag| {
        let rate = tick_rate.map_or(crate::tick::DEFAULT_TICK_RATE, |rate| rate.0);
        lag.view_behind_ack.as_secs_f64() * f64::from(rate.max(1))
    });
    for (entity, hello) in &mut awaiting {
        let client_id = hello.client_id;
        if farewells.contains(client_id) {
            drain(&mut server, client_id);
            continue;
        }
        match receive_hello::<I>(&mut server, client_id, protocol.version, &reserved) {
            Ok(Some(name)) => {
                commands.queue(move |world: &mut World| admit::<I>(world, entity, client_id, name));
            }
            Ok(None) => {}
            Err(refusal) => {
                warn!("refusing client {client_id}: {refusal}");
                counter!("refusals_total", "reason" => refusal.label()).increment(1);
                farewells.send(&mut server, client_id, &refusal.to_string(), now);
            }
        }
    }
    let known_kinds = registry
        .as_ref()
        .map_or(0, |registry| registry.client_messages().len());
    let mut inbox = Inbox::default();
    for (entity, client, mut inputs, mut replication) in &mut clients {
        let client_id = client.client_id;
        if farewells.contains(client_id) {
            drain(&mut server, client_id);
            continue;
        }
        let received = receive_from(
            &mut server,
            client_id,
            &mut inputs,
            &mut replication,
            tick.0,
            max_view_behind,
        )
        .and_then(|messages| {
            for (kind, bytes) in messages {
                if usize::from(kind) >= known_kinds {
                    return Err(Violation::UnknownMessage(kind));
                }
                inbox.0.push((kind, (client_id, entity), bytes));
            }
            Ok(())
        });
        if let Err(violation) = received {
            warn!("disconnecting client {client_id}: {violation}");
            if matches!(violation, Violation::Undecodable(_)) {
                counter!("decode_errors_total").increment(1);
            }
            let reason = format!("your game broke the protocol ({violation})");
            farewells.send(&mut server, client_id, &reason, now);
        }
    }
    if !inbox.0.is_empty() {
        commands.queue(move |world: &mut World| deliver(world, inbox));
    }
}

/// Hands the game its messages, typed. One that does not decode sends its sender away.
fn deliver(world: &mut World, inbox: Inbox) {
    let rules: Vec<_> = world
        .resource::<MessageRegistry>()
        .client_messages()
        .to_vec();
    let now = world.resource::<Time<Real>>().elapsed();
    for (kind, (client_id, entity), bytes) in inbox.0 {
        if world.resource::<Farewells>().contains(client_id) {
            continue;
        }
        let rule = rules[usize::from(kind)];
        if let Err(err) = (rule.deliver)(world, Some((client_id, entity)), &bytes) {
            warn!("disconnecting client {client_id}: bad {}: {err}", rule.name);
            counter!("decode_errors_total").increment(1);
            let reason = format!("your game broke the protocol (bad {}: {err})", rule.name);
            world.resource_scope(|world, mut farewells: Mut<Farewells>| {
                farewells.send(
                    &mut world.resource_mut::<RenetServer>(),
                    client_id,
                    &reason,
                    now,
                );
            });
        }
    }
}

/// Throws away what a client being sent away still sends.
fn drain(server: &mut RenetServer, client_id: ClientId) {
    for channel in [ClientChannel::Input, ClientChannel::Command] {
        while server.receive_message(client_id, channel).is_some() {}
    }
}

/// Why a new connection is refused.
#[derive(Debug)]
enum Refusal {
    /// Another protocol version.
    Version { ours: u16, theirs: u16 },
    /// The first message was not a hello.
    NoHello,
    /// The client id is reserved ([`ReservedClientIds`]).
    ReservedId,
}

impl Refusal {
    /// The `reason` label of `skirmish_refusals_total`.
    fn label(&self) -> &'static str {
        match self {
            Self::Version { .. } => "version",
            Self::NoHello => "no_hello",
            Self::ReservedId => "reserved_id",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Version { ours, theirs } => write!(
                f,
                "this server runs protocol version {ours} and your game version {theirs}: use \
                 the same game version as the server"
            ),
            Self::NoHello => write!(f, "your game did not start with a hello"),
            Self::ReservedId => write!(
                f,
                "your client id is reserved for the server's bots: connect with another one"
            ),
        }
    }
}

/// Reads a new connection's hello, if it arrived: its (sanitized) name once accepted.
fn receive_hello<I: NetInput>(
    server: &mut RenetServer,
    client_id: ClientId,
    version: u16,
    reserved: &ReservedClientIds,
) -> Result<Option<String>, Refusal> {
    // Inputs before the hello mean nothing yet.
    while server
        .receive_message(client_id, ClientChannel::Input)
        .is_some()
    {}
    let Some(bytes) = server.receive_message(client_id, ClientChannel::Command) else {
        return Ok(None);
    };
    match peek_hello_version(&bytes) {
        Some(theirs) if theirs == version => {}
        Some(theirs) => {
            return Err(Refusal::Version {
                ours: version,
                theirs,
            });
        }
        None => return Err(Refusal::NoHello),
    }
    match decode::<ClientMessage<I>>(&bytes) {
        // Refused only now that it said hello, so that it surely hears why.
        Ok(ClientMessage::Hello { .. }) if reserved.contains(client_id) => Err(Refusal::ReservedId),
        Ok(ClientMessage::Hello { name, .. }) => {
            let name = sanitize_name(&name);
            info!("client {client_id} says hello as {name:?}");
            Ok(Some(name))
        }
        _ => Err(Refusal::NoHello),
    }
}

/// Applies a client's inputs and acks; returns its game messages `(kind, bytes)`.
fn receive_from<I: NetInput>(
    server: &mut RenetServer,
    client_id: ClientId,
    inputs: &mut InputBuffer<I>,
    replication: &mut ClientReplication,
    tick: u32,
    max_view_behind: f64,
) -> Result<Vec<(u8, Vec<u8>)>, Violation> {
    while let Some(bytes) = server.receive_message(client_id, ClientChannel::Input) {
        match decode::<ClientMessage<I>>(&bytes).map_err(Violation::Undecodable)? {
            ClientMessage::Input {
                ack,
                first_tick,
                frames,
                view_behind,
            } => {
                if frames.len() > INPUT_REDUNDANCY {
                    return Err(Violation::TooManyFrames(frames.len()));
                }
                // An ack from the future is a lie; never trust more than we sent.
                let ack = ack.map(|ack| ack.min(tick));
                if let Some(ack) = ack {
                    replication.acknowledge(ack);
                }
                // The view: how far behind the snapshot it acknowledges, never further than an
                // honest client shows the world behind the snapshot it holds.
                let view = ack.zip(view_behind).map(|(ack, behind)| {
                    f64::from(ack) - (f64::from(behind) / 16.0).min(max_view_behind)
                });
                let count = frames.len() as u32;
                for (offset, frame) in (0u32..).zip(frames) {
                    // Each earlier frame was shown one tick earlier.
                    let behind = f64::from(count - 1 - offset);
                    let shown = view.map(|view| view - behind);
                    inputs.push_with_view(first_tick.saturating_add(offset), frame, shown);
                }
                if count > 0 {
                    inputs.arrived(first_tick.saturating_add(count - 1));
                }
            }
            ClientMessage::Message { .. } => return Err(Violation::WrongChannel("a message")),
            ClientMessage::Hello { .. } => return Err(Violation::WrongChannel("Hello")),
        }
    }
    let mut messages = Vec::new();
    while let Some(bytes) = server.receive_message(client_id, ClientChannel::Command) {
        match decode::<ClientMessage<I>>(&bytes).map_err(Violation::Undecodable)? {
            ClientMessage::Message { kind, bytes } => messages.push((kind, bytes)),
            ClientMessage::Input { .. } => return Err(Violation::WrongChannel("Input")),
            ClientMessage::Hello { .. } => return Err(Violation::HelloTwice),
        }
    }
    Ok(messages)
}
