//! Who plays: a player entity for every client that joins (spawned by an observer on
//! [`ClientJoined`], controlled by the client entity so it leaves with it), each tick's input fed
//! to it, names, pings and the kill feed.

use std::time::Duration;

use bevy::prelude::*;
use skirmish_net::log_limit::LogLimiter;
use skirmish_net::messages::{FromClient, SendTo, ToClients};
use skirmish_net::server::interest::{AppInterestExt, InterestSettings};
use skirmish_net::server::names::{sanitize_name, unique_name};
use skirmish_net::server::{
    ClientInput, ClientJoined, ConnectedClient, ConnectedClients, ControlledBy, Controls,
    ReservedClientIds, ServerSystems,
};
use skirmish_shared::game::Killed;
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::SetName;

use crate::bots::BOT_IDS;
use crate::combat::{SlotCounter, Weapon, spawn_point};

pub(super) fn plugin(app: &mut App) {
    app.insert_resource(ReservedClientIds(vec![BOT_IDS]))
        // Each client gets what is within 1200 units of its player (a window shows about 730
        // from its centre to a corner), kept until 150 further.
        .spatial_interest::<Position>(InterestSettings {
            radius: 1200.0,
            hysteresis: 150.0,
            cell: 600.0,
        })
        .add_observer(spawn_player)
        .add_systems(
            FixedUpdate,
            feed_inputs
                .in_set(SimulationSystems::Input)
                .after(ServerSystems::Inputs),
        )
        .add_systems(PreUpdate, rename_players.after(ServerSystems::Receive))
        .add_systems(
            PostUpdate,
            (broadcast_kills, update_pings).before(ServerSystems::Send),
        );
}

/// The player of a client that joined.
fn spawn_player(
    joined: On<ClientJoined>,
    mut commands: Commands,
    mut slots: ResMut<SlotCounter>,
    arena: Res<Arena>,
    names: Query<&PlayerName>,
) {
    let client_id = joined.client_id;
    let name = unique_name(joined.name.clone(), |name| {
        names.iter().any(|taken| taken.0 == name)
    });
    commands.spawn((
        Name::new(format!("Player {client_id}")),
        Replicated,
        Player { client_id },
        PlayerName(name),
        Position(spawn_point(&arena, client_id, 0)),
        slots.take(),
        Weapon::default(),
        ControlledBy(joined.client),
    ));
}

/// The player entity of client `client_id`, if it plays.
pub fn player_of(world: &World, client_id: u64) -> Option<Entity> {
    let client = *world.resource::<ConnectedClients>().get(&client_id)?;
    world.get::<Controls>(client)?.entities().first().copied()
}

/// Feeds each client's input for this tick to the player it controls.
fn feed_inputs(
    clients: Query<&ClientInput<InputFrame>>,
    mut players: Query<(&ControlledBy, &mut PlayerInput)>,
) {
    for (controlled_by, mut input) in &mut players {
        if let Ok(client_input) = clients.get(controlled_by.0)
            && input.0 != client_input.0
        {
            input.0 = client_input.0;
        }
    }
}

/// Least time between two renames of one client: a rename rewrites the roster every client
/// receives, so a client alternating two names every tick would otherwise make the server send
/// the whole roster to everyone every tick.
pub const RENAME_COOLDOWN: Duration = Duration::from_secs(2);

/// A client's last rename, on its client entity: when it took effect, and the newest name asked
/// for since (applied once the cooldown passes; each request replaces the one before, so a
/// client holds at most one).
#[derive(Component, Debug, Default)]
pub struct RenameCooldown {
    last: Option<Duration>,
    pending: Option<String>,
}

/// Applies [`SetName`], at most once per [`RENAME_COOLDOWN`] a client (the newest request wins)
/// and only when the name really differs; renames are counted, and logged sparingly.
fn rename_players(
    time: Res<Time<Real>>,
    mut renames: MessageReader<FromClient<SetName>>,
    mut clients: Query<(Entity, &Controls, Option<&mut RenameCooldown>)>,
    mut names: Query<(Entity, &mut PlayerName)>,
    mut commands: Commands,
    mut log: Local<LogLimiter>,
) {
    for rename in renames.read() {
        metrics::counter!("name_changes_total").increment(1);
        let name = sanitize_name(&rename.message.0);
        if let Some(suppressed) = log.record() {
            let held_back = if suppressed == 0 {
                String::new()
            } else {
                format!(
                    " ({suppressed} more not logged in the last {} s)",
                    log.interval().as_secs()
                )
            };
            info!(
                "client {} asks to be called {name:?}{held_back}",
                rename.client_id
            );
        }
        match clients.get_mut(rename.client) {
            Ok((_, _, Some(mut cooldown))) => cooldown.pending = Some(name),
            Ok((client, _, None)) => {
                commands.entity(client).try_insert(RenameCooldown {
                    last: None,
                    pending: Some(name),
                });
            }
            Err(_) => {}
        }
    }
    let now = time.elapsed();
    for (_, controls, cooldown) in &mut clients {
        let Some(mut cooldown) = cooldown else {
            continue;
        };
        let ready = cooldown
            .last
            .is_none_or(|last| now.saturating_sub(last) >= RENAME_COOLDOWN);
        if !ready || cooldown.pending.is_none() {
            continue;
        }
        let Some(name) = cooldown.pending.take() else {
            continue;
        };
        let mut renamed = false;
        for &player in controls.entities() {
            let Ok((_, current)) = names.get(player) else {
                continue;
            };
            if current.0 == name {
                continue;
            }
            let name = unique_name(name.clone(), |candidate| {
                names
                    .iter()
                    .any(|(other, taken)| other != player && taken.0 == candidate)
            });
            if let Ok((_, mut current)) = names.get_mut(player)
                && current.0 != name
            {
                current.0 = name;
                renamed = true;
            }
        }
        // An unchanged name costs nothing, not even the cooldown.
        if renamed {
            cooldown.last = Some(now);
        }
    }
}

/// Tells every client about each kill (for the kill feed).
fn broadcast_kills(
    mut killed: MessageReader<Killed>,
    mut to_clients: MessageWriter<ToClients<Killed>>,
) {
    for kill in killed.read() {
        to_clients.write(ToClients {
            to: SendTo::All,
            message: *kill,
        });
    }
}

/// Once a second, publishes each client's round-trip time on its player for the scoreboard.
fn update_pings(
    time: Res<Time<Real>>,
    mut since: Local<f32>,
    clients: Query<(&ConnectedClient, &Controls)>,
    mut pings: Query<&mut Ping>,
) {
    *since += time.delta_secs();
    if *since < 1.0 {
        return;
    }
    *since = 0.0;
    for (client, controls) in &clients {
        let rtt = client.rtt.as_millis().min(9999) as u16;
        for &player in controls.entities() {
            if let Ok(mut ping) = pings.get_mut(player)
                // Small wobbles are not worth replicating to everyone.
                && rtt.abs_diff(ping.0) >= 5
            {
                ping.0 = rtt;
            }
        }
    }
}
