//! The match's [`Roster`]: the one replicated entity (no place, so interest management sends it
//! to everyone) that lists every player for the scoreboard, the player count and the kill feed,
//! whatever each client sees of the arena.

use std::time::Duration;

use bevy::prelude::*;
use skirmish_net::registry::MAX_COMPONENT_BYTES;
use skirmish_net::server::ServerSystems;
use skirmish_shared::game::ROSTER_MAX;
use skirmish_shared::prelude::*;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(PostUpdate, publish_roster.before(ServerSystems::Send));
}

/// What a roster row is made of.
type PlayerRow<'a> = (
    &'a Player,
    Option<&'a PlayerName>,
    &'a Score,
    Option<&'a Ping>,
);

/// Least time between two rewrites of the roster. The roster goes whole (up to 4 KiB) to every
/// client on each change, so however fast scores, pings or names change, it costs each client at
/// most this many rewrites a second (joins and kills show within this time).
pub const ROSTER_INTERVAL: Duration = Duration::from_millis(500);

/// When the roster was last rewritten, and whether a change waits for the next rewrite.
#[derive(Default)]
struct RosterPace {
    last: Option<Duration>,
    dirty: bool,
}

/// Spawns the roster entity, and rewrites it when a player joins, leaves, is renamed, scores or
/// gets a new ping: at most once per [`ROSTER_INTERVAL`], and only when the list really differs,
/// so clients get news only then.
fn publish_roster(
    time: Res<Time<Real>>,
    mut pace: Local<RosterPace>,
    mut commands: Commands,
    players: Query<PlayerRow>,
    changed: Query<
        (),
        (
            With<Player>,
            Or<(
                Added<Player>,
                Changed<PlayerName>,
                Changed<Score>,
                Changed<Ping>,
            )>,
        ),
    >,
    mut left: RemovedComponents<Player>,
    mut published: Query<&mut Roster>,
) {
    let departed = left.read().count() > 0;
    pace.dirty |= published.is_empty() || !changed.is_empty() || departed;
    let now = time.elapsed();
    let due = pace
        .last
        .is_none_or(|last| now.saturating_sub(last) >= ROSTER_INTERVAL);
    if !pace.dirty || !due {
        return;
    }
    pace.dirty = false;
    pace.last = Some(now);
    let roster = roster_of(players.iter());
    crate::singleton::publish(&mut commands, &mut published, "Roster", roster);
}

/// The roster of `players`: best first, at most [`ROSTER_MAX`] of them, and only as many as fit
/// one replicated component (a name may take up to 288 bytes with its combining marks).
fn roster_of<'a>(players: impl Iterator<Item = PlayerRow<'a>>) -> Roster {
    let mut entries: Vec<RosterEntry> = players
        .map(|(player, name, score, ping)| RosterEntry {
            client_id: player.client_id,
            name: name.map_or_else(|| format!("{}", player.client_id % 1000), |n| n.0.clone()),
            score: *score,
            ping: ping.map_or(0, |ping| ping.0),
        })
        .collect();
    let players = u16::try_from(entries.len()).unwrap_or(u16::MAX);
    entries.sort_by_key(|entry| {
        (
            std::cmp::Reverse(entry.score.kills),
            entry.score.deaths,
            entry.client_id,
        )
    });
    // (The count and the list's length take at most 6 bytes.)
    let mut bytes = 6;
    let fitting = entries
        .iter()
        .take(ROSTER_MAX)
        .take_while(|entry| {
            bytes += skirmish_shared::protocol::encode(entry).len();
            bytes <= MAX_COMPONENT_BYTES
        })
        .count();
    entries.truncate(fitting);
    Roster { players, entries }
}

#[cfg(test)]
mod tests {
    use bevy::time::TimeUpdateStrategy;
    use skirmish_net::server::names::sanitize_name;

    use super::*;

    fn roster(app: &mut App) -> Roster {
        let mut rosters = app
            .world_mut()
            .query_filtered::<&Roster, With<Replicated>>();
        let all: Vec<Roster> = rosters.iter(app.world()).cloned().collect();
        assert_eq!(all.len(), 1, "one roster entity");
        all[0].clone()
    }

    #[test]
    fn the_roster_lists_every_player_best_first_and_follows_changes() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .insert_resource(TimeUpdateStrategy::ManualDuration(ROSTER_INTERVAL))
            .configure_sets(PostUpdate, ServerSystems::Send)
            .add_plugins(plugin);
        let ada = app
            .world_mut()
            .spawn((
                Player { client_id: 1 },
                PlayerName("Ada".into()),
                Score::default(),
            ))
            .id();
        app.world_mut().spawn((
            Player { client_id: 2 },
            PlayerName("Brook".into()),
            Score {
                kills: 2,
                deaths: 0,
            },
            Ping(40),
        ));
        app.update();
        let listed = roster(&mut app);
        assert_eq!(listed.players, 2);
        assert_eq!(listed.name_of(1), Some("Ada"));
        assert_eq!(listed.entries[0].name, "Brook", "most kills first");
        assert_eq!(listed.entries[0].ping, 40);

        app.world_mut().get_mut::<Score>(ada).unwrap().kills = 5;
        app.update();
        assert_eq!(
            roster(&mut app).entries[0].name,
            "Ada",
            "a new score reorders"
        );

        // Changes within the interval wait for its end, then land together.
        app.insert_resource(TimeUpdateStrategy::ManualDuration(ROSTER_INTERVAL / 4));
        app.world_mut().despawn(ada);
        app.update();
        assert_eq!(
            roster(&mut app).players,
            2,
            "not rewritten within the interval"
        );
        for _ in 0..4 {
            app.update();
        }
        let listed = roster(&mut app);
        assert_eq!(
            (listed.players, listed.entries.len()),
            (1, 1),
            "a departure"
        );
    }

    /// 256 players named `name` (the most a score and a ping can take).
    fn full_server(name: &str) -> Roster {
        let rows: Vec<(Player, PlayerName, Score, Ping)> = (0..256)
            .map(|id| {
                (
                    Player {
                        client_id: u64::MAX - id,
                    },
                    PlayerName(name.to_owned()),
                    Score {
                        kills: u16::MAX,
                        deaths: u16::MAX,
                    },
                    Ping(u16::MAX),
                )
            })
            .collect();
        roster_of(
            rows.iter()
                .map(|(player, name, score, ping)| (player, Some(name), score, Some(ping))),
        )
    }

    #[test]
    fn a_full_server_still_fits_one_component() {
        // 24 characters of 4 bytes: every one of the top players is listed.
        let roster = full_server(&"\u{1F600}".repeat(24));
        assert_eq!((roster.players, roster.entries.len()), (256, ROSTER_MAX));
        let bytes = skirmish_shared::protocol::encode(&roster).len();
        assert!(bytes <= MAX_COMPONENT_BYTES, "{bytes} bytes");

        // The longest name the server accepts (two 4-byte marks on each 4-byte character):
        // fewer are listed, and the roster still fits.
        let longest = sanitize_name(&"\u{1F600}\u{1E000}\u{1E001}".repeat(24));
        assert_eq!(longest.len(), 288, "the longest name");
        let roster = full_server(&longest);
        let bytes = skirmish_shared::protocol::encode(&roster).len();
        assert!(bytes <= MAX_COMPONENT_BYTES, "{bytes} bytes");
        assert!(
            (10..ROSTER_MAX).contains(&roster.entries.len()),
            "{} listed",
            roster.entries.len()
        );
        assert_eq!(roster.players, 256);
    }
}
