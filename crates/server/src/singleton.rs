//! Match-wide facts on one replicated entity without a place (so interest management sends it to
//! every client): the arena, the roster.

use bevy::prelude::*;
use skirmish_shared::prelude::*;

/// Sets the one replicated entity holding `C` to `value`, spawning it (named `name`) the first
/// time; clients get news only when the value differs.
pub(crate) fn publish<C: Component<Mutability = bevy::ecs::component::Mutable> + PartialEq>(
    commands: &mut Commands,
    published: &mut Query<&mut C>,
    name: &'static str,
    value: C,
) {
    match published.iter_mut().next() {
        Some(mut current) => {
            current.set_if_neq(value);
        }
        None => {
            commands.spawn((Name::new(name), Replicated, value));
        }
    }
}
