//! The F3 network overlay: round trip, loss, traffic, snapshots, entities and prediction
//! corrections, from [`NetStats`].

use bevy::prelude::*;
use skirmish_net::client::NetStats;

use super::Theme;
use super::screens::Screen;

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<OverlayShown>()
        .add_systems(OnEnter(Screen::InGame), spawn_overlay)
        .add_systems(
            Update,
            (toggle_net_overlay, update_net_overlay)
                .chain()
                .run_if(in_state(Screen::InGame)),
        );
}

/// Marks the F3 network overlay (hidden until F3 is pressed).
#[derive(Component)]
pub struct NetOverlay;

/// Whether the F3 network overlay is shown (kept across games).
#[derive(Resource, Debug, Default)]
pub struct OverlayShown(pub bool);

/// Spawns the (hidden or shown) overlay for the game screen.
pub fn spawn_overlay(mut commands: Commands, theme: Res<Theme>, overlay: Res<OverlayShown>) {
    let scoped = DespawnOnExit(Screen::InGame);
    commands.spawn((
        scoped,
        Name::new("Net overlay"),
        NetOverlay,
        if overlay.0 {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        },
        Text::new(""),
        theme.mono(15.0),
        TextColor(theme.overlay_text),
        BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.55)),
        Node {
            position_type: PositionType::Absolute,
            top: px(12),
            right: px(12),
            padding: UiRect::all(px(8)),
            ..default()
        },
    ));
}

/// F3 shows or hides the network overlay.
fn toggle_net_overlay(
    keys: Res<ButtonInput<KeyCode>>,
    mut shown: ResMut<OverlayShown>,
    mut overlay: Query<&mut Visibility, With<NetOverlay>>,
) {
    if !keys.just_pressed(KeyCode::F3) {
        return;
    }
    shown.0 = !shown.0;
    for mut visibility in &mut overlay {
        *visibility = if shown.0 {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
    }
}

fn update_net_overlay(
    stats: Res<NetStats>,
    mut overlay: Query<(&mut Text, &Visibility), With<NetOverlay>>,
) {
    let Ok((mut text, visibility)) = overlay.single_mut() else {
        return;
    };
    if *visibility == Visibility::Hidden {
        return;
    }
    let line = format!(
        "RTT {:.0} ms   loss {:.1}%\nin {:.1} kbps   out {:.1} kbps\nsnapshots {:.0}/s   entities {} of {}\ncorrections {} (last {:.2}, max {:.2})\ninput buffer {:.2} ticks   clock x{:.3}\n[F3] hide",
        stats.rtt_ms,
        stats.packet_loss * 100.0,
        stats.bytes_in_per_s * 8.0 / 1000.0,
        stats.bytes_out_per_s * 8.0 / 1000.0,
        stats.snapshots_per_s,
        stats.entities,
        stats
            .server_entities
            .map_or_else(|| "?".to_owned(), |total| total.to_string()),
        stats.corrections,
        stats.last_correction,
        stats.max_correction,
        stats.input_buffer_ticks,
        stats.clock_rate,
    );
    if text.0 != line {
        text.0 = line;
    }
}
