//! A wandering bot: drives [`InputState`] the way a restless player would, so headless clients
//! (examples, load tests) produce realistic traffic without a keyboard.

use bevy::prelude::*;

use crate::net::InputState;

/// Adds a bot that writes [`InputState`] every frame. Deterministic for a given seed.
pub struct BotPlugin {
    /// Seed of the bot's random choices.
    pub seed: u64,
}

impl Plugin for BotPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(BotBrain {
            rng: fastrand::Rng::with_seed(self.seed),
            direction: Vec2::ZERO,
            until: 0.0,
        })
        .add_systems(Update, drive_bot);
    }
}

/// The bot's random state and current intention.
#[derive(Resource, Debug)]
struct BotBrain {
    rng: fastrand::Rng,
    direction: Vec2,
    /// Elapsed seconds at which to pick a new direction.
    until: f32,
}

impl BotBrain {
    /// A value in `[0, 1)`.
    fn next(&mut self) -> f32 {
        self.rng.f32()
    }
}

fn drive_bot(time: Res<Time>, mut brain: ResMut<BotBrain>, mut input: ResMut<InputState>) {
    let now = time.elapsed_secs();
    if now >= brain.until {
        // One time in five, stand still for a moment; otherwise head somewhere new.
        brain.direction = if brain.next() < 0.2 {
            Vec2::ZERO
        } else {
            Vec2::from_angle(brain.next() * std::f32::consts::TAU)
        };
        brain.until = now + 0.5 + brain.next();
    }
    input.movement = brain.direction;
    // Sweep the aim around and fire in bursts, like a player spraying.
    input.aim = Vec2::from_angle(now * 1.3);
    input.fire = (now * 0.7).fract() < 0.3;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bevy::time::TimeUpdateStrategy;

    use super::*;

    #[test]
    fn bot_changes_direction_over_time() {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .add_plugins(BotPlugin { seed: 7 })
            .init_resource::<InputState>()
            .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
                100,
            )));
        let mut seen = Vec::new();
        for _ in 0..100 {
            app.update();
            let movement = app.world().resource::<InputState>().movement;
            assert!(
                movement.length() <= 1.0 + 1e-5,
                "bot input must be a valid movement"
            );
            if seen.last() != Some(&movement) {
                seen.push(movement);
            }
        }
        assert!(
            seen.len() >= 5,
            "over 10 s a bot should pick several directions, got {seen:?}"
        );
    }
}
