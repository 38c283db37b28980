//! Health: a heartbeat the tick loop beats every frame, read by `/healthz` (see
//! [`super::metrics`]), the `healthcheck` mode and Agones.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bevy::prelude::*;

use super::http;

/// `/healthz` fails once no tick has completed for this long.
pub const STALL_LIMIT: Duration = Duration::from_secs(2);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Heartbeat>().add_systems(Last, beat);
}

/// When the tick loop last completed a frame, shared with the HTTP thread (and Agones).
#[derive(Resource, Debug, Clone)]
pub struct Heartbeat {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Heartbeat {
    pub(crate) fn beat(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the tick loop last completed a frame.
    pub fn since_last_tick(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Whether the tick loop completed a frame within [`STALL_LIMIT`].
    pub fn is_healthy(&self) -> bool {
        self.since_last_tick() < STALL_LIMIT
    }
}

fn beat(heartbeat: Res<Heartbeat>) {
    heartbeat.beat();
}

/// `/healthz`: 200 while the tick loop runs, 503 once it stalled.
pub(crate) fn health(heartbeat: &Heartbeat) -> http::Response {
    if heartbeat.is_healthy() {
        http::Response::text(200, "ok\n")
    } else {
        http::Response::text(
            503,
            format!(
                "tick loop stalled for {:.1} s\n",
                heartbeat.since_last_tick().as_secs_f32()
            ),
        )
    }
}
