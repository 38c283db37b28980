//! The game screen's floor and walls, despawned when the game screen is left.

use bevy::prelude::*;
use skirmish_shared::arena::WALLS;
use skirmish_shared::simulation::ARENA_HALF;

use crate::assets::GameAssets;
use crate::screens::Screen;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(OnEnter(Screen::InGame), spawn_arena);
}

pub(crate) fn spawn_arena(mut commands: Commands, assets: Res<GameAssets>) {
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
}
