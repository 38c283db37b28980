//! Graceful shutdown: on a [`ShutdownRequest`] (a signal, Agones, a test) every client is told
//! [`SHUTDOWN_REASON`], the goodbyes get a moment, every connection closes and the app exits with
//! success.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_renet::RenetServer;
use skirmish_net::server::{Farewells, ServerSystems, ServerTransport};

/// The reason every client hears when the server stops.
pub const SHUTDOWN_REASON: &str = "server shutting down";

/// The longest a graceful shutdown waits for goodbyes before closing every connection.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ShutdownRequest>()
        .add_systems(PreUpdate, shut_down.in_set(ServerSystems::Receive));
}

/// Set from anywhere (a signal handler, Agones, a test) to stop the server gracefully: every
/// client is told [`SHUTDOWN_REASON`], connections close, and the app exits with success.
#[derive(Resource, Debug, Clone, Default)]
pub struct ShutdownRequest(pub Arc<AtomicBool>);

impl ShutdownRequest {
    /// Asks the server to stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Signals closer together than this are one signal delivered twice (`timeout` and some
/// supervisors signal the process and its group at once), not an operator insisting.
const DUPLICATE_SIGNAL_WINDOW: Duration = Duration::from_millis(500);

/// Whether a signal at `now`, after the first one at `first`, is a second one: it skips the drain.
fn is_second_signal(first: Instant, now: Instant) -> bool {
    now.duration_since(first) >= DUPLICATE_SIGNAL_WINDOW
}

/// Makes SIGINT and SIGTERM (Ctrl-C on Windows) request `shutdown`: the server drains and exits
/// with success. A second signal well after the first exits at once, with status 130. Call it
/// once per process, before the socket opens, so that every signal from then on is graceful.
pub fn shut_down_on_signals(shutdown: &ShutdownRequest) -> Result<(), ctrlc::Error> {
    let on_signal = shutdown.clone();
    let first_signal = OnceLock::new();
    ctrlc::set_handler(move || {
        let first = *first_signal.get_or_init(Instant::now);
        if is_second_signal(first, Instant::now()) {
            // A second signal, well after the first: the operator means it.
            std::process::exit(130);
        }
        on_signal.request();
    })
}

/// When the graceful shutdown began, once it has.
#[derive(Resource, Debug)]
struct ShuttingDown(Duration);

/// On a [`ShutdownRequest`]: tell every client why, give the goodbyes a moment, close every
/// connection and exit with success.
fn shut_down(world: &mut World) {
    let now = world.resource::<Time<Real>>().elapsed();
    let since = match world.get_resource::<ShuttingDown>() {
        Some(shutting) => shutting.0,
        None => {
            if !world.resource::<ShutdownRequest>().is_requested() {
                return;
            }
            info!("shutting down: telling every client");
            world.insert_resource(ShuttingDown(now));
            world.resource_scope(|world, mut server: Mut<RenetServer>| {
                let mut farewells = world.resource_mut::<Farewells>();
                for client_id in server.clients_id() {
                    farewells.send(&mut server, client_id, SHUTDOWN_REASON, now);
                }
            });
            now
        }
    };
    if world.resource::<Farewells>().is_empty() || now.saturating_sub(since) > SHUTDOWN_GRACE {
        world.resource_scope(|world, mut server: Mut<RenetServer>| {
            if let Some(mut transport) = world.get_resource_mut::<ServerTransport>() {
                transport.disconnect_all(&mut server);
            }
        });
        info!("shut down");
        world.write_message(AppExit::Success);
    }
}

#[cfg(test)]
mod signal_tests {
    use super::*;

    #[test]
    fn a_duplicate_delivery_is_not_a_second_signal() {
        let first = Instant::now();
        assert!(!is_second_signal(first, first), "the first signal itself");
        assert!(
            !is_second_signal(first, first + Duration::from_millis(5)),
            "to process and group"
        );
        assert!(
            is_second_signal(first, first + Duration::from_secs(1)),
            "an operator insisting"
        );
    }
}
