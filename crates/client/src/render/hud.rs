//! Text on screen: the status line (always), and on the game screen own health and score,
//! the kill feed and, while Tab is held, the scoreboard.

use bevy::prelude::*;
use skirmish_shared::prelude::*;

use super::RenderSystems;
use crate::assets::GameAssets;
use crate::net::{ConnectionStatus, KillFeed, LocalPlayer};
use skirmish_app::Screen;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, spawn_status_line)
        .add_systems(OnEnter(Screen::InGame), spawn_hud)
        .add_systems(
            Update,
            (
                update_status_text,
                update_hud.run_if(in_state(Screen::InGame)),
            )
                .in_set(RenderSystems::Ui),
        );
}

/// Marks the status line at the top of the screen.
#[derive(Component)]
struct StatusText;

/// Marks the own health and score line.
#[derive(Component)]
struct HudText;

/// Marks the kill feed.
#[derive(Component)]
struct KillFeedText;

/// Marks the Tab scoreboard.
#[derive(Component)]
struct Scoreboard;

fn spawn_status_line(mut commands: Commands) {
    commands.spawn((
        StatusText,
        Text::new("Starting..."),
        TextFont::from_font_size(18.0),
        TextColor(Color::srgb(0.9, 0.92, 0.95)),
        Node {
            position_type: PositionType::Absolute,
            top: px(12),
            left: px(12),
            ..default()
        },
    ));
}

/// The game screen's texts, despawned when it is left, so nothing of a game stays on the menu.
pub(crate) fn spawn_hud(mut commands: Commands, assets: Res<GameAssets>) {
    let scoped = DespawnOnExit(Screen::InGame);
    commands.spawn((
        scoped.clone(),
        Name::new("HUD"),
        HudText,
        Text::new(""),
        assets.bold(22.0),
        TextColor(Color::srgb(0.95, 0.95, 0.95)),
        Node {
            position_type: PositionType::Absolute,
            bottom: px(14),
            left: px(14),
            ..default()
        },
    ));
    commands.spawn((
        scoped.clone(),
        Name::new("Kill feed"),
        KillFeedText,
        Text::new(""),
        TextFont::from_font_size(16.0),
        TextColor(Color::srgb(1.0, 0.85, 0.6)),
        Node {
            position_type: PositionType::Absolute,
            bottom: px(14),
            right: px(14),
            ..default()
        },
    ));
    commands.spawn((
        scoped,
        Name::new("Scoreboard"),
        Scoreboard,
        Visibility::Hidden,
        Text::new(""),
        assets.mono(18.0),
        TextColor(Color::srgb(0.95, 0.95, 0.95)),
        BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.7)),
        Node {
            position_type: PositionType::Absolute,
            top: px(120),
            left: percent(30),
            padding: UiRect::all(px(12)),
            ..default()
        },
    ));
}

/// Own health and score (bottom left), the kill feed (bottom right) and, while Tab is held,
/// the scoreboard.
fn update_hud(
    keys: Res<ButtonInput<KeyCode>>,
    feed: Res<KillFeed>,
    local: Query<(&Health, &Score), With<LocalPlayer>>,
    players: Query<(&Player, Option<&PlayerName>)>,
    roster: Query<&Roster>,
    mut hud: Query<&mut Text, (With<HudText>, Without<KillFeedText>, Without<Scoreboard>)>,
    mut kills: Query<&mut Text, (With<KillFeedText>, Without<Scoreboard>)>,
    mut board: Query<(&mut Text, &mut Visibility), With<Scoreboard>>,
) {
    // Everyone is on the server's roster; the players this client sees are a fallback.
    let roster = roster.iter().next();
    let name_of = |client_id: u64| {
        roster
            .and_then(|roster| roster.name_of(client_id))
            .map(str::to_owned)
            .or_else(|| {
                players
                    .iter()
                    .find(|(player, _)| player.client_id == client_id)
                    .and_then(|(_, name)| name.map(|name| name.0.clone()))
            })
            .unwrap_or_else(|| "someone".to_owned())
    };
    if let (Ok(mut text), Ok((health, score))) = (hud.single_mut(), local.single()) {
        let line = if health.is_alive() {
            format!(
                "Health {}   Kills {}   Deaths {}",
                health.0, score.kills, score.deaths
            )
        } else {
            format!(
                "You died: respawning...   Kills {}   Deaths {}",
                score.kills, score.deaths
            )
        };
        if text.0 != line {
            text.0 = line;
        }
    }
    if let Ok(mut text) = kills.single_mut()
        && feed.is_changed()
    {
        text.0 = feed
            .0
            .iter()
            .map(|(killer, victim)| format!("{} killed {}", name_of(*killer), name_of(*victim)))
            .collect::<Vec<_>>()
            .join("\n");
    }
    if let Ok((mut text, mut visibility)) = board.single_mut() {
        let held = keys.pressed(KeyCode::Tab);
        *visibility = if held {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        if held && let Some(roster) = roster {
            text.0 = scoreboard(roster);
        }
    }
}

/// The Tab scoreboard's text: the roster, best first.
fn scoreboard(roster: &Roster) -> String {
    let mut table = format!(
        "{:<16} {:>5} {:>6} {:>6}\n",
        "Player", "Kills", "Deaths", "Ping"
    );
    for entry in &roster.entries {
        let ping = if entry.ping == 0 {
            "-".to_owned()
        } else {
            format!("{} ms", entry.ping)
        };
        table.push_str(&format!(
            "{:<16} {:>5} {:>6} {ping:>6}\n",
            entry.name, entry.score.kills, entry.score.deaths
        ));
    }
    let unlisted = usize::from(roster.players).saturating_sub(roster.entries.len());
    if unlisted > 0 {
        table.push_str(&format!("and {unlisted} more\n"));
    }
    table
}

fn update_status_text(
    status: Res<ConnectionStatus>,
    players: Query<(), With<Player>>,
    roster: Query<&Roster>,
    mut text: Query<&mut Text, With<StatusText>>,
) {
    let Ok(mut text) = text.single_mut() else {
        return;
    };
    let line = match &*status {
        ConnectionStatus::Idle => "Not connected".to_owned(),
        ConnectionStatus::Connecting { server } => format!("Connecting to {server}..."),
        ConnectionStatus::Connected => format!(
            "{} players  |  WASD move, mouse aim, click fire, Tab scores, F3 network",
            // The whole match (the roster), not only the players this client sees.
            roster.iter().next().map_or_else(
                || players.iter().count(),
                |roster| usize::from(roster.players)
            )
        ),
        ConnectionStatus::Disconnected { reason } => format!("Disconnected: {reason}"),
    };
    if text.0 != line {
        text.0 = line;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scoreboard_lists_the_whole_roster_and_counts_the_rest() {
        let entry = |name: &str, kills: u16| RosterEntry {
            client_id: kills.into(),
            name: name.into(),
            score: Score { kills, deaths: 1 },
            ping: 30,
        };
        let roster = Roster {
            players: 40,
            entries: vec![entry("Ada", 3), entry("Brook", 1)],
        };
        let text = scoreboard(&roster);
        let ada = text.find("Ada").expect("Ada listed");
        let brook = text.find("Brook").expect("Brook listed");
        assert!(ada < brook, "in the roster's order:\n{text}");
        assert!(text.contains("30 ms"));
        assert!(text.ends_with("and 38 more\n"), "{text}");
    }
}
