//! Seeded simulation of whole demo matches (see `skirmish_net::testing::match_sim`): the demo's
//! real server and client rules under a schedule of faults and attacks per seed, renames
//! flooding among them, then the check that every client holds exactly what the server has.

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use skirmish_net::client::{Controlled, Predicted};
use skirmish_net::registry::Quantize;
use skirmish_net::testing::match_sim::{SimGame, check_seeds, seeds_from_env};
use skirmish_server::{MatchSettings, ServerPlugin};
use skirmish_shared::prelude::*;
use skirmish_shared::protocol::SetName;
use skirmish_shared::simulation::InputFrame;

/// Seeds `cargo test` runs; `SKIRMISH_SIM_SEEDS=N` runs more.
const SEEDS: u64 = 100;

struct Demo;

impl SimGame for Demo {
    type Input = InputFrame;

    fn server(&self) -> App {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin, ServerPlugin::default()));
        // No bots: they never stop moving, so a match would never hold still to compare.
        skirmish_server::set_up(app.world_mut(), &MatchSettings::default())
            .expect("the match is set up");
        app
    }

    fn client(&self) -> App {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, skirmish_client::ClientPlugin));
        app
    }

    fn random_input(&self, rng: &mut fastrand::Rng) -> InputFrame {
        let mut axis = || Vec2::new(rng.f32() * 2.0 - 1.0, rng.f32() * 2.0 - 1.0);
        InputFrame {
            movement: axis(),
            aim: axis(),
            fire: rng.bool(),
        }
    }

    fn abuse(&self, client: &mut World, step: u32) {
        client.write_message(SetName(format!("n{}", step % 2)));
    }

    fn state(&self, world: &World, entity: Entity) -> Vec<i32> {
        let mut state = Vec::new();
        if let Some(position) = world.get::<Position>(entity) {
            state.extend(position.quantize());
        }
        if let Some(player) = world.get::<Player>(entity) {
            state.push(player.client_id as i32);
        }
        if let Some(health) = world.get::<Health>(entity) {
            state.push(i32::from(health.0));
        }
        if let Some(roster) = world.get::<Roster>(entity) {
            state.push(i32::from(roster.players));
        }
        state
    }

    fn check_settled(&self, server: &World, client: &World) -> Result<(), String> {
        let id = client
            .resource::<skirmish_net::client::ClientSession>()
            .client_id;
        let mut players = client.try_query::<&Player>().ok_or("no players")?;
        let own = players.iter(client).filter(|p| p.client_id == id).count();
        if own != 1 {
            return Err(format!("{own} players of its own"));
        }
        let mut predicted = client
            .try_query_filtered::<&Predicted<Position>, With<Controlled>>()
            .ok_or("no prediction")?;
        let Ok(predicted) = predicted.single(client) else {
            return Err("not exactly one predicted player".into());
        };
        let Some(on_server) = skirmish_server::player_of(server, id)
            .and_then(|player| server.get::<Position>(player))
        else {
            return Err("no player on the server".into());
        };
        if predicted.value.quantize() != on_server.quantize() {
            return Err(format!(
                "predicts itself at {:?}, the server has {:?}",
                predicted.value.quantize(),
                on_server.quantize()
            ));
        }
        Ok(())
    }
}

#[test]
fn seeded_demo_matches_settle_under_any_faults() {
    let reports = check_seeds(
        &Demo,
        seeds_from_env(SEEDS),
        3,
        "SKIRMISH_SIM_SEED={seed} cargo test -p skirmish --test demo sim -- --nocapture",
    );
    assert!(!reports.is_empty());
}
