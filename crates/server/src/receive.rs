//! Receiving client messages: decode, validate, apply. A new connection's first message must be a
//! hello with our protocol version. A message that fails to decode or breaks the protocol sends
//! only its sender away, with the reason logged and told to it.

use bevy::prelude::*;
use bevy_renet::RenetServer;
use bevy_renet::renet::ClientId;
use skirmish_net::log_limit::LogLimiter;
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

/// Most characters of a display name, combining marks not counted.
const NAME_MAX_CHARS: usize = 24;

/// Most combining marks kept on one character: enough for real scripts (Vietnamese stacks two,
/// Devanagari syllables one or two), not for towers of accents over the scoreboard.
const MAX_MARKS_PER_CHAR: usize = 2;

/// Characters that draw nothing although their category is a letter, symbol or mark (so the
/// category rules below let them through): Hangul fillers, the braille blank, the combining
/// grapheme joiner, Khmer inherent vowels.
const INVISIBLE: [char; 8] = [
    '\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}', '\u{034F}', '\u{17B4}', '\u{17B5}',
];

/// A display name safe to show in the scoreboard and kill feed, so no name can pass for another:
///
/// - no control, format (bidirectional overrides and isolates, zero-width spaces and joiners, the
///   byte order mark, soft hyphens, tags), private-use or unassigned characters, nor the
///   invisible letters of [`INVISIBLE`];
/// - every run of spaces (any Unicode space or line separator) is one plain space, none at the
///   ends;
/// - at most [`MAX_MARKS_PER_CHAR`] combining marks on a character, none without one;
/// - at most [`NAME_MAX_CHARS`] characters; never empty (`Player`).
fn sanitize_name(name: &str) -> String {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

    let mut clean = String::new();
    let mut chars = 0;
    // Marks the previous character may still carry (none after a space or at the start).
    let mut marks_left = 0;
    let mut space_pending = false;
    for c in name.chars() {
        if INVISIBLE.contains(&c) {
            continue;
        }
        match c.general_category_group() {
            GeneralCategoryGroup::Other => {}
            GeneralCategoryGroup::Separator => {
                space_pending = chars > 0;
                marks_left = 0;
            }
            GeneralCategoryGroup::Mark => {
                if marks_left > 0 {
                    marks_left -= 1;
                    clean.push(c);
                }
            }
            _ => {
                let width = if space_pending { 2 } else { 1 };
                if chars + width > NAME_MAX_CHARS {
                    break;
                }
                if space_pending {
                    clean.push(' ');
                    space_pending = false;
                }
                clean.push(c);
                chars += width;
                marks_left = MAX_MARKS_PER_CHAR;
            }
        }
    }
    if clean.is_empty() {
        "Player".to_owned()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

    use super::{MAX_MARKS_PER_CHAR, NAME_MAX_CHARS, sanitize_name};

    #[test]
    fn bidi_controls_and_zero_width_characters_are_stripped() {
        let hidden = [
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}', // embeddings, overrides
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}', // isolates
            '\u{200E}',
            '\u{200F}',
            '\u{061C}', // marks
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}', // zero width
            '\u{00AD}',
            '\u{180E}',
            '\u{2061}',
            '\u{206F}',
            '\u{FFF9}', // other format
            '\u{E0001}',
            '\u{E0041}',
            '\u{1D173}', // tags, musical format
            '\u{0}',
            '\u{7}',
            '\u{1B}',
            '\u{7F}',
            '\u{85}',
            '\u{9F}',
            '\t',
            '\n',
            '\r', // control
            '\u{E000}',
            '\u{F8FF}',
            '\u{10FFFD}', // private use
            '\u{0378}',   // unassigned
            '\u{3164}',
            '\u{115F}',
            '\u{FFA0}',
            '\u{2800}', // invisible letters
        ];
        for c in hidden {
            assert_eq!(
                sanitize_name(&format!("Bo{c}b")),
                "Bob",
                "U+{:04X}",
                c as u32
            );
            assert_eq!(
                sanitize_name(&c.to_string()),
                "Player",
                "U+{:04X}",
                c as u32
            );
        }
        // The classic: "Bob" written backwards behind a right-to-left override.
        assert_eq!(sanitize_name("\u{202E}boB\u{202C}"), "boB");
        assert_eq!(sanitize_name("\u{1B}[31mred"), "[31mred");
    }

    #[test]
    fn no_format_or_control_character_of_any_kind_survives() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let name = sanitize_name(&format!("a{c}b"));
            for kept in name.chars() {
                let group = kept.general_category_group();
                assert!(
                    group != GeneralCategoryGroup::Other
                        && (group != GeneralCategoryGroup::Separator || kept == ' '),
                    "U+{:04X} left U+{:04X} in {name:?}",
                    c as u32,
                    kept as u32
                );
            }
        }
    }

    #[test]
    fn spaces_collapse_and_trim() {
        assert_eq!(
            sanitize_name("  Ferris  the\u{3000}\u{A0}crab \u{2028} "),
            "Ferris the crab"
        );
        assert_eq!(sanitize_name(" \u{2003} "), "Player");
        assert_eq!(sanitize_name(""), "Player");
    }

    #[test]
    fn combining_mark_floods_are_capped() {
        let zalgo = format!("Z{}a{}", "\u{0301}".repeat(50), "\u{0336}".repeat(50));
        assert_eq!(
            sanitize_name(&zalgo),
            format!(
                "Z{}a{}",
                "\u{0301}".repeat(MAX_MARKS_PER_CHAR),
                "\u{0336}".repeat(MAX_MARKS_PER_CHAR)
            )
        );
        // A mark needs a character to sit on: not at the start, not on a space.
        assert_eq!(sanitize_name("\u{0301}\u{0301}Al \u{0301}B"), "Al B");
        assert_eq!(sanitize_name(&"\u{0301}".repeat(100)), "Player");
    }

    #[test]
    fn real_names_in_many_scripts_are_kept() {
        for name in [
            "Ferris",
            "Zoë",
            "Zoe\u{0308}",
            "Nguye\u{0302}\u{0303}n", // Nguyễn, decomposed: two marks on one letter
            "Nguyễn",
            "हिन्दी",
            "日本語",
            "Ελένη",
            "Владимир",
            "محمد",
            "🦀 crab",
            "❤\u{FE0F}",
        ] {
            assert_eq!(sanitize_name(name), name);
        }
    }

    #[test]
    fn long_names_are_cut_at_24_characters() {
        assert_eq!(sanitize_name(&"a".repeat(100)), "a".repeat(NAME_MAX_CHARS));
        // Marks do not count, and are kept with their letter.
        let accented = "e\u{0301}".repeat(30);
        assert_eq!(sanitize_name(&accented), "e\u{0301}".repeat(NAME_MAX_CHARS));
        // A space is never the last character.
        let words = format!("{} b", "a".repeat(NAME_MAX_CHARS - 1));
        assert_eq!(sanitize_name(&words), "a".repeat(NAME_MAX_CHARS - 1));
    }
}
