//! What the window shows and reads (cargo feature `render`): the field, a sprite per ship and
//! gem, the hauls, and the keyboard on the helm. The menus, connection screens and F3 overlay
//! are the shell's.

use bevy::camera::ScalingMode;
use bevy::prelude::*;
use skirmish_app::Screen;
use skirmish_net::prelude::*;

use crate::shared::{FIELD_HALF, Gem, Haul, Helm, Pilot, Ship};

/// The game's window part.
pub struct GemsWindowPlugin;

impl Plugin for GemsWindowPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(ClearColor(Color::srgb(0.03, 0.04, 0.08)))
            .add_systems(Startup, spawn_camera)
            .add_systems(OnEnter(Screen::InGame), (spawn_field, spawn_hauls))
            .add_systems(
                Update,
                (
                    steer_by_keys.run_if(in_state(Screen::InGame)),
                    (dress_ships, dress_gems, mark_own_ship, place_ships).chain(),
                    show_hauls.run_if(in_state(Screen::InGame)),
                )
                    .after(ClientSystems::Interpolate),
            );
    }
}

const OWN_SHIP: Color = Color::srgb(1.0, 0.78, 0.25);
const GEM: Color = Color::srgb(0.35, 0.95, 0.9);

/// A camera that always shows the whole field.
fn spawn_camera(mut commands: Commands) {
    let side = FIELD_HALF * 2.0 + 80.0;
    commands.spawn((
        Camera2d,
        Projection::Orthographic(OrthographicProjection {
            scaling_mode: ScalingMode::AutoMin {
                min_width: side,
                min_height: side,
            },
            ..OrthographicProjection::default_2d()
        }),
    ));
}

fn spawn_field(mut commands: Commands) {
    let side = FIELD_HALF * 2.0;
    commands.spawn((
        Name::new("Field edge"),
        DespawnOnExit(Screen::InGame),
        Sprite::from_color(Color::srgb(0.2, 0.25, 0.4), Vec2::splat(side + 8.0)),
        Transform::from_xyz(0.0, 0.0, -2.0),
    ));
    commands.spawn((
        Name::new("Field"),
        DespawnOnExit(Screen::InGame),
        Sprite::from_color(Color::srgb(0.06, 0.08, 0.14), Vec2::splat(side)),
        Transform::from_xyz(0.0, 0.0, -1.0),
    ));
}

/// A hue of its own for each pilot.
fn pilot_color(pilot: u64) -> Color {
    Color::hsl((pilot.wrapping_mul(137) % 360) as f32, 0.55, 0.6)
}

/// A ship is a hull pointing along +x with a bright nose.
fn dress_ships(mut commands: Commands, ships: Query<(Entity, &Pilot), Added<Pilot>>) {
    for (entity, pilot) in &ships {
        commands
            .entity(entity)
            .insert((
                Sprite::from_color(pilot_color(pilot.0), Vec2::new(44.0, 18.0)),
                Transform::default(),
                Visibility::default(),
            ))
            .with_child((
                Sprite::from_color(Color::WHITE, Vec2::new(10.0, 10.0)),
                Transform::from_xyz(22.0, 0.0, 0.1),
            ));
    }
}

fn mark_own_ship(mut ships: Query<&mut Sprite, Added<Controlled>>) {
    for mut sprite in &mut ships {
        sprite.color = OWN_SHIP;
    }
}

/// A gem is a small diamond where it lies (gems never move).
fn dress_gems(mut commands: Commands, gems: Query<(Entity, &Gem), Added<Gem>>) {
    for (entity, gem) in &gems {
        commands.entity(entity).insert((
            Sprite::from_color(GEM, Vec2::splat(18.0)),
            Transform::from_translation(gem.at().extend(0.0))
                .with_rotation(Quat::from_rotation_z(std::f32::consts::FRAC_PI_4)),
            Visibility::default(),
        ));
    }
}

/// Ships are drawn where prediction (our own) or interpolation (the others) says.
fn place_ships(mut ships: Query<(Shown<Ship>, &mut Transform)>) {
    for (ship, mut transform) in &mut ships {
        let ship = ship.get();
        transform.translation = ship.at.extend(1.0);
        transform.rotation = Quat::from_rotation_z(ship.heading);
    }
}

/// The keys that fly the ship.
const FLIGHT_KEYS: [KeyCode; 6] = [
    KeyCode::ArrowLeft,
    KeyCode::KeyA,
    KeyCode::ArrowRight,
    KeyCode::KeyD,
    KeyCode::ArrowUp,
    KeyCode::KeyW,
];

/// Arrows or WASD: turn and thrust. Untouched keys leave the helm to whatever else holds it (a
/// bot pilot).
fn steer_by_keys(keys: Res<ButtonInput<KeyCode>>, mut helm: ResMut<LocalInput<Helm>>) {
    if !keys.any_pressed(FLIGHT_KEYS) && !keys.any_just_released(FLIGHT_KEYS) {
        return;
    }
    let pressed = |a, b| keys.any_pressed([a, b]);
    let left = pressed(KeyCode::ArrowLeft, KeyCode::KeyA);
    let right = pressed(KeyCode::ArrowRight, KeyCode::KeyD);
    helm.0 = Helm {
        turn: f32::from(u8::from(left)) - f32::from(u8::from(right)),
        thrust: pressed(KeyCode::ArrowUp, KeyCode::KeyW),
    };
}

/// The hauls, top left.
#[derive(Component)]
struct HaulsText;

fn spawn_hauls(mut commands: Commands) {
    commands.spawn((
        Name::new("Hauls"),
        HaulsText,
        DespawnOnExit(Screen::InGame),
        Text::new(""),
        TextFont::from_font_size(20.0),
        TextColor(Color::srgb(0.92, 0.94, 0.97)),
        Node {
            position_type: PositionType::Absolute,
            top: px(12),
            left: px(12),
            ..default()
        },
    ));
}

fn show_hauls(
    ships: Query<(&Pilot, &Haul, Has<Controlled>)>,
    mut text: Query<&mut Text, With<HaulsText>>,
) {
    let Ok(mut text) = text.single_mut() else {
        return;
    };
    let mut hauls: Vec<(u32, bool, u64)> = ships
        .iter()
        .map(|(pilot, haul, own)| (haul.0, own, pilot.0))
        .collect();
    hauls.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)));
    let mut shown = String::from("GEMS   arrows or WASD to fly, F3 network, Esc to leave\n");
    for (haul, own, pilot) in hauls.iter().take(8) {
        let who = if *own {
            "you".to_owned()
        } else {
            format!("pilot {:04x}", pilot & 0xffff)
        };
        shown.push_str(&format!("{haul:>3}  {who}\n"));
    }
    if text.0 != shown {
        text.0 = shown;
    }
}
