//! Operations: Prometheus metrics, a health endpoint, and graceful shutdown.
//!
//! The server records through the [`metrics`] facade (free when nothing is installed). With
//! [`serve_metrics`] a Prometheus recorder is installed and a small bounded HTTP server
//! ([`crate::http`]) answers `GET /metrics` (Prometheus text) and `GET /healthz` (200 while the
//! tick loop runs, 503 once it has stalled for [`STALL_LIMIT`]); anything else is 404.
//!
//! Recorded: `skirmish_players`, `skirmish_entities`, `skirmish_tick_seconds` (histogram),
//! `skirmish_bytes_{in,out}_total`, `skirmish_packets_{in,out}_total`,
//! `skirmish_datagrams_dropped_total`, `skirmish_renet_violations_total`,
//! `skirmish_ack_timeouts_total`, `skirmish_decode_errors_total`,
//! `skirmish_disconnects_total{reason}`, `skirmish_snapshots_total`,
//! `skirmish_name_changes_total`, `skirmish_refusals_total{reason}` (`version`, `no_hello`,
//! `reserved_id`: a client id of the bots),
//! `skirmish_http_rejected_total{reason}` (metrics endpoint connections closed unanswered or
//! refused: `full`, `timeout`, `head_too_large`, `bad_request`).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_renet::RenetServer;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

use crate::http;
use skirmish_net::server::{ConnectedClients, Farewells, ReplicationState, ServerTransport};

/// `/healthz` fails once no tick has completed for this long.
pub const STALL_LIMIT: Duration = Duration::from_secs(2);

/// The reason every client hears when the server stops.
pub const SHUTDOWN_REASON: &str = "server shutting down";

/// The longest a graceful shutdown waits for goodbyes before closing every connection.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

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
    fn beat(&self) {
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

/// Start of the current frame, for the tick duration histogram.
#[derive(Resource, Debug)]
struct FrameStart(Instant);

/// When the graceful shutdown began, once it has.
#[derive(Resource, Debug)]
struct ShuttingDown(Duration);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Heartbeat>()
        .init_resource::<ShutdownRequest>()
        .insert_resource(FrameStart(Instant::now()))
        .add_systems(First, start_frame)
        .add_systems(PreUpdate, shut_down.in_set(crate::ServerSystems::Receive))
        .add_systems(Last, (record_frame, record_traffic));
}

fn start_frame(mut start: ResMut<FrameStart>) {
    start.0 = Instant::now();
}

fn record_frame(
    start: Res<FrameStart>,
    heartbeat: Res<Heartbeat>,
    clients: Res<ConnectedClients>,
    replication: Res<ReplicationState>,
) {
    histogram!("skirmish_tick_seconds").record(start.0.elapsed().as_secs_f64());
    gauge!("skirmish_players").set(clients.len() as f64);
    // Counted by replication already: no per-frame walk over the entities.
    gauge!("skirmish_entities").set(replication.len() as f64);
    heartbeat.beat();
}

fn record_traffic(transport: Option<Res<ServerTransport>>) {
    let Some(transport) = transport else {
        return;
    };
    let traffic = transport.counters();
    counter!("skirmish_bytes_in_total").absolute(traffic.bytes_received);
    counter!("skirmish_bytes_out_total").absolute(traffic.bytes_sent);
    counter!("skirmish_packets_in_total").absolute(traffic.packets_received);
    counter!("skirmish_packets_out_total").absolute(traffic.packets_sent);
    counter!("skirmish_datagrams_dropped_total").absolute(transport.dropped_datagrams());
}

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

/// The longest a rendered `/metrics` body is reused: scrapes in a burst render once.
const RENDER_CACHE: Duration = Duration::from_millis(100);

/// Installs the Prometheus recorder (once per process) and serves `/metrics` and `/healthz` on
/// `addr` from a background thread, with [`http::Limits::default`] (see [`crate::http`]).
/// Returns the bound address (useful with port 0).
pub fn serve_metrics(addr: SocketAddr, heartbeat: Heartbeat) -> Result<SocketAddr, String> {
    serve_metrics_with(addr, heartbeat, http::Limits::default())
}

/// Like [`serve_metrics`], with other limits on the HTTP peers.
pub fn serve_metrics_with(
    addr: SocketAddr,
    heartbeat: Heartbeat,
    limits: http::Limits,
) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr)
        .map_err(|err| format!("cannot listen for metrics on {addr}: {err}"))?;
    let bound = listener
        .local_addr()
        .map_err(|err| format!("metrics listener on {addr}: {err}"))?;
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("skirmish_tick_seconds".into()),
            &[
                0.000_05, 0.000_1, 0.000_2, 0.000_3, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002,
                0.003, 0.005, 0.008, 0.016, 0.033, 0.1,
            ],
        )
        .map_err(|err| err.to_string())?
        .install_recorder()
        .map_err(|err| format!("cannot install the metrics recorder: {err}"))?;
    let mut cached: Option<(Instant, Arc<[u8]>)> = None;
    let handler = move |path: &str| match path {
        "/metrics" => {
            let body = match &cached {
                Some((at, body)) if at.elapsed() < RENDER_CACHE => body.clone(),
                _ => {
                    handle.run_upkeep();
                    let body: Arc<[u8]> = handle.render().into_bytes().into();
                    cached = Some((Instant::now(), body.clone()));
                    body
                }
            };
            http::Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body,
            }
        }
        "/healthz" => health(&heartbeat),
        _ => http::Response::text(404, "not found\n"),
    };
    http::spawn("skirmish-metrics", listener, limits, handler).map_err(|err| err.to_string())?;
    Ok(bound)
}

/// `/healthz`: 200 while the tick loop runs, 503 once it stalled.
fn health(heartbeat: &Heartbeat) -> http::Response {
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
