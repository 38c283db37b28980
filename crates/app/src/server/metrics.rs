//! Prometheus metrics, and the endpoint that serves them with the health check.
//!
//! The server records through the [`metrics`] facade (free when nothing is installed). With
//! [`serve_metrics`] a Prometheus recorder is installed and a small bounded HTTP server
//! ([`super::http`]) answers `GET /metrics` (Prometheus text) and `GET /healthz` (200 while the
//! tick loop runs, 503 once it has stalled for [`STALL_LIMIT`](super::health::STALL_LIMIT)); anything else is 404.
//!
//! Every name carries the game's prefix (its `Game::NAME`: `skirmish_players` for the demo,
//! `gems_players` for Gems). Recorded: `players`, `entities`, `tick_seconds` (histogram),
//! `bytes_{in,out}_total`, `packets_{in,out}_total`, `datagrams_dropped_total`,
//! `renet_violations_total`, `ack_timeouts_total`, `decode_errors_total`,
//! `disconnects_total{reason}`, `snapshots_total`, `refusals_total{reason}` (`version`,
//! `no_hello`, `reserved_id`: a client id the game reserves), `http_rejected_total{reason}`
//! (metrics endpoint connections closed unanswered or refused: `full`, `timeout`,
//! `head_too_large`, `bad_request`), and what the game records itself (the demo:
//! `name_changes_total`).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use metrics_util::layers::{Layer, PrefixLayer};
use skirmish_net::server::{ConnectedClients, ReplicationState, ServerTransport};

use super::health::Heartbeat;
use super::http;

/// Start of the current frame, for the tick duration histogram.
#[derive(Resource, Debug)]
struct FrameStart(Instant);

pub(super) fn plugin(app: &mut App) {
    app.insert_resource(FrameStart(Instant::now()))
        .add_systems(First, start_frame)
        .add_systems(Last, (record_frame, record_traffic));
}

fn start_frame(mut start: ResMut<FrameStart>) {
    start.0 = Instant::now();
}

fn record_frame(
    start: Res<FrameStart>,
    clients: Res<ConnectedClients>,
    replication: Res<ReplicationState>,
) {
    histogram!("tick_seconds").record(start.0.elapsed().as_secs_f64());
    gauge!("players").set(clients.len() as f64);
    // Counted by replication already: no per-frame walk over the entities.
    gauge!("entities").set(replication.len() as f64);
}

fn record_traffic(transport: Option<Res<ServerTransport>>) {
    let Some(transport) = transport else {
        return;
    };
    let traffic = transport.counters();
    counter!("bytes_in_total").absolute(traffic.bytes_received);
    counter!("bytes_out_total").absolute(traffic.bytes_sent);
    counter!("packets_in_total").absolute(traffic.packets_received);
    counter!("packets_out_total").absolute(traffic.packets_sent);
    counter!("datagrams_dropped_total").absolute(transport.dropped_datagrams());
}

/// The longest a rendered `/metrics` body is reused: scrapes in a burst render once.
const RENDER_CACHE: Duration = Duration::from_millis(100);

/// Installs the Prometheus recorder (once per process), every metric named `<prefix>_<name>`,
/// and serves `/metrics` and `/healthz` on `addr` from a background thread, with
/// [`http::Limits::default`] (see [`super::http`]). Returns the bound address (useful with port
/// 0).
pub fn serve_metrics(
    addr: SocketAddr,
    heartbeat: Heartbeat,
    prefix: &str,
) -> Result<SocketAddr, String> {
    serve_metrics_with(addr, heartbeat, prefix, http::Limits::default())
}

/// Like [`serve_metrics`], with other limits on the HTTP peers.
pub fn serve_metrics_with(
    addr: SocketAddr,
    heartbeat: Heartbeat,
    prefix: &str,
    limits: http::Limits,
) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr)
        .map_err(|err| format!("cannot listen for metrics on {addr}: {err}"))?;
    let bound = listener
        .local_addr()
        .map_err(|err| format!("metrics listener on {addr}: {err}"))?;
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("tick_seconds".into()),
            &[
                0.000_05, 0.000_1, 0.000_2, 0.000_3, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002,
                0.003, 0.005, 0.008, 0.016, 0.033, 0.1,
            ],
        )
        .map_err(|err| err.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    // `<prefix>.<name>`, which the exporter writes `<prefix>_<name>`.
    let prefixed = PrefixLayer::new(prefix.to_owned()).layer(recorder);
    metrics::set_global_recorder(prefixed)
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
        "/healthz" => super::health::health(&heartbeat),
        _ => http::Response::text(404, "not found\n"),
    };
    http::spawn("skirmish-metrics", listener, limits, handler).map_err(|err| err.to_string())?;
    Ok(bound)
}
