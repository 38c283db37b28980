//! Combat rules of the demo: weapons, projectiles, health, score and respawn. The numbers live
//! here so server and client agree; the server runs the systems (it is authoritative), the
//! client only draws the results.

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

/// Health of a fresh player.
pub const MAX_HEALTH: u8 = 100;
/// Health a projectile takes.
pub const PROJECTILE_DAMAGE: u8 = 20;
/// Collision radius of a player.
pub const PLAYER_RADIUS: f32 = 18.0;
/// Collision radius of a projectile.
pub const PROJECTILE_RADIUS: f32 = 5.0;
/// Projectile speed, units per second.
pub const PROJECTILE_SPEED: f32 = 900.0;
/// Ticks a projectile flies before it fizzles (1 s at 60 Hz).
pub const PROJECTILE_LIFETIME_TICKS: u32 = 60;
/// Ticks between two shots of one player, enforced by the server's clock (about 6.7 shots/s).
pub const FIRE_COOLDOWN_TICKS: u32 = 9;
/// Ticks a dead player waits before respawning (3 s at 60 Hz).
pub const RESPAWN_TICKS: u32 = 180;

/// Hit points. Replicated; 0 means dead (waiting to respawn).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health(pub u8);

impl Default for Health {
    fn default() -> Self {
        Self(MAX_HEALTH)
    }
}

impl Health {
    /// Whether the entity is alive.
    pub fn is_alive(self) -> bool {
        self.0 > 0
    }
}

/// A flying projectile, fired by the player of client `owner`. Replicated.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projectile {
    /// Client id of the shooter (players cannot hit themselves).
    pub owner: u64,
}

/// Ticks a player is protected after (re)spawning: 2 s at 60 Hz.
pub const SPAWN_PROTECTION_TICKS: u32 = 120;

/// A player just (re)spawned and cannot be hurt yet (until it fires, or
/// [`SPAWN_PROTECTION_TICKS`] pass). Replicated, so everyone sees the shield.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shielded;

/// Kills and deaths of a player. Replicated.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// Players this player killed.
    pub kills: u16,
    /// Times this player died.
    pub deaths: u16,
}

/// A small per-match number the server gives each player in join order (for colours).
/// Replicated.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerSlot(pub u8);

/// A player's round-trip time to the server, in milliseconds, as the server measures it.
/// Replicated (updated once a second) for the scoreboard.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping(pub u16);

/// Most players a [`Roster`] lists (the top scorers when there are more; fewer when their names
/// would not fit the 4 KiB a replicated component may take).
pub const ROSTER_MAX: usize = 32;

/// Everyone in the match, for the scoreboard, the player count and the kill feed's names: one
/// replicated entity without a place, so every client gets it whatever it sees of the arena
/// (interest management sends a client only the players near it). The server updates it when a
/// player joins or leaves, is renamed or scores, and with the pings once a second.
#[derive(Component, Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// Players in the match (also those beyond [`ROSTER_MAX`]).
    pub players: u16,
    /// The players, best first (most kills, then fewest deaths), at most [`ROSTER_MAX`].
    pub entries: Vec<RosterEntry>,
}

/// One player of the [`Roster`].
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    /// The netcode client id of the client that controls the player.
    pub client_id: u64,
    /// Its display name.
    pub name: String,
    /// Its score.
    pub score: Score,
    /// Its round trip to the server, in milliseconds.
    pub ping: u16,
}

impl Roster {
    /// The name of the player of `client_id`, if listed.
    pub fn name_of(&self, client_id: u64) -> Option<&str> {
        self.entries
            .iter()
            .find(|entry| entry.client_id == client_id)
            .map(|entry| entry.name.as_str())
    }
}

/// Someone killed someone: written by the server's combat, sent to every client (a server
/// message, see [`crate::protocol`]) for the kill feed.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Killed {
    /// Client id of the shooter.
    pub killer: u64,
    /// Client id of the player who died.
    pub victim: u64,
}

/// Whether two circles overlap.
pub fn circles_overlap(a: Vec2, radius_a: f32, b: Vec2, radius_b: f32) -> bool {
    a.distance_squared(b) <= (radius_a + radius_b) * (radius_a + radius_b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_inclusive_and_symmetric() {
        let a = Vec2::ZERO;
        let b = Vec2::new(PLAYER_RADIUS + PROJECTILE_RADIUS, 0.0);
        assert!(circles_overlap(a, PLAYER_RADIUS, b, PROJECTILE_RADIUS));
        assert!(circles_overlap(b, PROJECTILE_RADIUS, a, PLAYER_RADIUS));
        assert!(!circles_overlap(
            a,
            PLAYER_RADIUS,
            b + Vec2::X,
            PROJECTILE_RADIUS
        ));
        assert!(Health::default().is_alive() && !Health(0).is_alive());
    }
}
