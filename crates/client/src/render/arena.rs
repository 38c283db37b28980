//! The game screen's floor and walls, for the whole [`Arena`]: rebuilt when the server's arena
//! arrives or changes, despawned when the game screen is left.

use bevy::prelude::*;
use skirmish_shared::arena::Arena;

use crate::assets::GameAssets;
use skirmish_app::Screen;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(OnEnter(Screen::InGame), spawn_arena)
        .add_systems(
            Update,
            spawn_arena.run_if(in_state(Screen::InGame).and_eager(resource_changed::<Arena>)),
        );
}

/// A piece of the drawn arena (the floor or a wall), replaced when the arena changes.
#[derive(Component, Debug, Clone, Copy)]
pub struct ArenaPiece;

/// Draws the floor and walls of the current [`Arena`], replacing any drawn before.
pub(crate) fn spawn_arena(
    mut commands: Commands,
    assets: Res<GameAssets>,
    arena: Res<Arena>,
    pieces: Query<Entity, With<ArenaPiece>>,
) {
    for piece in &pieces {
        commands.entity(piece).despawn();
    }
    let scoped = (ArenaPiece, DespawnOnExit(Screen::InGame));
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
            custom_size: Some(Vec2::splat(arena.half() * 2.0)),
            image_mode: tiled.clone(),
            ..default()
        },
        Transform::from_xyz(0.0, 0.0, -10.0),
    ));
    for wall in arena.walls() {
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

#[cfg(test)]
mod tests {
    use bevy::state::app::StatesPlugin;

    use super::*;
    use crate::test_support::count_named;

    #[test]
    fn the_whole_arena_is_drawn_and_redrawn_when_it_changes() {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin))
            .init_state::<Screen>()
            .init_resource::<Arena>()
            .insert_resource(GameAssets {
                player: default(),
                gun: default(),
                bullet: default(),
                wall: default(),
                floor: default(),
                ring: default(),
                bold: default(),
                mono: default(),
            })
            .add_plugins(plugin);
        app.update();
        app.world_mut()
            .resource_mut::<NextState<Screen>>()
            .set(Screen::InGame);
        app.update();
        assert_eq!(count_named(&mut app, "Wall"), 8, "one tile's walls");
        assert_eq!(count_named(&mut app, "Arena floor"), 1);
        // The server's larger arena arrives: drawn once, all of it.
        app.insert_resource(Arena::new(2));
        app.update();
        app.update();
        assert_eq!(
            count_named(&mut app, "Wall"),
            4 * 8,
            "every tile's walls, once"
        );
        assert_eq!(
            count_named(&mut app, "Arena floor"),
            1,
            "one floor, not two"
        );
    }
}
