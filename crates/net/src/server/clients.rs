//! Connected clients as entities. A netcode connection gets an entity with [`AwaitingHello`];
//! once its hello is accepted it becomes a [`ConnectedClient`] with its [`InputBuffer`], its
//! replication state and the [`ClientJoined`] trigger, on which the game spawns what the client
//! plays (linked with [`ControlledBy`], so it goes when the client goes). When the connection
//! ends, [`ClientLeft`] is triggered and the entity despawned.
//!
//! Clients the server sends away hear why first ([`Farewells`]).

use std::time::Duration;

use bevy::platform::collections::HashMap;
use bevy::prelude::*;
use bevy_renet::renet::{ClientId, DisconnectReason, ServerEvent};
use bevy_renet::{RenetServer, RenetServerEvent};
use metrics::counter;

use crate::channels::ServerChannel;
use crate::codec::encode;
use crate::input::{InputBuffer, InputPacing, NetInput};
use crate::protocol::ServerMessage;
use crate::server::ServerSystems;

/// How long a new connection may take to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a goodbye gets to reach its client before the connection is closed.
pub const FAREWELL_GRACE: Duration = Duration::from_millis(200);

/// A netcode connection that has not said hello yet, since `since` (`Time<Real>`).
#[derive(Component, Debug, Clone, Copy)]
pub struct AwaitingHello {
    /// The connection's netcode client id.
    pub client_id: ClientId,
    /// When it connected.
    pub since: Duration,
}

/// A client that said hello and plays.
#[derive(Component, Debug, Clone)]
pub struct ConnectedClient {
    /// Its netcode client id.
    pub client_id: ClientId,
    /// Client tick of its newest input simulated: sent with each snapshot so the client replays
    /// only what the server has not simulated.
    pub last_input: Option<u32>,
    /// Its round-trip time as renet measures it.
    pub rtt: Duration,
    /// What its input buffer measured of its arrivals, and advises its clock.
    pub pacing: InputPacing,
    /// The server tick (fractional) the client was showing when it sampled the input simulated
    /// this tick, if it said: what lag compensation rewinds to.
    pub view: Option<f64>,
}

/// The input this client's entities act on this tick, taken from its [`InputBuffer`] in
/// [`ServerSystems::Inputs`].
#[derive(Component, Debug, Default, Clone, PartialEq, Deref)]
pub struct ClientInput<I: NetInput>(pub I);

/// On a game entity: the client entity that controls it. Despawned with that client.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
#[relationship(relationship_target = Controls)]
pub struct ControlledBy(pub Entity);

/// On a client entity: the game entities it controls.
#[derive(Component, Debug, Default)]
#[relationship_target(relationship = ControlledBy, linked_spawn)]
pub struct Controls(Vec<Entity>);

impl Controls {
    /// The controlled entities.
    pub fn entities(&self) -> &[Entity] {
        &self.0
    }
}

/// Triggered when a client's hello is accepted: the game spawns its player here.
#[derive(Event, Debug, Clone)]
pub struct ClientJoined {
    /// The client entity.
    pub client: Entity,
    /// Its netcode client id.
    pub client_id: ClientId,
    /// The name it asked for, made safe by [`sanitize_name`](super::names::sanitize_name).
    pub name: String,
}

/// Triggered when a client that joined leaves (or is sent away), before its entity and what it
/// controls despawn.
#[derive(Event, Debug, Clone)]
pub struct ClientLeft {
    /// The client entity, still there during the trigger.
    pub client: Entity,
    /// Its netcode client id.
    pub client_id: ClientId,
    /// Why, as renet reports it.
    pub reason: String,
}

/// Every client that said hello and plays: netcode client id to client entity.
#[derive(Resource, Debug, Default, Deref)]
pub struct ConnectedClients(HashMap<ClientId, Entity>);

/// Every netcode connection (joined or awaiting its hello): client id to client entity.
#[derive(Resource, Debug, Default, Deref)]
pub struct ClientEntities(HashMap<ClientId, Entity>);

/// Client ids this server refuses (for example the ids its own bots use), with a reason the
/// client hears.
#[derive(Resource, Debug, Clone, Default)]
pub struct ReservedClientIds(pub Vec<std::ops::Range<ClientId>>);

impl ReservedClientIds {
    /// Whether `client_id` is reserved.
    pub fn contains(&self, client_id: ClientId) -> bool {
        self.0.iter().any(|range| range.contains(&client_id))
    }
}

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
        .init_resource::<ClientEntities>()
        .init_resource::<ReservedClientIds>()
        .init_resource::<Farewells>()
        .add_observer(handle_server_events)
        .add_systems(
            PreUpdate,
            (disconnect_departed, time_out_hellos, measure_round_trips)
                .chain()
                .in_set(ServerSystems::Receive),
        );
}

/// Makes client `client_id` (its entity `client`, awaiting its hello) a player: its components,
/// the welcome, and [`ClientJoined`].
pub(crate) fn admit<I: NetInput>(
    world: &mut World,
    client: Entity,
    client_id: ClientId,
    name: String,
) {
    let Ok(mut entity) = world.get_entity_mut(client) else {
        return;
    };
    entity.remove::<AwaitingHello>().insert((
        Name::new(format!("Client {client_id}")),
        ConnectedClient {
            client_id,
            last_input: None,
            rtt: Duration::ZERO,
            pacing: InputPacing::default(),
            view: None,
        },
        InputBuffer::<I>::default(),
        ClientInput::<I>::default(),
    ));
    let welcome = ServerMessage::Welcome {
        client_id,
        tick_rate: world.resource::<super::TickRate>().0,
        registry_fingerprint: crate::protocol::registry_fingerprint(world),
    };
    world.resource_mut::<RenetServer>().send_message(
        client_id,
        ServerChannel::Reliable,
        encode(&welcome),
    );
    world
        .resource_mut::<ConnectedClients>()
        .0
        .insert(client_id, client);
    let playing = world.resource::<ConnectedClients>().len();
    info!("client {client_id} joined ({playing} playing)");
    world.trigger(ClientJoined {
        client,
        client_id,
        name,
    });
}

fn handle_server_events(
    event: On<RenetServerEvent>,
    mut commands: Commands,
    time: Res<Time<Real>>,
    mut clients: ResMut<ConnectedClients>,
    mut entities: ResMut<ClientEntities>,
) {
    match &**event {
        ServerEvent::ClientConnected { client_id } => {
            let client = commands
                .spawn(AwaitingHello {
                    client_id: *client_id,
                    since: time.elapsed(),
                })
                .id();
            entities.0.insert(*client_id, client);
            debug!("client {client_id} connected; waiting for its hello");
        }
        ServerEvent::ClientDisconnected { client_id, reason } => {
            count_disconnect(reason);
            let Some(client) = entities.0.remove(client_id) else {
                return;
            };
            if clients.0.remove(client_id).is_some() {
                info!(
                    "client {client_id} left: {reason} ({} playing)",
                    clients.len()
                );
                commands.trigger(ClientLeft {
                    client,
                    client_id: *client_id,
                    reason: reason.to_string(),
                });
            }
            commands.entity(client).try_despawn();
        }
    }
}

/// Counts a disconnect under a short, bounded reason label.
fn count_disconnect(reason: &DisconnectReason) {
    let label = match reason {
        DisconnectReason::DisconnectedByClient => "client_left",
        DisconnectReason::DisconnectedByServer => "kicked",
        DisconnectReason::Transport => "timeout_or_transport",
        _ => "protocol_error",
    };
    counter!("disconnects_total", "reason" => label).increment(1);
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
    awaiting: Query<&AwaitingHello>,
    mut farewells: ResMut<Farewells>,
    mut server: ResMut<RenetServer>,
) {
    let now = time.elapsed();
    for hello in &awaiting {
        if now.saturating_sub(hello.since) > HELLO_TIMEOUT && !farewells.contains(hello.client_id) {
            warn!("client {} never said hello; disconnecting", hello.client_id);
            farewells.send(&mut server, hello.client_id, "no hello from your game", now);
        }
    }
}

fn measure_round_trips(server: Res<RenetServer>, mut clients: Query<&mut ConnectedClient>) {
    for mut client in &mut clients {
        let rtt = Duration::from_secs_f64(server.rtt(client.client_id).clamp(0.0, 60.0));
        client.bypass_change_detection().rtt = rtt;
    }
}

/// Feeds one buffered input per client into its [`ClientInput`].
pub(super) fn take_inputs<I: NetInput>(
    mut clients: Query<(
        &mut ConnectedClient,
        &mut InputBuffer<I>,
        &mut ClientInput<I>,
    )>,
) {
    for (mut client, mut buffer, mut input) in &mut clients {
        let frame = buffer.pop();
        client.last_input = buffer.last_consumed();
        client.pacing = buffer.pacing();
        client.view = buffer.last_view();
        if input.0 != frame {
            input.0 = frame;
        }
    }
}
