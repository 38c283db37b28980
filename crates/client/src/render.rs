//! The client's window side: camera, arena, a sprite per replicated player, a status line, and
//! keyboard input written into [`InputState`].

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use skirmish_shared::arena::WALLS;
use skirmish_shared::game::MAX_HEALTH;
use skirmish_shared::prelude::*;
use skirmish_shared::simulation::ARENA_HALF;

use crate::ClientPlugin;
use crate::assets::GameAssets;
use crate::net::{ConnectionStatus, InputState, KillFeed, LocalPlayer};
use crate::screens::Screen;
use skirmish_net::client::{ClientSystems, Interpolated, NetStats, Predicted};

/// The game window app: `DefaultPlugins` (a 1280x720 window titled "Skirmish"), [`ClientPlugin`]
/// and [`ClientRenderPlugin`]. Call [`connect`](crate::connect) on it, then `run` it.
pub fn window_app() -> App {
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "Skirmish".into(),
            resolution: (1280, 720).into(),
            ..default()
        }),
        ..default()
    }))
    .add_plugins((ClientPlugin, ClientRenderPlugin));
    app
}

/// Rendering and input for the client. Needs `DefaultPlugins` (a window) and [`ClientPlugin`].
pub struct ClientRenderPlugin;

impl Plugin for ClientRenderPlugin {
    fn build(&self, app: &mut App) {
        let assets = GameAssets::load(app.world_mut());
        app.insert_resource(assets)
            .add_plugins(crate::screens::plugin);
        #[cfg(feature = "audio")]
        app.add_plugins(crate::audio::plugin);
        #[cfg(feature = "gamepad")]
        app.add_systems(
            Update,
            read_gamepad.after(read_mouse).before(add_player_sprites),
        );
        app.insert_resource(ClearColor(Color::srgb(0.06, 0.07, 0.09)))
            .init_resource::<OverlayShown>()
            .add_systems(Startup, spawn_scene)
            .add_systems(OnEnter(Screen::InGame), spawn_game_screen)
            .add_systems(
                Update,
                (
                    read_keyboard,
                    read_mouse,
                    add_player_sprites,
                    add_projectile_sprites,
                    update_health_bars,
                    point_barrels,
                    update_name_labels,
                    sync_transforms.after(ClientSystems::Interpolate),
                    follow_local_player,
                    update_status_text,
                    toggle_net_overlay,
                    update_net_overlay,
                    update_hud,
                )
                    .chain(),
            );
    }
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

/// Marks the F3 network overlay (hidden until F3 is pressed).
#[derive(Component)]
pub struct NetOverlay;

const PLAYER_SIZE: f32 = 36.0;
const BARREL_LENGTH: f32 = 24.0;

fn spawn_scene(mut commands: Commands) {
    commands.spawn((Name::new("Camera"), Camera2d));
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

/// Whether the F3 network overlay is shown (kept across games).
#[derive(Resource, Debug, Default)]
pub struct OverlayShown(pub bool);

/// The game screen: arena, HUD, kill feed, scoreboard and network overlay. Everything here is
/// despawned when the game screen is left, so nothing of a game stays on the menu.
pub(crate) fn spawn_game_screen(
    mut commands: Commands,
    assets: Res<GameAssets>,
    overlay: Res<OverlayShown>,
) {
    let scoped = DespawnOnExit(Screen::InGame);
    let tiled = SpriteImageMode::Tiled {
        tile_x: true,
        tile_y: true,
        stretch_value: 1.0,
    };
    commands.spawn((
        scoped.clone(),
        Name::new("Arena floor"),
        Sprite {
            image: assets.floor.clone(),
            custom_size: Some(Vec2::splat(ARENA_HALF * 2.0)),
            image_mode: tiled.clone(),
            ..default()
        },
        Transform::from_xyz(0.0, 0.0, -10.0),
    ));
    for wall in WALLS {
        commands.spawn((
            scoped.clone(),
            Name::new("Wall"),
            Sprite {
                image: assets.wall.clone(),
                custom_size: Some(wall.size()),
                image_mode: tiled.clone(),
                ..default()
            },
            Transform::from_translation(wall.center().extend(0.5)),
        ));
    }
    commands.spawn((
        scoped.clone(),
        Name::new("Net overlay"),
        NetOverlay,
        if overlay.0 {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        },
        Text::new(""),
        assets.mono(15.0),
        TextColor(Color::srgb(0.75, 0.95, 0.8)),
        BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.55)),
        Node {
            position_type: PositionType::Absolute,
            top: px(12),
            right: px(12),
            padding: UiRect::all(px(8)),
            ..default()
        },
    ));
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

/// WASD or arrow keys -> the movement of [`InputState`].
fn read_keyboard(keys: Res<ButtonInput<KeyCode>>, mut input: ResMut<InputState>) {
    let pressed = |a: KeyCode, b: KeyCode| keys.pressed(a) || keys.pressed(b);
    let mut movement = Vec2::ZERO;
    if pressed(KeyCode::KeyW, KeyCode::ArrowUp) {
        movement.y += 1.0;
    }
    if pressed(KeyCode::KeyS, KeyCode::ArrowDown) {
        movement.y -= 1.0;
    }
    if pressed(KeyCode::KeyA, KeyCode::ArrowLeft) {
        movement.x -= 1.0;
    }
    if pressed(KeyCode::KeyD, KeyCode::ArrowRight) {
        movement.x += 1.0;
    }
    input.movement = movement.normalize_or_zero();
}

/// Mouse aim (from the local player towards the cursor) and fire (left button or space).
fn read_mouse(
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    cameras: Query<(&Camera, &GlobalTransform), With<Camera2d>>,
    player: Query<&Transform, With<LocalPlayer>>,
    mut input: ResMut<InputState>,
) {
    input.fire = buttons.pressed(MouseButton::Left) || keys.pressed(KeyCode::Space);
    let (Ok(window), Ok((camera, camera_transform)), Ok(player)) =
        (windows.single(), cameras.single(), player.single())
    else {
        return;
    };
    let Some(cursor) = window.cursor_position() else {
        return;
    };
    if let Ok(target) = camera.viewport_to_world_2d(camera_transform, cursor) {
        input.aim = (target - player.translation.truncate()).normalize_or_zero();
    }
}

/// A gamepad, when one is connected and moved, overrides keyboard and mouse: left stick moves,
/// right stick aims, right trigger or South fires.
#[cfg(feature = "gamepad")]
fn read_gamepad(gamepads: Query<&Gamepad>, mut input: ResMut<InputState>) {
    const DEAD_ZONE: f32 = 0.2;
    for gamepad in &gamepads {
        let movement = gamepad.left_stick();
        if movement.length() > DEAD_ZONE {
            input.movement = movement.clamp_length_max(1.0);
        }
        let aim = gamepad.right_stick();
        if aim.length() > DEAD_ZONE {
            input.aim = aim.normalize();
        }
        if gamepad.any_pressed([GamepadButton::RightTrigger2, GamepadButton::South]) {
            input.fire = true;
        }
    }
}

/// Marks the health bar drawn above a player.
#[derive(Component)]
struct HealthBar;

const HEALTH_BAR_WIDTH: f32 = 40.0;

fn update_health_bars(
    players: Query<(&Health, &Children), Or<(Changed<Health>, Added<Children>)>>,
    mut bars: Query<(&mut Transform, &mut Sprite), With<HealthBar>>,
) {
    for (health, children) in &players {
        let fraction = f32::from(health.0) / f32::from(MAX_HEALTH);
        let mut bars = bars.iter_many_mut(children);
        while let Some((mut transform, mut sprite)) = bars.fetch_next() {
            transform.scale.x = fraction.max(0.001);
            transform.translation.x = -HEALTH_BAR_WIDTH * (1.0 - fraction) * 0.5;
            sprite.color = if fraction > 0.5 {
                Color::srgb(0.3, 0.85, 0.4)
            } else if fraction > 0.25 {
                Color::srgb(0.95, 0.75, 0.2)
            } else {
                Color::srgb(0.95, 0.3, 0.25)
            };
        }
    }
}

fn add_projectile_sprites(
    mut commands: Commands,
    assets: Res<GameAssets>,
    projectiles: Query<(Entity, &Position), Added<Projectile>>,
) {
    for (entity, position) in &projectiles {
        commands.entity(entity).insert((
            Sprite {
                image: assets.bullet.clone(),
                custom_size: Some(Vec2::splat(18.0)),
                ..default()
            },
            Transform::from_translation(position.0.extend(2.0)),
        ));
    }
}

/// A stable colour per player: hues spread by the golden angle over the player's slot, so the
/// first players get clearly different colours.
fn player_color(slot: u8) -> Color {
    Color::hsl((f32::from(slot) * 137.508) % 360.0, 0.7, 0.55)
}

/// Marks the name shown above a player.
#[derive(Component)]
struct NameLabel;

fn add_player_sprites(
    mut commands: Commands,
    assets: Res<GameAssets>,
    players: Query<
        (
            Entity,
            &Player,
            &Position,
            Option<&PlayerSlot>,
            Has<LocalPlayer>,
        ),
        Added<Player>,
    >,
) {
    for (entity, player, position, slot, local) in &players {
        let slot = slot.map_or((player.client_id % 251) as u8, |slot| slot.0);
        let size = if local {
            PLAYER_SIZE * 1.15
        } else {
            PLAYER_SIZE
        };
        commands.entity(entity).insert((
            Sprite {
                image: assets.player.clone(),
                color: player_color(slot),
                custom_size: Some(Vec2::splat(size)),
                ..default()
            },
            Transform::from_translation(position.0.extend(1.0)),
        ));
        commands.entity(entity).with_child((
            HealthBar,
            Sprite::from_color(
                Color::srgb(0.3, 0.85, 0.4),
                Vec2::new(HEALTH_BAR_WIDTH, 5.0),
            ),
            Transform::from_xyz(0.0, size * 0.5 + 5.0, 2.0),
        ));
        commands.entity(entity).with_child((
            NameLabel,
            Text2d::new(""),
            assets.bold(15.0),
            TextColor(Color::srgb(0.92, 0.94, 0.97)),
            Transform::from_xyz(0.0, size * 0.5 + 18.0, 2.0),
        ));
        commands.entity(entity).with_child((
            Barrel,
            Sprite {
                image: assets.gun.clone(),
                custom_size: Some(Vec2::new(BARREL_LENGTH, 9.0)),
                ..default()
            },
            Transform::from_xyz(size * 0.5 + 4.0, 0.0, -0.2),
        ));
        if local {
            commands.entity(entity).with_child((
                Sprite {
                    image: assets.ring.clone(),
                    custom_size: Some(Vec2::splat(size + 14.0)),
                    ..default()
                },
                Transform::from_xyz(0.0, 0.0, -0.5),
            ));
        }
    }
}

/// Marks the gun barrel that shows where a player aims.
#[derive(Component)]
struct Barrel;

/// Points each player's barrel where it aims: the local player's own aim at once, others'
/// from their replicated [`Rotation`].
fn point_barrels(
    input: Res<InputState>,
    players: Query<(&Children, Option<&Rotation>, Has<LocalPlayer>), With<Player>>,
    mut barrels: Query<&mut Transform, With<Barrel>>,
) {
    for (children, rotation, local) in &players {
        let direction = if local && input.aim != Vec2::ZERO {
            input.aim.normalize_or_zero()
        } else {
            match rotation {
                Some(rotation) => Vec2::from_angle(rotation.0),
                None => continue,
            }
        };
        let mut barrels = barrels.iter_many_mut(children);
        while let Some(mut transform) = barrels.fetch_next() {
            let reach = PLAYER_SIZE * 0.5 + BARREL_LENGTH * 0.5 - 6.0;
            transform.translation.x = direction.x * reach;
            transform.translation.y = direction.y * reach;
            transform.rotation = Quat::from_rotation_z(direction.to_angle());
        }
    }
}

fn update_name_labels(
    players: Query<(&PlayerName, &Children), Or<(Changed<PlayerName>, Added<Children>)>>,
    mut labels: Query<&mut Text2d, With<NameLabel>>,
) {
    for (name, children) in &players {
        let mut labels = labels.iter_many_mut(children);
        while let Some(mut label) = labels.fetch_next() {
            label.0.clone_from(&name.0);
        }
    }
}

/// Places sprites: the local player where prediction says, remote entities where interpolation
/// says, anything else at its replicated position.
fn sync_transforms(
    mut query: Query<(
        &Position,
        Option<&Predicted<Position>>,
        Option<&Interpolated<Position>>,
        &mut Transform,
    )>,
) {
    for (position, predicted, interpolated, mut transform) in &mut query {
        let shown = match (predicted, interpolated) {
            (Some(predicted), _) => predicted.shown().0,
            (None, Some(interpolated)) => interpolated.shown().0,
            (None, None) => position.0,
        };
        transform.translation.x = shown.x;
        transform.translation.y = shown.y;
    }
}

/// Keeps the camera on the local player, but never shows beyond the arena's edge (unless the
/// window is larger than the arena).
fn follow_local_player(
    windows: Query<&Window, With<PrimaryWindow>>,
    player: Query<&Transform, (With<LocalPlayer>, Without<Camera2d>)>,
    mut camera: Query<&mut Transform, With<Camera2d>>,
) {
    let (Ok(player), Ok(mut camera)) = (player.single(), camera.single_mut()) else {
        return;
    };
    let half_view = windows
        .single()
        .map_or(Vec2::ZERO, |window| window.size() * 0.5);
    let limit = (Vec2::splat(ARENA_HALF) - half_view).max(Vec2::ZERO);
    let target = player.translation.truncate().clamp(-limit, limit);
    camera.translation.x = target.x;
    camera.translation.y = target.y;
}

/// Own health and score (bottom left), the kill feed (bottom right) and, while Tab is held,
/// the scoreboard.
fn update_hud(
    keys: Res<ButtonInput<KeyCode>>,
    feed: Res<KillFeed>,
    local: Query<(&Health, &Score), With<LocalPlayer>>,
    players: Query<(&Player, Option<&PlayerName>, &Score, Option<&Ping>)>,
    mut hud: Query<&mut Text, (With<HudText>, Without<KillFeedText>, Without<Scoreboard>)>,
    mut kills: Query<&mut Text, (With<KillFeedText>, Without<Scoreboard>)>,
    mut board: Query<(&mut Text, &mut Visibility), With<Scoreboard>>,
) {
    let name_of = |client_id: u64| {
        players
            .iter()
            .find(|(player, _, _, _)| player.client_id == client_id)
            .and_then(|(_, name, _, _)| name.map(|name| name.0.clone()))
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
        if held {
            let mut rows: Vec<_> = players.iter().collect();
            rows.sort_by_key(|(_, _, score, _)| (std::cmp::Reverse(score.kills), score.deaths));
            let mut table = format!(
                "{:<16} {:>5} {:>6} {:>6}\n",
                "Player", "Kills", "Deaths", "Ping"
            );
            for (player, name, score, ping) in rows {
                let name =
                    name.map_or_else(|| format!("{}", player.client_id % 1000), |n| n.0.clone());
                let ping = ping.map_or("-".to_owned(), |ping| format!("{} ms", ping.0));
                table.push_str(&format!(
                    "{name:<16} {:>5} {:>6} {ping:>6}\n",
                    score.kills, score.deaths
                ));
            }
            text.0 = table;
        }
    }
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
        "RTT {:.0} ms   loss {:.1}%\nin {:.1} kbps   out {:.1} kbps\nsnapshots {:.0}/s   entities {}\ncorrections {} (last {:.2}, max {:.2})\n[F3] hide",
        stats.rtt_ms,
        stats.packet_loss * 100.0,
        stats.bytes_in_per_s * 8.0 / 1000.0,
        stats.bytes_out_per_s * 8.0 / 1000.0,
        stats.snapshots_per_s,
        stats.entities,
        stats.corrections,
        stats.last_correction,
        stats.max_correction,
    );
    if text.0 != line {
        text.0 = line;
    }
}

fn update_status_text(
    status: Res<ConnectionStatus>,
    players: Query<(), With<Player>>,
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
            players.iter().count()
        ),
        ConnectionStatus::Disconnected { reason } => format!("Disconnected: {reason}"),
    };
    if text.0 != line {
        text.0 = line;
    }
}
