//! A sprite per replicated player and projectile, added by observers as they arrive, dressed
//! (health bar, name, barrel, the local player's ring) and placed every frame where prediction
//! (own shots: their local flight) or interpolation shows them.

use bevy::prelude::*;
use skirmish_net::client::{Interpolated, Predicted};
use skirmish_shared::game::{MAX_HEALTH, Shielded};
use skirmish_shared::prelude::*;

use super::RenderSystems;
use crate::assets::GameAssets;
use crate::net::{InputState, LocalPlayer};
use crate::shooting::LocalFlight;

pub(super) fn plugin(app: &mut App) {
    app.add_observer(add_player_sprite)
        .add_observer(color_player)
        .add_observer(mark_local_sprite)
        .add_observer(add_projectile_sprite)
        .add_observer(raise_shield)
        .add_observer(lower_shield)
        .add_systems(
            Update,
            (
                update_health_bars,
                point_barrels,
                update_name_labels,
                sync_transforms,
            )
                .in_set(RenderSystems::Sprites),
        );
}

/// Side of a player's sprite, in world units.
const PLAYER_SIZE: f32 = 36.0;
const BARREL_LENGTH: f32 = 24.0;
const HEALTH_BAR_WIDTH: f32 = 40.0;

/// Marks the health bar drawn above a player.
#[derive(Component)]
struct HealthBar;

/// Marks the name shown above a player.
#[derive(Component)]
struct NameLabel;

/// Marks the gun barrel that shows where a player aims.
#[derive(Component)]
struct Barrel;

/// Marks the bubble around a player with spawn protection.
#[derive(Component)]
struct ShieldBubble;

/// A stable colour per player: hues spread by the golden angle over the player's slot, so the
/// first players get clearly different colours.
fn player_color(slot: u8) -> Color {
    Color::hsl((f32::from(slot) * 137.508) % 360.0, 0.7, 0.55)
}

/// A new player gets its sprite and children; its colour comes with its slot.
fn add_player_sprite(
    add: On<Add, Player>,
    mut commands: Commands,
    assets: Res<GameAssets>,
    players: Query<(&Player, Option<&Position>)>,
) {
    let Ok((player, position)) = players.get(add.entity) else {
        return;
    };
    let at = position.map_or(Vec2::ZERO, |position| position.0);
    let mut entity = commands.entity(add.entity);
    entity.insert((
        Sprite {
            image: assets.player.clone(),
            color: player_color((player.client_id % 251) as u8),
            custom_size: Some(Vec2::splat(PLAYER_SIZE)),
            ..default()
        },
        Transform::from_translation(at.extend(1.0)),
    ));
    entity.with_child((
        HealthBar,
        Sprite::from_color(
            Color::srgb(0.3, 0.85, 0.4),
            Vec2::new(HEALTH_BAR_WIDTH, 5.0),
        ),
        Transform::from_xyz(0.0, PLAYER_SIZE * 0.5 + 5.0, 2.0),
    ));
    entity.with_child((
        NameLabel,
        Text2d::new(""),
        assets.bold(15.0),
        TextColor(Color::srgb(0.92, 0.94, 0.97)),
        Transform::from_xyz(0.0, PLAYER_SIZE * 0.5 + 18.0, 2.0),
    ));
    entity.with_child((
        Barrel,
        Sprite {
            image: assets.gun.clone(),
            custom_size: Some(Vec2::new(BARREL_LENGTH, 9.0)),
            ..default()
        },
        Transform::from_xyz(PLAYER_SIZE * 0.5 + 4.0, 0.0, -0.2),
    ));
}

/// A player's colour follows its slot.
fn color_player(add: On<Insert, PlayerSlot>, mut players: Query<(&PlayerSlot, &mut Sprite)>) {
    if let Ok((slot, mut sprite)) = players.get_mut(add.entity) {
        sprite.color = player_color(slot.0);
    }
}

/// Our own player is drawn a little larger, with a ring.
fn mark_local_sprite(
    add: On<Add, LocalPlayer>,
    mut commands: Commands,
    assets: Res<GameAssets>,
    mut sprites: Query<&mut Sprite>,
) {
    let size = PLAYER_SIZE * 1.15;
    if let Ok(mut sprite) = sprites.get_mut(add.entity) {
        sprite.custom_size = Some(Vec2::splat(size));
    }
    commands.entity(add.entity).with_child((
        Sprite {
            image: assets.ring.clone(),
            custom_size: Some(Vec2::splat(size + 14.0)),
            ..default()
        },
        Transform::from_xyz(0.0, 0.0, -0.5),
    ));
}

fn add_projectile_sprite(
    add: On<Add, Projectile>,
    mut commands: Commands,
    assets: Res<GameAssets>,
    positions: Query<&Position>,
) {
    let at = positions
        .get(add.entity)
        .map_or(Vec2::ZERO, |position| position.0);
    commands.entity(add.entity).insert((
        Sprite {
            image: assets.bullet.clone(),
            custom_size: Some(Vec2::splat(18.0)),
            ..default()
        },
        Transform::from_translation(at.extend(2.0)),
    ));
}

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
        Option<&LocalFlight>,
        &mut Transform,
        Option<&mut Visibility>,
    )>,
) {
    for (position, predicted, interpolated, flight, mut transform, visibility) in &mut query {
        if let (Some(flight), Some(mut visibility)) = (flight, visibility)
            && flight.ended
        {
            visibility.set_if_neq(Visibility::Hidden);
        }
        let shown = match (predicted, interpolated, flight) {
            (_, _, Some(flight)) => flight.position,
            (Some(predicted), _, None) => predicted.shown().0,
            (None, Some(interpolated), None) => interpolated.shown().0,
            (None, None, None) => position.0,
        };
        transform.translation.x = shown.x;
        transform.translation.y = shown.y;
    }
}

/// A player with spawn protection shows a bubble around it.
fn raise_shield(add: On<Add, Shielded>, mut commands: Commands, assets: Res<GameAssets>) {
    commands.entity(add.entity).with_child((
        ShieldBubble,
        Sprite {
            image: assets.ring.clone(),
            color: Color::srgba(0.45, 0.85, 1.0, 0.8),
            custom_size: Some(Vec2::splat(PLAYER_SIZE * 1.8)),
            ..default()
        },
        Transform::from_xyz(0.0, 0.0, 0.5),
    ));
}

/// The bubble goes with the protection.
fn lower_shield(
    remove: On<Remove, Shielded>,
    mut commands: Commands,
    children: Query<&Children>,
    bubbles: Query<(), With<ShieldBubble>>,
) {
    for child in children.iter_descendants(remove.entity) {
        if bubbles.contains(child) {
            commands.entity(child).try_despawn();
        }
    }
}
