//! The demo's networking glue on `skirmish-net`'s client ([`NetClientPlugin`]): its input type,
//! its own player marked ([`LocalPlayer`]) and predicted, the server's [`Arena`], the kill feed.
//! Usable without any rendering: tests and bots run it on `MinimalPlugins`.

use std::collections::VecDeque;

use bevy::prelude::*;
use skirmish_net::client::{ClientSystems, Controlled, LocalInput, NetClientPlugin};
use skirmish_shared::SharedPlugin;
use skirmish_shared::game::Killed;
use skirmish_shared::prelude::*;

pub use skirmish_net::client::{
    AnnouncedVersion, ClientSession, ConnectError, ConnectTimeout, ConnectionStatus,
    ServerEntityMap, SnapshotApplied, apply_server_messages, connect, connect_with,
    connect_with_token, describe_disconnect, disconnect,
};

/// What the local player wants to do right now: the demo's input ([`InputFrame`]). The window's
/// input systems (or a bot, or a test) write it; it is sent every tick.
pub type InputState = LocalInput<InputFrame>;

/// The demo's shared plugin and `skirmish-net`'s client for its input, its own player marked,
/// the server's arena adopted and the kill feed recorded.
pub(super) fn plugin(app: &mut App) {
    app.add_plugins((SharedPlugin, NetClientPlugin))
        .init_resource::<KillFeed>()
        .add_observer(adopt_server_arena)
        .add_observer(forget_server_arena)
        .add_observer(mark_local_player)
        .add_systems(
            PreUpdate,
            record_kills
                .after(ClientSystems::Receive)
                .before(ClientSystems::Reconcile),
        );
}

/// The latest kills, oldest first: `(killer, victim)` client ids.
#[derive(Resource, Debug, Default, Clone)]
pub struct KillFeed(pub VecDeque<(u64, u64)>);

impl KillFeed {
    /// Kills kept.
    pub const CAPACITY: usize = 5;
}

/// Marks the [`Player`] entity this client controls (its movement is predicted).
#[derive(Component, Debug, Default, Clone, Copy)]
#[require(Controlled)]
pub struct LocalPlayer;

/// The player the server gave us to control is our own.
fn mark_local_player(
    controlled: On<Add, Controlled>,
    players: Query<(), With<Player>>,
    mut commands: Commands,
) {
    if players.contains(controlled.entity) {
        commands.entity(controlled.entity).insert(LocalPlayer);
    }
}

/// The server told us its arena (or changed it): predict, draw and clamp the camera in it.
fn adopt_server_arena(
    insert: On<Insert, ServerArena>,
    arenas: Query<&ServerArena>,
    mut arena: ResMut<Arena>,
) {
    if let Ok(server_arena) = arenas.get(insert.entity) {
        arena.set_if_neq(server_arena.0);
    }
}

/// The server's arena is gone (we left): back to the default until the next server says.
fn forget_server_arena(_: On<Remove, ServerArena>, mut arena: ResMut<Arena>) {
    arena.set_if_neq(Arena::default());
}

/// Keeps the latest kills the server told us about.
fn record_kills(mut kills: MessageReader<Killed>, mut feed: ResMut<KillFeed>) {
    for kill in kills.read() {
        if feed.0.len() == KillFeed::CAPACITY {
            feed.0.pop_front();
        }
        feed.0.push_back((kill.killer, kill.victim));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arena_follows_the_servers() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .init_resource::<Arena>()
            .add_observer(adopt_server_arena)
            .add_observer(forget_server_arena);
        let replica = app.world_mut().spawn(ServerArena(Arena::new(3))).id();
        assert_eq!(*app.world().resource::<Arena>(), Arena::new(3), "adopted");
        app.world_mut()
            .entity_mut(replica)
            .insert(ServerArena(Arena::new(2)));
        assert_eq!(*app.world().resource::<Arena>(), Arena::new(2), "changed");
        app.world_mut().despawn(replica);
        assert_eq!(
            *app.world().resource::<Arena>(),
            Arena::default(),
            "back to the default once the server's world is gone"
        );
    }
}
