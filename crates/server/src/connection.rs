//! Client connections: a client that connects must say [`ClientMessage::Hello`] with our protocol
//! version; then it gets a player entity, removed when it leaves. Clients the server sends away
//! hear why first ([`Farewells`]).

use std::time::Duration;

use bevy::platform::collections::HashMap;
use bevy::prelude::*;
use bevy_renet::renet::{ClientId, ServerEvent};
use bevy_renet::{RenetServer, RenetServerEvent};
use skirmish_shared::game::Killed;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::encode;

use crate::TickRate;
use crate::game::{SlotCounter, Weapon, spawn_point};
use crate::input::InputBuffer;
use crate::replication::{ClientReplication, ReplicationFootprint};

/// Server-side state of one connected client.
#[derive(Debug)]
pub struct ClientInfo {
    /// The player entity this client controls.
    pub player: Entity,
    /// Inputs received and not yet simulated.
    pub inputs: InputBuffer,
    /// What this client has acknowledged and still needs.
    pub(crate) replication: ClientReplication,
}

impl ClientInfo {
    /// What the server stores to replicate to this client; cheap. Bounded whatever the client
    /// acknowledges: despawns by what despawned within [`AckTimeout`](crate::AckTimeout) (a
    /// client silent for longer is sent away), snapshots in flight by
    /// [`IN_FLIGHT_SNAPSHOTS`](crate::IN_FLIGHT_SNAPSHOTS), their entities by that times the
    /// replicated entities.
    pub fn replication_footprint(&self) -> ReplicationFootprint {
        self.replication.footprint()
    }
}

/// Every client that said hello and plays, by netcode client id.
#[derive(Resource, Debug, Default, Deref, DerefMut)]
pub struct ConnectedClients(pub HashMap<ClientId, ClientInfo>);

/// Clients connected at the netcode level that have not said hello yet, with the (real) time
/// they connected. Sent away after [`HELLO_TIMEOUT`].
#[derive(Resource, Debug, Default, Deref, DerefMut)]
pub struct AwaitingHello(pub HashMap<ClientId, Duration>);

/// How long a new connection may take to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a goodbye gets to reach its client before the connection is closed.
pub const FAREWELL_GRACE: Duration = Duration::from_millis(200);

/// Clients being sent away: each was sent [`ServerMessage::Goodbye`] and is disconnected once
/// [`FAREWELL_GRACE`] has passed (so the reason arrives before the netcode disconnect).
#[derive(Resource, Debug, Default)]
pub struct Farewells(Vec<(ClientId, Duration)>);

impl Farewells {
    /// Tells `client_id` why it is being disconnected, and disconnects it shortly after. `now`
    /// is `Time<Real>::elapsed()`.
    pub fn send(
        &mut self,
        server: &mut RenetServer,
        client_id: ClientId,
        reason: &str,
        now: Duration,
    ) {
        if self.contains(client_id) || !server.is_connected(client_id) {
            return;
        }
        let goodbye = ServerMessage::Goodbye {
            reason: reason.to_owned(),
        };
        server.send_message(client_id, ServerChannel::Reliable, encode(&goodbye));
        self.0.push((client_id, now + FAREWELL_GRACE));
    }

    /// Whether `client_id` is being sent away (its messages are no longer read).
    pub fn contains(&self, client_id: ClientId) -> bool {
        self.0.iter().any(|(id, _)| *id == client_id)
    }

    /// Whether nobody is waiting to be disconnected.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ConnectedClients>()
        .init_resource::<AwaitingHello>()
        .init_resource::<Farewells>()
        .add_observer(handle_server_events)
        .add_systems(
            PreUpdate,
            (disconnect_departed, time_out_hellos)
                .chain()
                .in_set(crate::ServerSystems::Receive),
        )
        .add_systems(
            PostUpdate,
            (broadcast_kills, update_pings).in_set(crate::ServerSystems::Send),
        );
}

/// Closes the connections whose goodbye had its time.
fn disconnect_departed(
    time: Res<Time<Real>>,
    mut farewells: ResMut<Farewells>,
    mut server: ResMut<RenetServer>,
) {
    let now = time.elapsed();
    farewells.0.retain(|(client_id, at)| {
        if *at > now && server.is_connected(*client_id) {
            return true;
        }
        server.disconnect(*client_id);
        false
    });
}

/// Sends away connections that never said hello.
fn time_out_hellos(
    time: Res<Time<Real>>,
    awaiting: Res<AwaitingHello>,
    mut farewells: ResMut<Farewells>,
    mut server: ResMut<RenetServer>,
) {
    let now = time.elapsed();
    for (client_id, since) in awaiting.iter() {
        if now.saturating_sub(*since) > HELLO_TIMEOUT && !farewells.contains(*client_id) {
            warn!("client {client_id} never said hello; disconnecting");
            farewells.send(&mut server, *client_id, "no hello from your game", now);
        }
    }
}

/// Admits a client that said hello with our protocol version: spawns its player and welcomes it.
pub(crate) fn admit(world: &mut World, client_id: ClientId, name: String) {
    world.resource_mut::<AwaitingHello>().remove(&client_id);
    let slot = world.resource_mut::<SlotCounter>().take();
    let player = world
        .spawn((
            Name::new(format!("Player {client_id}")),
            Replicated,
            Player { client_id },
            PlayerName(name),
            Position(spawn_point(client_id, 0)),
            slot,
            Weapon::default(),
        ))
        .id();
    let welcome = ServerMessage::Welcome {
        client_id,
        tick_rate: world.resource::<TickRate>().0,
        registry_fingerprint: world.resource::<ReplicationRegistry>().fingerprint(),
    };
    world.resource_mut::<RenetServer>().send_message(
        client_id,
        ServerChannel::Reliable,
        encode(&welcome),
    );
    let mut clients = world.resource_mut::<ConnectedClients>();
    clients.insert(
        client_id,
        ClientInfo {
            player,
            inputs: InputBuffer::default(),
            replication: ClientReplication::default(),
        },
    );
    info!("client {client_id} joined ({} playing)", clients.len());
}

fn handle_server_events(
    event: On<RenetServerEvent>,
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut clients: ResMut<ConnectedClients>,
    mut awaiting: ResMut<AwaitingHello>,
) {
    match &**event {
        ServerEvent::ClientConnected { client_id } => {
            awaiting.insert(*client_id, time.elapsed());
            debug!("client {client_id} connected; waiting for its hello");
        }
        ServerEvent::ClientDisconnected { client_id, reason } => {
            awaiting.remove(client_id);
            crate::metrics::count_disconnect(reason);
            if let Some(info) = clients.remove(client_id) {
                commands.entity(info.player).try_despawn();
                info!(
                    "client {client_id} left: {reason} ({} playing)",
                    clients.len()
                );
            }
        }
    }
}

/// Tells every client about each kill (for the kill feed), reliably.
fn broadcast_kills(mut killed: MessageReader<Killed>, mut server: ResMut<RenetServer>) {
    for kill in killed.read() {
        let message = ServerMessage::Kill {
            killer: kill.killer,
            victim: kill.victim,
        };
        server.broadcast_message(ServerChannel::Reliable, encode(&message));
    }
}

/// Once a second, publishes each client's round-trip time on its player for the scoreboard.
fn update_pings(
    time: Res<Time<Real>>,
    mut since: Local<f32>,
    server: Res<RenetServer>,
    clients: Res<ConnectedClients>,
    mut pings: Query<&mut Ping>,
) {
    *since += time.delta_secs();
    if *since < 1.0 {
        return;
    }
    *since = 0.0;
    for (client_id, info) in clients.iter() {
        if let Ok(mut ping) = pings.get_mut(info.player) {
            let rtt = (server.rtt(*client_id) * 1000.0).round().clamp(0.0, 9999.0) as u16;
            // Small wobbles are not worth replicating to everyone.
            if rtt.abs_diff(ping.0) >= 5 {
                ping.0 = rtt;
            }
        }
    }
}
