//! The replication registry: which components the server sends to clients, and how.
//!
//! A forker makes a component replicated with one call, made in the shared protocol plugin so the
//! server and the client register the same components in the same order:
//!
//! ```
//! use bevy::prelude::*;
//! use serde::{Deserialize, Serialize};
//! use skirmish_shared::prelude::*;
//!
//! #[derive(Component, Clone, Serialize, Deserialize)]
//! struct Health(u8);
//!
//! let mut app = App::new();
//! app.replicate::<Health>();
//! // On the server, spawning `(Replicated, Health(100))` is now all it takes: every client gets
//! // the entity, every change to `Health`, and its despawn.
//! # assert_eq!(app.world().resource::<ReplicationRegistry>().len(), 1);
//! ```

use std::any::type_name;

use bevy::ecs::component::ComponentId;
use bevy::ecs::world::{EntityRef, EntityWorldMut};
use bevy::prelude::*;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::protocol::{self, DecodeError};
use crate::simulation::{Player, PlayerName, Position};

/// Marks an entity the server replicates to every client, together with its registered components.
#[derive(Component, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replicated;

/// Compact network id of a replicated entity, assigned by the server and never reused during a
/// match. On the client, replicated entities carry it as a component.
#[derive(
    Component, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NetId(pub u32);

/// How one registered component is encoded, applied and removed.
#[derive(Debug, Clone)]
pub struct ReplicationRule {
    /// The component's type name, for logs and the registry fingerprint.
    pub name: &'static str,
    /// The component's id in this app's world.
    pub component_id: ComponentId,
    /// Appends the component's encoding to the buffer; returns `false` if the entity lacks it.
    pub serialize: fn(&EntityRef, &mut Vec<u8>) -> bool,
    /// Decodes bytes and inserts the component.
    pub write: fn(&mut EntityWorldMut, &[u8]) -> Result<(), DecodeError>,
    /// Removes the component.
    pub remove: fn(&mut EntityWorldMut),
}

/// Every replicated component, in registration order. The position of a rule is the component's
/// `kind` on the wire, so server and client must register the same components in the same order.
#[derive(Resource, Debug, Default)]
pub struct ReplicationRegistry {
    rules: Vec<ReplicationRule>,
}

impl ReplicationRegistry {
    /// The rule for a wire `kind`, if registered.
    pub fn get(&self, kind: u8) -> Option<&ReplicationRule> {
        self.rules.get(usize::from(kind))
    }

    /// All rules with their wire kind.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &ReplicationRule)> {
        // `replicate` caps the registry at 256 rules, so the index always fits.
        self.rules
            .iter()
            .enumerate()
            .map(|(index, rule)| (index as u8, rule))
    }

    /// Number of registered components.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no component is registered.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// A hash of the registered type names in order. The server sends it in its welcome so a
    /// client built with a different registry notices at once instead of misreading components.
    pub fn fingerprint(&self) -> u64 {
        // FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for rule in &self.rules {
            for byte in rule.name.bytes().chain([0]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }
}

/// Registers replicated components on an [`App`].
pub trait AppReplicateExt {
    /// Replicates component `C` (encoded with serde + bincode) on every entity marked
    /// [`Replicated`]: its insertion, every change and its removal reach every client.
    ///
    /// # Panics
    /// If more than 256 components are registered.
    fn replicate<C>(&mut self) -> &mut Self
    where
        C: Component + Serialize + DeserializeOwned;
}

impl AppReplicateExt for App {
    fn replicate<C>(&mut self) -> &mut Self
    where
        C: Component + Serialize + DeserializeOwned,
    {
        let component_id = self.world_mut().register_component::<C>();
        let mut registry = self
            .world_mut()
            .get_resource_or_init::<ReplicationRegistry>();
        assert!(
            registry.rules.len() < 256,
            "at most 256 replicated components can be registered"
        );
        if registry
            .rules
            .iter()
            .any(|rule| rule.component_id == component_id)
        {
            warn!(
                "{} is already replicated; ignoring the second registration",
                type_name::<C>()
            );
            return self;
        }
        registry.rules.push(ReplicationRule {
            name: type_name::<C>(),
            component_id,
            serialize: serialize_component::<C>,
            write: write_component::<C>,
            remove: remove_component::<C>,
        });
        self
    }
}

fn serialize_component<C: Component + Serialize>(entity: &EntityRef, out: &mut Vec<u8>) -> bool {
    match entity.get::<C>() {
        Some(component) => {
            out.extend_from_slice(&protocol::encode(component));
            true
        }
        None => false,
    }
}

fn write_component<C: Component + DeserializeOwned>(
    entity: &mut EntityWorldMut,
    bytes: &[u8],
) -> Result<(), DecodeError> {
    let component: C = protocol::decode(bytes)?;
    entity.insert(component);
    Ok(())
}

fn remove_component<C: Component>(entity: &mut EntityWorldMut) {
    entity.remove::<C>();
}

/// Registers the demo's replicated components. Both server and client add it (through
/// [`SharedPlugin`](crate::SharedPlugin)), so the registry is identical on both sides.
pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ReplicationRegistry>()
        .replicate::<Position>()
        .replicate::<Player>()
        .replicate::<PlayerName>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Component, Serialize, Deserialize, PartialEq, Debug)]
    struct Health(u8);

    #[test]
    fn registered_component_round_trips_through_its_rule() {
        let mut app = App::new();
        app.replicate::<Health>();
        let rule = app
            .world()
            .resource::<ReplicationRegistry>()
            .get(0)
            .unwrap()
            .clone();

        let source = app.world_mut().spawn(Health(77)).id();
        let mut bytes = Vec::new();
        assert!((rule.serialize)(&app.world().entity(source), &mut bytes));

        let mut target = app.world_mut().spawn_empty();
        (rule.write)(&mut target, &bytes).expect("bytes from serialize must decode");
        let target = target.id();
        assert_eq!(app.world().get::<Health>(target), Some(&Health(77)));

        (rule.remove)(&mut app.world_mut().entity_mut(target));
        assert!(app.world().get::<Health>(target).is_none());
    }

    #[test]
    fn fingerprint_depends_on_order() {
        let mut a = App::new();
        a.replicate::<Health>().replicate::<Position>();
        let mut b = App::new();
        b.replicate::<Position>().replicate::<Health>();
        let fingerprint = |app: &App| app.world().resource::<ReplicationRegistry>().fingerprint();
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn double_registration_is_ignored() {
        let mut app = App::new();
        app.replicate::<Health>().replicate::<Health>();
        assert_eq!(app.world().resource::<ReplicationRegistry>().len(), 1);
    }
}
