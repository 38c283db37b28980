//! Server-side bots: players without a client, so one person can play alone. They wander, keep
//! away from the walls, and shoot the nearest living player with human-like limits: a reaction
//! delay before they open fire on a new target, and some aim error.

use bevy::prelude::*;
use skirmish_shared::game::Health;
use skirmish_shared::prelude::*;

use skirmish_shared::game::Shielded;

use crate::combat::{SlotCounter, Weapon, spawn_point};

/// Client ids of bots start here (netcode client ids are random 64-bit values).
pub const BOT_ID_BASE: u64 = 0xB07_0000_0000_0000;

/// Most bots one server runs.
pub const MAX_BOTS: u64 = 64;

/// The client ids reserved for bots: a client claiming one (an `--insecure` client chooses its
/// own id, a token names one) is refused, so it cannot pass for a bot (no friendly fire between
/// players of one id, no kill credited twice).
pub const BOT_IDS: std::ops::Range<u64> = BOT_ID_BASE..BOT_ID_BASE + MAX_BOTS;

/// Whether `client_id` is reserved for bots (see [`BOT_IDS`]).
pub fn is_bot_id(client_id: u64) -> bool {
    BOT_IDS.contains(&client_id)
}

/// How well the server's bots play.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum BotSkill {
    /// For learning the controls: short sight, slow to react, wide of the mark, firing in bursts.
    Easy,
    /// A fair fight.
    #[default]
    Normal,
    /// Sharp: long sight, quick and precise.
    Hard,
}

/// What a skill level means.
#[derive(Debug, Clone, Copy)]
struct Skill {
    /// How far a bot looks for targets.
    sight: f32,
    /// Ticks between noticing a target and opening fire.
    reaction_ticks: u32,
    /// Largest aim error, in radians.
    aim_error: f32,
    /// Of every 90 ticks with a target in sight, how many it fires.
    fire_ticks_per_90: u32,
}

impl BotSkill {
    fn skill(self) -> Skill {
        match self {
            Self::Easy => Skill {
                sight: 450.0,
                reaction_ticks: 40,
                aim_error: 0.25,
                fire_ticks_per_90: 30,
            },
            Self::Normal => Skill {
                sight: 600.0,
                reaction_ticks: 15,
                aim_error: 0.08,
                fire_ticks_per_90: 90,
            },
            Self::Hard => Skill {
                sight: 800.0,
                reaction_ticks: 8,
                aim_error: 0.03,
                fire_ticks_per_90: 90,
            },
        }
    }
}

/// A bot's mind.
#[derive(Component, Debug)]
pub struct Bot {
    skill: Skill,
    rng: fastrand::Rng,
    wander: Vec2,
    next_wander: u32,
    target: Option<Entity>,
    fire_from: u32,
}

impl Bot {
    fn random(&mut self) -> f32 {
        self.rng.f32()
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(FixedUpdate, drive_bots.in_set(SimulationSystems::Input));
}

/// Adds bot number `index` (below [`MAX_BOTS`]) to the world.
///
/// # Panics
///
/// If `index` is [`MAX_BOTS`] or more: its id would be one a client may claim.
pub fn spawn_bot(world: &mut World, index: u64) -> Entity {
    assert!(index < MAX_BOTS, "bot index {index} out of 0..{MAX_BOTS}");
    let client_id = BOT_ID_BASE + index;
    let slot = world.get_resource_or_init::<SlotCounter>().take();
    let skill = world
        .get_resource::<BotSkill>()
        .copied()
        .unwrap_or_default()
        .skill();
    let arena = world.get_resource::<Arena>().copied().unwrap_or_default();
    world
        .spawn((
            Name::new(format!("Bot {index}")),
            Replicated,
            Player { client_id },
            PlayerName(format!("Bot {}", index + 1)),
            Position(spawn_point(&arena, client_id, 0)),
            slot,
            Weapon::default(),
            Bot {
                skill,
                rng: fastrand::Rng::with_seed(index + 1),
                wander: Vec2::ZERO,
                next_wander: 0,
                target: None,
                fire_from: 0,
            },
        ))
        .id()
}

fn drive_bots(
    tick: Res<SimulationTick>,
    arena: Res<Arena>,
    mut bots: Query<(Entity, &Position, &Health, &mut PlayerInput, &mut Bot)>,
    players: Query<(Entity, &Position, &Health, Has<Shielded>), With<Player>>,
) {
    for (entity, position, health, mut input, mut bot) in &mut bots {
        if !health.is_alive() {
            input.0 = InputFrame::default();
            continue;
        }
        // Wander, changing course every one to two seconds; head inwards near the arena's edge.
        if tick.0 >= bot.next_wander {
            let angle = bot.random() * std::f32::consts::TAU;
            bot.wander = Vec2::from_angle(angle) * (0.5 + bot.random() * 0.5);
            bot.next_wander = tick.0.saturating_add(60 + (bot.random() * 60.0) as u32);
        }
        let mut movement = bot.wander;
        if position.abs().max_element() > arena.half() - 150.0 {
            movement = (-position.0).normalize_or_zero();
        }

        // The nearest living player in sight; a shielded one (just respawned) is left alone.
        let skill = bot.skill;
        let nearest = players
            .iter()
            .filter(|(other, _, other_health, shielded)| {
                *other != entity && other_health.is_alive() && !shielded
            })
            .map(|(other, other_position, _, _)| (other, other_position.0))
            .filter(|(_, other_position)| other_position.distance(position.0) < skill.sight)
            .min_by(|a, b| {
                a.1.distance_squared(position.0)
                    .total_cmp(&b.1.distance_squared(position.0))
            });
        let (aim, fire) = match nearest {
            Some((target, target_position)) => {
                if bot.target != Some(target) {
                    bot.target = Some(target);
                    bot.fire_from = tick.0.saturating_add(skill.reaction_ticks);
                }
                let error = (bot.random() * 2.0 - 1.0) * skill.aim_error;
                let direction = (target_position - position.0).normalize_or_zero();
                let in_burst = tick.0.saturating_sub(bot.fire_from) % 90 < skill.fire_ticks_per_90;
                (
                    Vec2::from_angle(error).rotate(direction),
                    tick.0 >= bot.fire_from && in_burst,
                )
            }
            None => {
                bot.target = None;
                (Vec2::ZERO, false)
            }
        };
        input.0 = InputFrame {
            movement,
            aim,
            fire,
        }
        .sanitized();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bot_id_is_reserved_and_nothing_else() {
        assert!(is_bot_id(BOT_ID_BASE));
        assert!(is_bot_id(BOT_ID_BASE + MAX_BOTS - 1));
        assert!(!is_bot_id(BOT_ID_BASE - 1));
        assert!(!is_bot_id(BOT_ID_BASE + MAX_BOTS));
        assert!(!is_bot_id(0));
        assert!(!is_bot_id(u64::MAX));
    }

    /// Steps `drive_bots` over `ticks` ticks; returns the bot's last input.
    fn drive(world: &mut World, bot: Entity, ticks: u32) -> InputFrame {
        use bevy::ecs::system::RunSystemOnce;
        for _ in 0..ticks {
            world.resource_mut::<SimulationTick>().0 += 1;
            world
                .run_system_once(drive_bots)
                .expect("the bots' system runs");
        }
        world.get::<PlayerInput>(bot).expect("an input").0
    }

    #[test]
    fn bots_leave_a_shielded_player_alone_and_easy_ones_hold_fire_between_bursts() {
        let mut world = World::new();
        world.init_resource::<SimulationTick>();
        world.init_resource::<Arena>();
        world.insert_resource(BotSkill::Easy);
        let bot = spawn_bot(&mut world, 0);
        let at = world.get::<Position>(bot).unwrap().0;
        let newcomer = world
            .spawn((
                Player { client_id: 1 },
                Position(at + Vec2::X * 200.0),
                Shielded,
            ))
            .id();
        let input = drive(&mut world, bot, 120);
        assert!(
            !input.fire && input.aim == Vec2::ZERO,
            "shielded: {input:?}"
        );
        world.entity_mut(newcomer).remove::<Shielded>();
        let mut fired = 0;
        for _ in 0..180 {
            fired += u32::from(drive(&mut world, bot, 1).fire);
        }
        assert!(fired > 0, "an unshielded player in sight is shot at");
        assert!(
            fired < 100,
            "an easy bot pauses between bursts ({fired} of 180 ticks)"
        );
    }

    #[test]
    fn bots_have_everything_a_player_has() {
        let mut world = World::new();
        let bot = spawn_bot(&mut world, 0);
        let bot = world.entity(bot);
        assert!(
            bot.contains::<skirmish_shared::game::Ping>(),
            "the scoreboard reads it"
        );
        assert!(bot.contains::<skirmish_shared::game::Score>());
        assert!(bot.contains::<Health>());
        assert!(bot.contains::<Rotation>());
        assert!(bot.contains::<PlayerInput>());
    }

    #[test]
    fn bots_turn_back_at_the_edge_of_the_arena_they_are_in() {
        for tiles in [1, 3] {
            let mut world = World::new();
            world.init_resource::<SimulationTick>();
            let arena = Arena::new(tiles);
            world.insert_resource(arena);
            let bot = spawn_bot(&mut world, 0);
            let inside = Vec2::new(arena.half() - 400.0, 0.0);
            world.get_mut::<Position>(bot).unwrap().0 = inside;
            world.get_mut::<Bot>(bot).unwrap().next_wander = u32::MAX;
            world.get_mut::<Bot>(bot).unwrap().wander = Vec2::X;
            assert_eq!(
                drive(&mut world, bot, 1).movement,
                Vec2::X,
                "{tiles} tiles: away from the edge a bot wanders on"
            );
            world.get_mut::<Position>(bot).unwrap().0 = Vec2::new(arena.half() - 100.0, 0.0);
            assert!(
                drive(&mut world, bot, 1).movement.x < 0.0,
                "{tiles} tiles: near the edge a bot heads back in"
            );
        }
    }
}
