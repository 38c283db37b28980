//! The simulation tick: both apps run their game rules in `FixedUpdate` at the server's tick rate,
//! and every snapshot and input is stamped with a tick.

use bevy::prelude::*;

/// Default simulation rate, in ticks per second.
pub const DEFAULT_TICK_RATE: u16 = 60;

/// The fastest tick rate a server may run and a client accepts from a server's welcome: every
/// tick a client steps its simulation and sends an input, so a server claiming thousands of
/// hertz would make it spin.
pub const MAX_TICK_RATE: u16 = 240;

/// Ordering of the simulation inside `FixedUpdate`, configured by [`TickPlugin`].
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimulationSystems {
    /// Runs first in `FixedUpdate`: advances [`SimulationTick`].
    Tick,
    /// Runs after `Tick`: this tick's input reaches the entities it drives (server: from each
    /// client's input buffer; client: from the local input).
    Input,
    /// Runs after `Input`: the game's rules (movement, combat...).
    Simulate,
}

/// The number of `FixedUpdate` steps the simulation has run. On the server this is the tick every
/// snapshot is stamped with; on the client, the tick every input is stamped with.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deref)]
pub struct SimulationTick(pub u32);

/// Adds [`SimulationTick`] and orders [`SimulationSystems`]. Both network plugins add it.
pub struct TickPlugin;

impl Plugin for TickPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SimulationTick>()
            .configure_sets(
                FixedUpdate,
                (
                    SimulationSystems::Tick,
                    SimulationSystems::Input,
                    SimulationSystems::Simulate,
                )
                    .chain(),
            )
            .add_systems(FixedUpdate, advance_tick.in_set(SimulationSystems::Tick));
    }
}

fn advance_tick(mut tick: ResMut<SimulationTick>) {
    tick.0 = tick.0.wrapping_add(1);
}
