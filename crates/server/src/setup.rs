//! What a match starts with: the arena and the server's bots ([`MatchSettings`]), checked and put
//! in place before the socket opens.

use bevy::prelude::*;
use skirmish_net::server::StartError;
use skirmish_shared::arena::{Arena, MAX_ARENA_TILES};

use crate::bots;

/// The demo's own settings of a server, beside the shell's `ServerSettings`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchSettings {
    /// Server-side bots added when the server starts, at most [`bots::MAX_BOTS`].
    pub bots: usize,
    /// How well they play.
    pub bot_skill: bots::BotSkill,
    /// The arena: its side in 2000-unit tiles (1 to [`MAX_ARENA_TILES`]), sent to every client.
    pub arena: Arena,
}

/// Checks `settings` and puts them in place in a server world (with [`ServerPlugin`](crate::ServerPlugin)):
/// the arena, the bots' skill, and the bots.
pub fn set_up(world: &mut World, settings: &MatchSettings) -> Result<(), StartError> {
    if !(1..=MAX_ARENA_TILES).contains(&settings.arena.tiles) {
        return Err(StartError::InvalidSetting(format!(
            "the arena is 1 to {MAX_ARENA_TILES} tiles wide, got {}",
            settings.arena.tiles
        )));
    }
    if settings.bots as u64 > bots::MAX_BOTS {
        return Err(StartError::InvalidSetting(format!(
            "at most {} bots, got {}",
            bots::MAX_BOTS,
            settings.bots
        )));
    }
    world.insert_resource(settings.bot_skill);
    // Bots spawn in it; the arena plugin sends it to clients.
    world.insert_resource(settings.arena);
    for index in 0..settings.bots {
        bots::spawn_bot(world, index as u64);
    }
    Ok(())
}
