//! [`ComponentRules`]: a component's whole network behaviour declared in one chain, in the
//! shared protocol both apps add:
//!
//! ```
//! # use bevy::prelude::*;
//! # use skirmish_net::prelude::*;
//! # #[derive(Component, Clone, Copy, PartialEq, Debug, Default, serde::Serialize, serde::Deserialize)]
//! # struct Hull(Vec2);
//! # skirmish_net::blend_newtype!(Hull);
//! fn protocol(app: &mut App) {
//!     app.replicate::<Hull>()   // both sides: on the wire
//!         .predict()            // client: predicted on the entity it controls
//!         .interpolate()        // client: interpolated on every other
//!         .lag_compensate();    // server: a history to judge hits against
//! }
//! ```
//!
//! The client-only parts take effect on a client app and the server-only part on a server app,
//! whichever comes first: the shared plugin or the side's network plugin.

use std::marker::PhantomData;

use bevy::prelude::*;

use crate::blend::Blend;
use crate::client::AppPredictionExt;
use crate::server::lag_compensation::AppLagCompensationExt;
use crate::side::on_side;

/// One replicated component's rules, from
/// [`AppReplicateExt::replicate`](crate::registry::AppReplicateExt::replicate) and its
/// siblings. It dereferences to the [`App`], so further registrations chain on.
pub struct ComponentRules<'a, C> {
    app: &'a mut App,
    component: PhantomData<fn() -> C>,
}

impl<'a, C> ComponentRules<'a, C> {
    pub(crate) fn new(app: &'a mut App) -> Self {
        Self {
            app,
            component: PhantomData,
        }
    }
}

impl<C> std::ops::Deref for ComponentRules<'_, C> {
    type Target = App;

    fn deref(&self) -> &App {
        self.app
    }
}

impl<C> std::ops::DerefMut for ComponentRules<'_, C> {
    fn deref_mut(&mut self) -> &mut App {
        self.app
    }
}

fn nothing(_: &mut App) {}

fn predict<C: Blend>(app: &mut App) {
    app.predict::<C>();
}

fn interpolate<C: Blend>(app: &mut App) {
    app.interpolate::<C>();
}

fn lag_compensate<C: Blend>(app: &mut App) {
    app.lag_compensate::<C>();
}

impl<C: Blend> ComponentRules<'_, C> {
    /// Client: predicted on the entities this client controls (advance it in
    /// [`PredictionStep`](crate::client::PredictionStep) systems), corrections faded.
    pub fn predict(self) -> Self {
        on_side(self.app, nothing, predict::<C>);
        self
    }

    /// Client: interpolated between snapshots on every entity this client does not control,
    /// into [`Interpolated<C>`](crate::client::Interpolated).
    pub fn interpolate(self) -> Self {
        on_side(self.app, nothing, interpolate::<C>);
        self
    }

    /// Server: a [`History<C>`](crate::server::lag_compensation::History) of every replicated
    /// entity, to judge a client's action against what it saw.
    pub fn lag_compensate(self) -> Self {
        on_side(self.app, lag_compensate::<C>, nothing);
        self
    }
}
