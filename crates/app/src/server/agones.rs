//! Agones integration (cargo feature `agones`): when the server runs in an Agones `GameServer`
//! pod, learn the address clients dial from the `GameServer` status, tell the sidecar it is Ready,
//! ping its health while the tick loop runs, and call Shutdown when the server drains (SIGTERM,
//! or [`ShutdownRequest`] from anywhere).
//!
//! Agones then owns scaling: a `Fleet` keeps Ready servers warm, an allocator hands one to a
//! match, and a `FleetAutoscaler` grows the fleet (see `deploy/agones/`).

use std::net::SocketAddr;
use std::time::Duration;

use bevy::prelude::*;

use super::health::Heartbeat;
use super::shutdown::ShutdownRequest;

/// How often a healthy server pings Agones (the Fleet's `health.periodSeconds` is 5).
const HEALTH_PERIOD: Duration = Duration::from_secs(2);

/// How long to wait for the `GameServer` to get its node address.
const ADDRESS_WAIT: Duration = Duration::from_secs(30);

/// A connection to the Agones SDK sidecar, before Ready.
pub struct Agones {
    runtime: tokio::runtime::Runtime,
    sdk: agones::Sdk,
}

impl Agones {
    /// Connects to the sidecar (port from `AGONES_SDK_GRPC_PORT`).
    pub fn connect() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| format!("cannot start the Agones runtime: {err}"))?;
        let sdk = runtime
            .block_on(agones::Sdk::new(None, Some(Duration::from_secs(30))))
            .map_err(|err| format!("cannot reach the Agones SDK sidecar: {err}"))?;
        Ok(Self { runtime, sdk })
    }

    /// The address clients dial: the node's address and the host port Agones allocated for the
    /// first port of the `GameServer` (the `game` port of `deploy/agones/fleet.yaml`).
    pub fn public_address(&mut self) -> Result<SocketAddr, String> {
        let sdk = &mut self.sdk;
        self.runtime.block_on(async {
            let start = tokio::time::Instant::now();
            loop {
                let gameserver = sdk
                    .get_gameserver()
                    .await
                    .map_err(|err| format!("cannot read the GameServer: {err}"))?;
                let status = gameserver.status.unwrap_or_default();
                if let Some(port) = status.ports.first()
                    && !status.address.is_empty()
                {
                    let ip = status.address.parse().map_err(|_| {
                        format!("the GameServer address {:?} is not an IP", status.address)
                    })?;
                    let port = u16::try_from(port.port)
                        .map_err(|_| format!("the GameServer port {} is invalid", port.port))?;
                    return Ok(SocketAddr::new(ip, port));
                }
                if start.elapsed() > ADDRESS_WAIT {
                    return Err("the GameServer got no address and port".into());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    }

    /// Reports Ready, then pings health while `heartbeat` is healthy and calls Shutdown once
    /// `shutdown` is requested, from a background thread.
    pub fn report(self, heartbeat: Heartbeat, shutdown: ShutdownRequest) -> Result<(), String> {
        let Self { runtime, mut sdk } = self;
        runtime
            .block_on(sdk.ready())
            .map_err(|err| format!("Agones refused Ready: {err}"))?;
        info!("Agones: Ready");
        std::thread::Builder::new()
            .name("skirmish-agones".into())
            .spawn(move || runtime.block_on(keep_reporting(sdk, heartbeat, shutdown)))
            .map_err(|err| err.to_string())?;
        Ok(())
    }
}

async fn keep_reporting(mut sdk: agones::Sdk, heartbeat: Heartbeat, shutdown: ShutdownRequest) {
    let health = sdk.health_check();
    let mut ticker = tokio::time::interval(HEALTH_PERIOD);
    while !shutdown.is_requested() {
        ticker.tick().await;
        // A stalled tick loop stops the pings, and Agones marks the server Unhealthy.
        if heartbeat.is_healthy() && health.send(()).await.is_err() {
            warn!("Agones: the health stream closed");
        }
    }
    match sdk.shutdown().await {
        Ok(()) => info!("Agones: Shutdown"),
        Err(err) => warn!("Agones: Shutdown failed: {err}"),
    }
}
