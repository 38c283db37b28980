//! Seeded simulation of whole matches of the test game (see `skirmish_net::testing::match_sim`):
//! every seed a schedule of faults and attacks, every step the invariants, and after the faults
//! the check that every client holds exactly what the server has.

use bevy::prelude::*;
use skirmish_net::client::{Controlled, Predicted};
use skirmish_net::registry::Quantize;
use skirmish_net::testing::match_sim::{SimGame, check_seeds, seeds_from_env};

use crate::protocol::*;

/// Seeds `cargo test` runs; `SKIRMISH_SIM_SEEDS=N` runs more.
const SEEDS: u64 = 200;

struct Dots;

impl SimGame for Dots {
    type Input = Stick;

    fn server(&self) -> App {
        server_app(|_| {})
    }

    fn client(&self) -> App {
        client_app(|_| {})
    }

    fn random_input(&self, rng: &mut fastrand::Rng) -> Stick {
        Stick(Vec2::new(rng.f32() * 2.0 - 1.0, rng.f32() * 2.0 - 1.0))
    }

    fn state(&self, world: &World, entity: Entity) -> Vec<i32> {
        let owner = world.get::<Owner>(entity).map_or(0, |owner| owner.0 as i32);
        let dot = world.get::<Dot>(entity).map(Quantize::quantize);
        let mut state = vec![owner];
        state.extend(dot.into_iter().flatten());
        state
    }

    fn check_settled(&self, server: &World, client: &World) -> Result<(), String> {
        let id = client
            .resource::<skirmish_net::client::ClientSession>()
            .client_id;
        let mut own = client
            .try_query_filtered::<(&Owner, &Predicted<Dot>), With<Controlled>>()
            .ok_or("no dots")?;
        let predicted: Vec<_> = own.iter(client).collect();
        let [(owner, predicted)] = predicted[..] else {
            return Err(format!("{} controlled dots, not one", predicted.len()));
        };
        if owner.0 != id {
            return Err(format!("controls the dot of {}", owner.0));
        }
        let mut dots = server.try_query::<(&Owner, &Dot)>().ok_or("no dots")?;
        let on_server = dots
            .iter(server)
            .find(|(owner, _)| owner.0 == id)
            .map(|(_, dot)| dot.quantize());
        if on_server != Some(predicted.value.quantize()) {
            return Err(format!(
                "predicts its dot at {:?}, the server has {on_server:?}",
                predicted.value.quantize()
            ));
        }
        Ok(())
    }
}

#[test]
fn seeded_matches_of_the_test_game_settle_under_any_faults() {
    let reports = check_seeds(
        &Dots,
        seeds_from_env(SEEDS),
        3,
        "SKIRMISH_SIM_SEED={seed} cargo test -p skirmish-net --test netcode sim -- --nocapture",
    );
    assert!(!reports.is_empty());
}
