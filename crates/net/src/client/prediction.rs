//! Prediction and reconciliation of what this client controls, for any registered component.
//!
//! A game marks the entities its client controls with [`Controlled`] and registers each
//! component to predict with [`AppPredictionExt::predict`]. Such an entity gets a
//! [`Predicted<C>`] next to the replicated `C`: the replicated value stays the server's word,
//! the predicted one runs ahead with the local input. Every fixed tick the game's
//! [`PredictionStep`] systems advance the predicted values by one input ([`PredictedInput`]);
//! when a snapshot arrives, every predicted value restarts from the server's and the inputs the
//! server has not simulated yet are replayed through the same systems. Any difference is a
//! correction: counted in [`NetStats`], and hidden by a visual offset that fades over
//! [`PredictionSettings::smoothing`].
//!
//! ```
//! use bevy::prelude::*;
//! use skirmish_net::client::{AppPredictionExt, Blend, Predicted, PredictedInput, PredictionStep};
//!
//! #[derive(Component, Clone, PartialEq)]
//! struct Height(f32);
//!
//! impl Blend for Height {
//!     fn lerp(&self, to: &Self, t: f32) -> Self { Height(self.0 + (to.0 - self.0) * t) }
//!     fn distance(&self, other: &Self) -> f32 { (self.0 - other.0).abs() }
//!     fn offset_by(&self, a: &Self, b: &Self) -> Self { Height(self.0 + a.0 - b.0) }
//! }
//!
//! /// One tick of the game's rule, on predicted values: the input is whether to climb.
//! fn climb(input: Res<PredictedInput<bool>>, mut heights: Query<&mut Predicted<Height>>) {
//!     for mut height in &mut heights {
//!         if input.input {
//!             height.value.0 += input.dt;
//!         }
//!     }
//! }
//!
//! let mut app = App::new();
//! app.predict::<Height>().add_systems(PredictionStep, climb);
//! ```

use std::time::Duration;

use bevy::ecs::schedule::ScheduleLabel;
use bevy::prelude::*;

pub use crate::blend::Blend;
use crate::client::input::InputHistory;
use crate::client::stats::NetStats;
use crate::client::{ClientSession, ClientSystems, Controlled, SnapshotApplied};
use crate::input::NetInput;
use crate::registry::Teleported;

/// Corrections smaller than this (in [`Blend::distance`] units) are rounding, not
/// mispredictions.
pub const CORRECTION_EPSILON: f32 = 1e-3;

/// The locally predicted `C` of a [`Controlled`] entity.
#[derive(Component, Debug, Clone)]
pub struct Predicted<C: Blend> {
    /// Where the entity is, assuming the server simulates our inputs as we did. The game's
    /// [`PredictionStep`] systems advance it.
    pub value: C,
    shown: C,
    /// A fading correction: `value` is shown offset by `.0 - .1`, times the fade.
    offset: Option<(C, C)>,
    fade: f32,
    before: Option<C>,
    /// The entity's [`Teleported`] count the prediction last started from.
    teleports: u8,
}

impl<C: Blend> Predicted<C> {
    fn new(value: C) -> Self {
        Self {
            shown: value.clone(),
            value,
            offset: None,
            fade: 0.0,
            before: None,
            teleports: 0,
        }
    }

    /// What to draw this frame: the prediction plus what is left of the last corrections.
    pub fn shown(&self) -> &C {
        &self.shown
    }
}

/// The input one [`PredictionStep`] run applies, and the step's length in seconds.
#[derive(Resource, Debug, Clone)]
pub struct PredictedInput<I> {
    /// The input of the tick being predicted (or replayed).
    pub input: I,
    /// The fixed timestep, in seconds.
    pub dt: f32,
}

/// The game's prediction rules: systems that advance [`Predicted`] values by one tick of
/// [`PredictedInput`]. Run once per fixed tick, and again for each replayed input when a
/// snapshot arrives.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct PredictionStep;

/// How predictions are corrected.
#[derive(Resource, Debug, Clone, Copy)]
pub struct PredictionSettings {
    /// Time over which a correction's visual offset decays to about a third.
    pub smoothing: Duration,
}

impl Default for PredictionSettings {
    fn default() -> Self {
        Self {
            smoothing: Duration::from_millis(100),
        }
    }
}

/// Per predicted component: restart from the server's value; compare after the replay.
#[derive(Resource, Default, Clone)]
struct PredictionRules {
    rewind: Vec<fn(&mut World)>,
    settle: Vec<fn(&mut World)>,
}

/// The snapshot to reconcile with, if one was applied this frame: its `last_input`.
#[derive(Resource, Default)]
struct PendingReconcile(Option<Option<u32>>);

/// Registers components for prediction (and interpolation) on an [`App`].
pub trait AppPredictionExt {
    /// Predicts `C` on [`Controlled`] entities; add the rules that advance it to
    /// [`PredictionStep`].
    fn predict<C: Blend>(&mut self) -> &mut Self;
    /// Interpolates `C` between snapshots on every replicated entity that is not
    /// [`Controlled`], into [`Interpolated<C>`](crate::client::Interpolated).
    fn interpolate<C: Blend>(&mut self) -> &mut Self;
}

impl AppPredictionExt for App {
    fn predict<C: Blend>(&mut self) -> &mut Self {
        self.init_schedule(PredictionStep);
        {
            let mut rules = self.world_mut().get_resource_or_init::<PredictionRules>();
            rules.rewind.push(rewind::<C>);
            rules.settle.push(settle::<C>);
        }
        self.add_systems(
            PreUpdate,
            start_prediction::<C>
                .in_set(ClientSystems::Reconcile)
                .before(note_snapshot),
        )
        .add_systems(Update, fade_corrections::<C>)
    }

    fn interpolate<C: Blend>(&mut self) -> &mut Self {
        crate::client::interpolation::register::<C>(self);
        self
    }
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<PredictionSettings>()
        .init_resource::<PredictionRules>()
        .init_resource::<PendingReconcile>()
        .init_schedule(PredictionStep)
        .add_systems(PreUpdate, note_snapshot.in_set(ClientSystems::Reconcile));
}

/// Reconciliation and prediction with the game's input `I`.
pub(super) fn install_input<I: NetInput>(app: &mut App) {
    app.add_systems(
        PreUpdate,
        reconcile::<I>
            .after(note_snapshot)
            .in_set(ClientSystems::Reconcile),
    )
    .add_systems(
        FixedUpdate,
        predict_tick::<I>
            .in_set(ClientSystems::SendInput)
            .after(super::input::send_input::<I>),
    );
}

fn start_prediction<C: Blend>(
    mut commands: Commands,
    entities: Query<(Entity, &C, Option<&Teleported>), (With<Controlled>, Without<Predicted<C>>)>,
) {
    for (entity, value, teleported) in &entities {
        let mut predicted = Predicted::new(value.clone());
        predicted.teleports = teleported.map_or(0, |teleported| teleported.0);
        commands.entity(entity).insert(predicted);
    }
}

fn note_snapshot(
    mut applied: MessageReader<SnapshotApplied>,
    mut pending: ResMut<PendingReconcile>,
) {
    if let Some(latest) = applied.read().last() {
        pending.0 = Some(latest.last_input);
    }
}

/// Runs the game's [`PredictionStep`] once with `input`.
fn step<I: NetInput>(world: &mut World, input: I, dt: f32) {
    world.insert_resource(PredictedInput { input, dt });
    world.run_schedule(PredictionStep);
}

/// Applies this tick's input (just sent) to the predictions.
fn predict_tick<I: NetInput>(world: &mut World) {
    let Some(input) = world
        .resource::<InputHistory<I>>()
        .sent_this_tick()
        .cloned()
    else {
        return;
    };
    let dt = world.resource::<ClientSession>().tick_secs() as f32;
    step(world, input, dt);
}

/// On a new snapshot: restart from the server's values and replay unacknowledged inputs.
fn reconcile<I: NetInput>(world: &mut World) {
    let Some(last_input) = world.resource_mut::<PendingReconcile>().0.take() else {
        return;
    };
    let rules = world.resource::<PredictionRules>().clone();
    if rules.rewind.is_empty() {
        return;
    }
    for rewind in &rules.rewind {
        rewind(world);
    }
    let inputs: Vec<I> = world
        .resource::<InputHistory<I>>()
        .after(last_input)
        .cloned()
        .collect();
    let dt = world.resource::<ClientSession>().tick_secs() as f32;
    for input in inputs {
        step(world, input, dt);
    }
    for settle in &rules.settle {
        settle(world);
    }
}

fn rewind<C: Blend>(world: &mut World) {
    let mut query = world.query::<(&C, &mut Predicted<C>)>();
    for (server, mut predicted) in query.iter_mut(world) {
        let predicted = &mut *predicted;
        predicted.before = Some(std::mem::replace(&mut predicted.value, server.clone()));
    }
}

fn settle<C: Blend>(world: &mut World) {
    let mut corrections = Vec::new();
    let mut query = world.query::<(&mut Predicted<C>, Option<&Teleported>)>();
    for (mut predicted, teleported) in query.iter_mut(world) {
        let Some(before) = predicted.before.take() else {
            continue;
        };
        let teleports = teleported.map_or(0, |teleported| teleported.0);
        if teleports != predicted.teleports {
            // A jump on the server: start over from there, nothing to smooth or count.
            predicted.teleports = teleports;
            predicted.offset = None;
            predicted.fade = 0.0;
            predicted.shown = predicted.value.clone();
            continue;
        }
        let size = before.distance(&predicted.value);
        if size > CORRECTION_EPSILON {
            corrections.push(size);
            // Keep showing what was shown; the difference fades.
            let shown = predicted.shown.clone();
            let value = predicted.value.clone();
            predicted.offset = Some((shown, value));
            predicted.fade = 1.0;
        }
    }
    if let Some(mut stats) = world.get_resource_mut::<NetStats>() {
        for size in corrections {
            stats.record_correction(size);
        }
    }
}

/// Fades correction offsets so the entity glides instead of snapping, and updates what is shown.
fn fade_corrections<C: Blend>(
    time: Res<Time>,
    settings: Res<PredictionSettings>,
    mut predicted: Query<&mut Predicted<C>>,
) {
    let tau = settings.smoothing.as_secs_f32().max(1e-3);
    let keep = (-time.delta_secs() / tau).exp();
    for mut predicted in &mut predicted {
        let predicted = &mut *predicted;
        predicted.fade *= keep;
        predicted.shown = match &predicted.offset {
            Some((a, b)) if predicted.fade > 1e-3 => {
                let offset = predicted.value.offset_by(a, b);
                predicted.value.lerp(&offset, predicted.fade)
            }
            _ => {
                predicted.offset = None;
                predicted.value.clone()
            }
        };
    }
}
