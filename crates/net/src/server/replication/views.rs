//! Each client's interest view: its [`ClientInterest`] (or the defaults) resolved against the
//! record of the world into dense indices and a center, for the relevance step.

use bevy::ecs::entity::EntityHashSet;
use bevy::prelude::*;

use super::client_state::ClientReplication;
use super::world_record::ReplicationState;
use crate::server::clients::{ConnectedClient, Controls};
use crate::server::interest::{ClientInterest, InterestSettings, InterestView};

/// Resolves each client's view: its interest settings, its center, its exceptions.
pub(super) fn resolve_views(
    settings: Option<Res<InterestSettings>>,
    state: Res<ReplicationState>,
    mut clients: Query<
        (
            &mut ClientReplication,
            Option<&ClientInterest>,
            Option<&Controls>,
        ),
        With<ConnectedClient>,
    >,
) {
    let (settings, spatial) = match settings {
        Some(settings) => (*settings, state.space.enabled()),
        None => (InterestSettings::default(), false),
    };
    for (mut replication, interest, controls) in &mut clients {
        let default_interest;
        let interest = match interest {
            Some(interest) => interest,
            None if spatial => {
                // Every client gets one when it joins; one the game removed sees by the defaults.
                default_interest = ClientInterest::from_settings(&settings);
                &default_interest
            }
            None => {
                replication.interest = None;
                continue;
            }
        };
        let center = interest.center.or_else(|| {
            controls?
                .entities()
                .iter()
                .find_map(|entity| state.location(*entity))
        });
        let dense = |entities: &EntityHashSet| {
            let mut dense: Vec<u32> = entities
                .iter()
                .filter_map(|entity| state.dense_of(*entity))
                .collect();
            dense.sort_unstable();
            dense
        };
        let view = InterestView {
            center: center.filter(|_| spatial),
            radius: interest.radius.max(0.0),
            hysteresis: interest.hysteresis.max(0.0),
            rooms: interest.rooms,
            always: dense(&interest.always),
            never: dense(&interest.never),
        };
        if replication.interest.as_ref() != Some(&view) {
            replication.interest = Some(view);
        }
    }
}
