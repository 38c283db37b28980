//! The client half of the netcode: add [`NetClientPlugin`] (with the game's input type) to any
//! app, windowed or `MinimalPlugins`, then [`connect`].
//!
//! - [`transport`]: our netcode layer on the UDP socket, feeding renet, every packet guarded;
//! - `session`: what the client knows of its connection ([`ClientSession`], and
//!   [`ConnectionStatus`], its one state, with its reason when it ended);
//! - `connect`: starting a connection ([`connect`], [`connect_with_token`]);
//! - `receive`: the hello, then the server's messages and snapshots; `outgoing`: the game's
//!   messages to the server; `lifecycle`: timeouts, the end of a connection and its reason;
//!   `pacing`: the clock the server advises;
//! - [`replica`]: snapshots applied to local entities ([`ServerEntityMap`]);
//! - [`input`]: the local input sampled and sent every tick ([`LocalInput`]);
//! - [`prediction`] and [`interpolation`]: any registered component predicted (the entities this
//!   client controls) or interpolated (everything else), see [`AppPredictionExt`];
//! - [`Shown`]: what to draw of a component, predicted, interpolated or as received;
//! - [`spawns`]: entities the client spawns at once, matched to the server's when they arrive;
//! - [`stats`]: what the client measures about its connection ([`NetStats`]).

mod connect;
pub mod input;
pub mod interpolation;
mod lifecycle;
mod outgoing;
mod pacing;
pub mod prediction;
mod receive;
pub mod replica;
mod session;
mod shown;
pub mod spawns;
pub mod stats;
pub mod transport;

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy_renet::{RenetClient, RenetClientPlugin, RenetReceive, RenetSend};

use crate::input::NetInput;
use crate::messages::MessageRegistry;
use crate::registry::ReplicationRegistry;
use crate::tick::{DEFAULT_TICK_RATE, SimulationSystems, TickPlugin};

#[cfg(feature = "test-utils")]
pub(crate) use connect::connect_unsecure_on;
pub use connect::{
    ConnectError, connect, connect_on, connect_with, connect_with_token, connect_with_token_on,
};
pub use input::{InputHistory, LocalInput};
pub use interpolation::{Interpolated, InterpolationClock, InterpolationSettings};
pub use lifecycle::{describe_disconnect, disconnect};
pub use prediction::{
    AppPredictionExt, Blend, Predicted, PredictedInput, PredictionSettings, PredictionStep,
};
pub use receive::{SnapshotApplied, apply_server_messages};
pub use replica::{
    ControlledIds, DEFAULT_MAX_REPLICAS, MAX_CONTROLLED, ReplicaLimits, ServerEntityMap,
};
pub use session::{
    AnnouncedVersion, ClientSession, ConnectTimeout, ConnectionStatus, Controlled, connected,
};
pub use shown::Shown;
pub use spawns::{PredictedSpawn, SpawnKey, SpawnMatched, SpawnRefused};
pub use stats::NetStats;
pub use transport::ClientTransport;

/// Ordering of the client's network systems. Configured by [`NetClientPlugin`].
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientSystems {
    /// `PreUpdate`, after renet received packets: decode and apply server messages.
    Receive,
    /// `PreUpdate`, after `Receive`: predictions restart from the newest snapshot. Game systems
    /// that react to what a snapshot brought (marking the entity this client controls) run
    /// between the two.
    Reconcile,
    /// `FixedUpdate`, in [`SimulationSystems::Input`]: sample [`LocalInput`], send it and predict.
    SendInput,
    /// `Update`: move the interpolation clock and place interpolated entities.
    Interpolate,
}

/// The client's networking: add it to any app (windowed or `MinimalPlugins`) with the game's
/// shared plugin, then [`connect`]. The game's input (see
/// [`AppInputExt::add_input`](crate::input::AppInputExt::add_input)) is sent every tick.
#[derive(Default)]
pub struct NetClientPlugin;

impl Plugin for NetClientPlugin {
    fn build(&self, app: &mut App) {
        crate::side::enter_side(app, crate::side::Side::Client);
        if !app.is_plugin_added::<StatesPlugin>() {
            app.add_plugins(StatesPlugin);
        }
        if !app.is_plugin_added::<TickPlugin>() {
            app.add_plugins(TickPlugin);
        }
        app.add_plugins(RenetClientPlugin)
            .add_message::<SnapshotApplied>()
            .init_resource::<ReplicationRegistry>()
            .init_resource::<MessageRegistry>()
            .insert_resource(Time::<Fixed>::from_hz(f64::from(DEFAULT_TICK_RATE)))
            .init_resource::<ClientSession>()
            .init_resource::<ConnectionStatus>()
            .init_resource::<ConnectTimeout>()
            .init_resource::<ServerEntityMap>()
            .init_resource::<replica::ControlledIds>()
            .init_resource::<replica::ReplicaHistory>()
            .init_resource::<replica::ReplicaLimits>()
            .configure_sets(
                PreUpdate,
                (ClientSystems::Receive, ClientSystems::Reconcile)
                    .chain()
                    .after(RenetReceive),
            )
            .configure_sets(
                FixedUpdate,
                ClientSystems::SendInput.in_set(SimulationSystems::Input),
            )
            .add_systems(
                PreUpdate,
                (
                    receive::receive_messages.run_if(resource_exists::<RenetClient>),
                    lifecycle::give_up_connecting,
                    lifecycle::track_connection,
                    pacing::pace_clock,
                    replica::mark_controlled,
                )
                    .chain()
                    .in_set(ClientSystems::Receive),
            )
            .add_systems(
                PostUpdate,
                outgoing::send_game_messages
                    .run_if(resource_exists::<RenetClient>)
                    .before(RenetSend),
            )
            .add_plugins((
                transport::plugin,
                prediction::plugin,
                interpolation::plugin,
                spawns::plugin,
                stats::plugin,
            ));
        crate::side::run_pending(app);
    }

    fn finish(&self, app: &mut App) {
        crate::input::default_to_no_input(app);
    }
}

/// The client's systems for the game's input type `I` (see
/// [`AppInputExt::add_input`](crate::input::AppInputExt::add_input)): [`LocalInput<I>`] sent
/// every tick, kept for replays, and predicted with.
pub(crate) fn install_input<I: NetInput>(app: &mut App) {
    app.init_resource::<LocalInput<I>>()
        .init_resource::<InputHistory<I>>()
        .add_systems(
            PreUpdate,
            pacing::forget_simulated_inputs::<I>
                .after(lifecycle::track_connection)
                .before(pacing::pace_clock)
                .in_set(ClientSystems::Receive),
        )
        .add_systems(
            FixedUpdate,
            input::send_input::<I>
                .in_set(ClientSystems::SendInput)
                .before(RenetSend),
        );
    prediction::install_input::<I>(app);
}
