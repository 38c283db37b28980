//! The arena the server runs: the [`Arena`] resource (set from
//! [`MatchSettings::arena`](crate::MatchSettings::arena) when the match is set up) and the one
//! replicated entity that tells every client about it ([`ServerArena`], no place, so interest
//! management sends it to everyone).

use bevy::prelude::*;
use skirmish_net::server::ServerSystems;
use skirmish_shared::prelude::*;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(
        PostUpdate,
        publish_arena
            .run_if(resource_changed::<Arena>)
            .before(ServerSystems::Send),
    );
}

/// Spawns the arena entity, or updates it when the [`Arena`] resource changes.
fn publish_arena(
    mut commands: Commands,
    arena: Res<Arena>,
    mut published: Query<&mut ServerArena>,
) {
    crate::singleton::publish(&mut commands, &mut published, "Arena", ServerArena(*arena));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entity_carries_the_arena_and_follows_the_resource() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .init_resource::<Arena>()
            .configure_sets(PostUpdate, ServerSystems::Send)
            .add_plugins(plugin);
        app.update();
        app.insert_resource(Arena::new(3));
        app.update();
        app.update();
        let mut published = app
            .world_mut()
            .query_filtered::<&ServerArena, With<Replicated>>();
        let published: Vec<ServerArena> = published.iter(app.world()).copied().collect();
        assert_eq!(
            published,
            vec![ServerArena(Arena::new(3))],
            "one replicated entity carries the server's current arena"
        );
    }
}
