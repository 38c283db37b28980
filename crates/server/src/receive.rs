//! Receiving client messages: decode, validate, apply. A new connection's first message must be a
//! hello with our protocol version. A message that fails to decode or breaks the protocol sends
//! only its sender away, with the reason logged and told to it.

use bevy::prelude::*;
use bevy_renet::RenetServer;
use bevy_renet::renet::ClientId;
use skirmish_shared::log_limit::LogLimiter;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::{INPUT_REDUNDANCY, PROTOCOL_VERSION, decode, peek_hello_version};

use crate::ServerSystems;
use crate::connection::{AwaitingHello, ClientInfo, ConnectedClients, Farewells, admit};

pub(super) fn plugin(app: &mut App) {
    app.add_systems(PreUpdate, receive_messages.in_set(ServerSystems::Receive));
}

/// Why a client was disconnected for what it sent.
#[derive(Debug)]
enum Violation {
    Undecodable(skirmish_shared::protocol::DecodeError),
    WrongChannel(&'static str),
    TooManyFrames(usize),
    HelloTwice,
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
        }
    }
}

fn receive_messages(
    mut commands: Commands,
    mut server: ResMut<RenetServer>,
    mut clients: ResMut<ConnectedClients>,
    awaiting: Res<AwaitingHello>,
    mut farewells: ResMut<Farewells>,
    tick: Res<SimulationTick>,
    time: Res<Time<Real>>,
    mut name_log: Local<LogLimiter>,
) {
    let now = time.elapsed();
    for &client_id in awaiting.keys() {
        if farewells.contains(client_id) {
            drain(&mut server, client_id);
            continue;
        }
        match receive_hello(&mut server, client_id) {
            Ok(Some(name)) => {
                commands.queue(move |world: &mut World| admit(world, client_id, name));
            }
            Ok(None) => {}
            Err(refusal) => {
                warn!("refusing client {client_id}: {refusal}");
                crate::metrics::count_refusal(refusal.label());
                farewells.send(&mut server, client_id, &refusal.to_string(), now);
            }
        }
    }
    for (&client_id, info) in clients.iter_mut() {
        if farewells.contains(client_id) {
            drain(&mut server, client_id);
            continue;
        }
        match receive_from(&mut server, client_id, info, tick.0) {
            Ok(Some(name)) => {
                // Any client may rename itself every packet: counted, and logged sparingly.
                if let Some(suppressed) = name_log.record() {
                    info!(
                        "client {client_id} is called {name:?}{}",
                        held_back(suppressed, name_log.interval())
                    );
                }
                commands.entity(info.player).try_insert(PlayerName(name));
            }
            Ok(None) => {}
            Err(violation) => {
                warn!("disconnecting client {client_id}: {violation}");
                if matches!(violation, Violation::Undecodable(_)) {
                    crate::metrics::count_decode_error();
                }
                let reason = format!("your game broke the protocol ({violation})");
                farewells.send(&mut server, client_id, &reason, now);
            }
        }
    }
}

/// The end of a rate-limited log line: how many like it were held back.
fn held_back(suppressed: u64, interval: std::time::Duration) -> String {
    if suppressed == 0 {
        String::new()
    } else {
        format!(
            " ({suppressed} more not logged in the last {} s)",
            interval.as_secs()
        )
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
    Version(u16),
    /// The first message was not a hello.
    NoHello,
    /// The client id is one of the bots' ([`crate::bots::BOT_IDS`]).
    ReservedId,
}

impl Refusal {
    /// The `reason` label of `skirmish_refusals_total`.
    fn label(&self) -> &'static str {
        match self {
            Self::Version(_) => "version",
            Self::NoHello => "no_hello",
            Self::ReservedId => "reserved_id",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Version(theirs) => write!(
                f,
                "this server runs protocol version {PROTOCOL_VERSION} and your game version \
                 {theirs}: use the same Skirmish version as the server"
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
fn receive_hello(server: &mut RenetServer, client_id: ClientId) -> Result<Option<String>, Refusal> {
    // Inputs before the hello mean nothing yet.
    while server
        .receive_message(client_id, ClientChannel::Input)
        .is_some()
    {}
    let Some(bytes) = server.receive_message(client_id, ClientChannel::Command) else {
        return Ok(None);
    };
    match peek_hello_version(&bytes) {
        Some(PROTOCOL_VERSION) => {}
        Some(other) => return Err(Refusal::Version(other)),
        None => return Err(Refusal::NoHello),
    }
    match decode::<ClientMessage>(&bytes) {
        // Refused only now that it said hello, so that it surely hears why.
        Ok(ClientMessage::Hello { .. }) if crate::bots::is_bot_id(client_id) => {
            Err(Refusal::ReservedId)
        }
        Ok(ClientMessage::Hello { name, .. }) => {
            let name = sanitize_name(&name);
            info!("client {client_id} says hello as {name:?}");
            Ok(Some(name))
        }
        _ => Err(Refusal::NoHello),
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
            ClientMessage::Hello { .. } => return Err(Violation::WrongChannel("Hello")),
        }
    }
    while let Some(bytes) = server.receive_message(client_id, ClientChannel::Command) {
        match decode::<ClientMessage>(&bytes).map_err(Violation::Undecodable)? {
            ClientMessage::SetName(name) => {
                crate::metrics::count_name_change();
                new_name = Some(sanitize_name(&name));
            }
            ClientMessage::Input { .. } => return Err(Violation::WrongChannel("Input")),
            ClientMessage::Hello { .. } => return Err(Violation::HelloTwice),
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
