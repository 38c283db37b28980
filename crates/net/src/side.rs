//! Which end of the connection an app is, so that the protocol a game registers once, in its
//! shared plugin, takes effect on each side in that side's own way: the input type's systems,
//! a component's prediction (client) or interest (server).
//!
//! A side plugin ([`NetServerPlugin`](crate::server::NetServerPlugin),
//! [`NetClientPlugin`](crate::client::NetClientPlugin)) marks its app with [`Side`]; a
//! registration made before it runs once the side is known, one made after runs at once.

use bevy::prelude::*;

use crate::registry::ReplicationRegistry;

/// The end of the connection this app is.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The authoritative server.
    Server,
    /// A client.
    Client,
}

/// Runs `server` on a server app or `client` on a client app: now if the side is known, else
/// when its side plugin is built.
pub(crate) fn on_side(app: &mut App, server: fn(&mut App), client: fn(&mut App)) {
    match app.world().get_resource::<Side>().copied() {
        Some(Side::Server) => server(app),
        Some(Side::Client) => client(app),
        // Kept with the rest of the game's registrations (no resource of their own: a bare
        // registry world, as the benchmarks build, stays as it was).
        None => app
            .world_mut()
            .get_resource_or_init::<ReplicationRegistry>()
            .pending_sides
            .push((server, client)),
    }
}

/// Marks `app` as `side` (a side plugin calls it first in its build).
pub(crate) fn enter_side(app: &mut App, side: Side) {
    app.insert_resource(side);
}

/// Runs the registrations that waited for the side (a side plugin calls it last in its build).
pub(crate) fn run_pending(app: &mut App) {
    let Some(side) = app.world().get_resource::<Side>().copied() else {
        return;
    };
    let Some(mut registry) = app.world_mut().get_resource_mut::<ReplicationRegistry>() else {
        return;
    };
    let pending = std::mem::take(&mut registry.pending_sides);
    for (server, client) in pending {
        match side {
            Side::Server => server(app),
            Side::Client => client(app),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Resource, Debug, PartialEq, Eq)]
    struct Ran(Vec<Side>);

    fn ran(app: &mut App, side: Side) {
        app.world_mut()
            .get_resource_or_insert_with(|| Ran(Vec::new()))
            .0
            .push(side);
    }

    fn on_server(app: &mut App) {
        ran(app, Side::Server);
    }

    fn on_client(app: &mut App) {
        ran(app, Side::Client);
    }

    #[test]
    fn a_registration_runs_once_on_its_side_whether_it_comes_before_or_after_it() {
        for side in [Side::Server, Side::Client] {
            // Registered before the side plugin: waits for it.
            let mut before = App::new();
            on_side(&mut before, on_server, on_client);
            assert!(!before.world().contains_resource::<Ran>(), "no side yet");
            enter_side(&mut before, side);
            run_pending(&mut before);
            run_pending(&mut before);
            assert_eq!(before.world().resource::<Ran>(), &Ran(vec![side]));

            // Registered after it: at once.
            let mut after = App::new();
            enter_side(&mut after, side);
            run_pending(&mut after);
            on_side(&mut after, on_server, on_client);
            assert_eq!(after.world().resource::<Ran>(), &Ran(vec![side]));
        }
    }
}
