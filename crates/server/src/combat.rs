//! The demo's combat, simulated by the server only: firing (rate-limited by the server's clock),
//! projectiles, hits, deaths, score and respawns. Rules and numbers are in
//! [`skirmish_shared::game`].

use bevy::prelude::*;
use skirmish_net::client::SpawnKey;
use skirmish_net::registry::Teleported;
use skirmish_net::server::lag_compensation::{History, LagCompensation};
use skirmish_net::server::{ConnectedClient, ControlledBy, TickRate};
use skirmish_shared::arena::TILE_SIZE;
use skirmish_shared::game::PlayerSlot;
use skirmish_shared::game::{
    FIRE_COOLDOWN_TICKS, Killed, MAX_HEALTH, PLAYER_RADIUS, PROJECTILE_DAMAGE,
    PROJECTILE_LIFETIME_TICKS, PROJECTILE_RADIUS, PROJECTILE_SPEED, RESPAWN_TICKS,
    SPAWN_PROTECTION_TICKS, Shielded, circles_overlap,
};
use skirmish_shared::prelude::*;
use skirmish_shared::simulation::{move_players, snap_to_grid};

/// A player's weapon: when it may fire next (server tick).
#[derive(Component, Debug, Default, Clone, Copy)]
pub struct Weapon {
    /// First tick the weapon can fire again.
    pub ready_at: u32,
}

/// When a projectile fizzles (server tick).
#[derive(Component, Debug, Clone, Copy)]
struct ExpiresAt(u32);

/// How many ticks in the past the shooter saw its targets when it fired: this projectile's hits
/// are judged against where they were then (lag compensation).
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Rewind(pub f32);

/// Until when (server tick) a [`Shielded`] player stays protected.
#[derive(Component, Debug, Clone, Copy)]
pub struct ShieldedUntil(pub u32);

/// A dead player respawns at this server tick.
#[derive(Component, Debug, Clone, Copy)]
pub struct Respawning {
    /// Server tick of the respawn.
    pub at: u32,
}

/// Hands out [`PlayerSlot`]s in join order.
#[derive(Resource, Debug, Default)]
pub struct SlotCounter(u8);

impl SlotCounter {
    /// The next slot (wrapping after 255).
    pub fn take(&mut self) -> PlayerSlot {
        let slot = PlayerSlot(self.0);
        self.0 = self.0.wrapping_add(1);
        slot
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_message::<Killed>()
        .init_resource::<SlotCounter>()
        .add_observer(shield_new_players)
        .add_systems(
            FixedUpdate,
            (
                face_aim,
                fire_weapons,
                move_projectiles,
                resolve_hits,
                respawn_players,
                lower_shields,
            )
                .chain()
                .in_set(SimulationSystems::Simulate)
                .after(move_players),
        );
}

/// Where a player (re)spawns, on the wire grid: on a ring of 200 units around the centre of a
/// tile of the arena (its clear middle), both chosen by client id and tick. In a one-tile arena
/// that is the arena's centre; in a larger one players are spread over all its tiles.
pub fn spawn_point(arena: &Arena, client_id: u64, tick: u32) -> Vec2 {
    let slot = client_id.wrapping_add(u64::from(tick)) % 360;
    let ring = Vec2::from_angle(slot as f32 * 137.5_f32.to_radians()) * (TILE_SIZE / 2.0) * 0.2;
    snap_to_grid(arena.tile_centre(slot as usize) + ring)
}

/// Players face where they aim (replicated as [`Rotation`], 12 bits, so others see it).
fn face_aim(mut players: Query<(&PlayerInput, &mut Rotation), With<Player>>) {
    for (input, mut rotation) in &mut players {
        if input.0.aim != Vec2::ZERO {
            rotation.set_if_neq(Rotation(input.0.aim.to_angle()));
        }
    }
}

fn fire_weapons(
    mut commands: Commands,
    tick: Res<SimulationTick>,
    tick_rate: Res<TickRate>,
    lag: Res<LagCompensation>,
    clients: Query<&ConnectedClient>,
    mut shooters: Query<(
        Entity,
        &Player,
        &Position,
        &PlayerInput,
        &Health,
        &mut Weapon,
        Has<Shielded>,
        Option<&ControlledBy>,
    )>,
) {
    for (entity, player, position, input, health, mut weapon, shielded, controlled_by) in
        &mut shooters
    {
        let aim = input.0.aim;
        if !input.0.fire || aim == Vec2::ZERO || !health.is_alive() || tick.0 < weapon.ready_at {
            continue;
        }
        weapon.ready_at = tick.0.saturating_add(FIRE_COOLDOWN_TICKS);
        if shielded {
            // Firing gives the protection up.
            commands
                .entity(entity)
                .remove::<(Shielded, ShieldedUntil)>();
        }
        let muzzle = position.0 + aim * (PLAYER_RADIUS + PROJECTILE_RADIUS + 1.0);
        let client = controlled_by.and_then(|controlled_by| clients.get(controlled_by.0).ok());
        let rewind = client.map_or(0.0, |client| lag.rewind_ticks(tick.0, tick_rate.0, client));
        let mut projectile = commands.spawn((
            Rewind(rewind as f32),
            Name::new("Projectile"),
            Replicated,
            Projectile {
                owner: player.client_id,
            },
            Position(muzzle),
            Velocity(aim * PROJECTILE_SPEED),
            ExpiresAt(tick.0.saturating_add(PROJECTILE_LIFETIME_TICKS)),
        ));
        // The shooter predicted this projectile: the key lets it match the two.
        if let Some(key) = client.and_then(SpawnKey::for_input) {
            projectile.insert(key);
        }
    }
}

fn move_projectiles(
    mut commands: Commands,
    time: Res<Time>,
    arena: Res<Arena>,
    tick: Res<SimulationTick>,
    mut projectiles: Query<(Entity, &mut Position, &Velocity, &ExpiresAt), With<Projectile>>,
) {
    let dt = time.delta_secs();
    for (entity, mut position, velocity, expires) in &mut projectiles {
        position.0 += velocity.0 * dt;
        if tick.0 >= expires.0 || arena.stops(position.0, PROJECTILE_RADIUS) {
            commands.entity(entity).try_despawn();
        }
    }
}

fn resolve_hits(
    mut commands: Commands,
    mut killed: MessageWriter<Killed>,
    tick: Res<SimulationTick>,
    projectiles: Query<(Entity, &Projectile, &Position, Option<&Rewind>)>,
    mut players: Query<
        (
            &Player,
            &Position,
            Option<&History<Position>>,
            &mut Health,
            &mut Score,
            Has<Shielded>,
        ),
        Without<Projectile>,
    >,
) {
    let mut kills: Vec<u64> = Vec::new();
    for (projectile_entity, projectile, projectile_position, rewind) in &projectiles {
        let rewind = rewind.map_or(0.0, |rewind| f64::from(rewind.0));
        for (player, position, history, mut health, mut score, shielded) in &mut players {
            if player.client_id == projectile.owner || !health.is_alive() {
                continue;
            }
            // Where the shooter saw this target: rewound when it fired from behind a latency.
            let target = match history {
                Some(history) if rewind >= 0.5 => history
                    .at(f64::from(tick.0) - rewind)
                    .map_or(position.0, |seen| seen.0),
                _ => position.0,
            };
            if !circles_overlap(
                projectile_position.0,
                PROJECTILE_RADIUS,
                target,
                PLAYER_RADIUS,
            ) {
                continue;
            }
            commands.entity(projectile_entity).try_despawn();
            if shielded {
                break; // The shield takes it.
            }
            health.0 = health.0.saturating_sub(PROJECTILE_DAMAGE);
            if !health.is_alive() {
                score.deaths = score.deaths.saturating_add(1);
                kills.push(projectile.owner);
                killed.write(Killed {
                    killer: projectile.owner,
                    victim: player.client_id,
                });
            }
            break; // One projectile hits one player.
        }
    }
    for killer in kills {
        for (player, _, _, _, mut score, _) in &mut players {
            if player.client_id == killer {
                score.kills = score.kills.saturating_add(1);
            }
        }
    }
}

/// Dead players start their respawn countdown; when it ends they come back at full health.
fn respawn_players(
    mut commands: Commands,
    tick: Res<SimulationTick>,
    arena: Res<Arena>,
    mut players: Query<(
        Entity,
        &Player,
        &mut Position,
        &mut Health,
        &mut Teleported,
        Option<&Respawning>,
    )>,
) {
    for (entity, player, mut position, mut health, mut teleported, respawning) in &mut players {
        match (health.is_alive(), respawning) {
            (false, None) => {
                commands.entity(entity).insert(Respawning {
                    at: tick.0.saturating_add(RESPAWN_TICKS),
                });
            }
            (false, Some(respawning)) if tick.0 >= respawning.at => {
                health.0 = MAX_HEALTH;
                position.0 = spawn_point(&arena, player.client_id, tick.0);
                // A jump, not a move: clients restart from here instead of smoothing.
                teleported.bump();
                commands.entity(entity).remove::<Respawning>().insert((
                    Shielded,
                    ShieldedUntil(tick.0.saturating_add(SPAWN_PROTECTION_TICKS)),
                ));
            }
            _ => {}
        }
    }
}

/// Every new player starts shielded.
fn shield_new_players(add: On<Add, Player>, mut commands: Commands, tick: Res<SimulationTick>) {
    commands.entity(add.entity).insert((
        Shielded,
        ShieldedUntil(tick.0.saturating_add(SPAWN_PROTECTION_TICKS)),
    ));
}

/// Shields end when their time is up.
fn lower_shields(
    mut commands: Commands,
    tick: Res<SimulationTick>,
    shields: Query<(Entity, &ShieldedUntil)>,
) {
    for (entity, until) in &shields {
        if tick.0 >= until.0 {
            commands
                .entity(entity)
                .remove::<(Shielded, ShieldedUntil)>();
        }
    }
}

#[cfg(test)]
mod tests {
    use skirmish_shared::arena::MAX_ARENA_TILES;
    use skirmish_shared::game::PLAYER_RADIUS;

    use super::*;

    #[test]
    fn spawn_points_are_clear_and_spread_over_the_arena() {
        // One tile: where players spawned before arenas had tiles.
        let arena = Arena::default();
        for client_id in 0..360 {
            let old = snap_to_grid(
                Vec2::from_angle(client_id as f32 * 137.5_f32.to_radians()) * 1000.0 * 0.2,
            );
            assert_eq!(spawn_point(&arena, client_id, 0), old);
        }
        for tiles in 1..=MAX_ARENA_TILES {
            let arena = Arena::new(tiles);
            let points: Vec<Vec2> = (0..360).map(|id| spawn_point(&arena, id, 7)).collect();
            for point in &points {
                assert!(
                    arena.contains(*point) && !arena.circle_hits_wall(*point, PLAYER_RADIUS),
                    "{point} is a free spot in {arena:?}"
                );
            }
            let farthest = points
                .iter()
                .map(|point| point.abs().max_element())
                .fold(0.0, f32::max);
            assert!(
                farthest >= arena.half() - TILE_SIZE / 2.0,
                "in {arena:?} some players spawn in the outer tiles (farthest {farthest})"
            );
        }
    }
}
