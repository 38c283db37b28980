//! Sound effects (cargo feature `audio`; alsa needs `libasound2-dev` on Linux).
//!
//! Every sound follows from replicated state, so it needs no extra messages: a new projectile
//! plays a shot, a player's health going down a hit, a kill a death, the local player coming back
//! to life a respawn. Sounds further from the camera are quieter. The WAV files are synthesised by
//! `assets/src/make_sounds.py` and compiled into the binary.

use std::sync::Arc;

use bevy::audio::Volume;
use bevy::platform::collections::HashMap;
use bevy::prelude::*;
use skirmish_net::client::{ClientSession, SpawnKey};
use skirmish_shared::prelude::*;

use crate::assets::asset_bytes;
use crate::net::{KillFeed, LocalPlayer};

/// The embedded sound effects.
#[derive(Resource)]
pub struct Sounds {
    shot: Handle<AudioSource>,
    hit: Handle<AudioSource>,
    death: Handle<AudioSource>,
    respawn: Handle<AudioSource>,
}

/// Beyond this distance from the camera a sound is silent.
const HEARING_RANGE: f32 = 900.0;

pub(crate) fn plugin(app: &mut App) {
    let mut sources = app.world_mut().resource_mut::<Assets<AudioSource>>();
    let mut add = |bytes: &'static [u8]| {
        sources.add(AudioSource {
            bytes: Arc::from(bytes),
        })
    };
    let sounds = Sounds {
        shot: add(asset_bytes!("sounds/shot.wav")),
        hit: add(asset_bytes!("sounds/hit.wav")),
        death: add(asset_bytes!("sounds/death.wav")),
        respawn: add(asset_bytes!("sounds/respawn.wav")),
    };
    app.insert_resource(sounds)
        .add_observer(play_shot)
        .add_systems(Update, (play_health_changes, play_kills));
}

/// Volume for a sound at `at`, heard from `camera`: full up close, silent at [`HEARING_RANGE`].
fn volume_at(camera: Option<&GlobalTransform>, at: Vec2, base: f32) -> f32 {
    let distance = camera.map_or(0.0, |camera| camera.translation().truncate().distance(at));
    base * (1.0 - distance / HEARING_RANGE).clamp(0.0, 1.0)
}

fn play(commands: &mut Commands, sound: &Handle<AudioSource>, volume: f32) {
    if volume <= 0.0 {
        return;
    }
    commands.spawn((
        AudioPlayer::new(sound.clone()),
        PlaybackSettings::DESPAWN.with_volume(Volume::Linear(volume)),
    ));
}

/// A shot sound for each projectile that appears, quieter far from the camera.
fn play_shot(
    add: On<Add, Projectile>,
    mut commands: Commands,
    sounds: Res<Sounds>,
    camera: Query<&GlobalTransform, With<Camera2d>>,
    positions: Query<&Position>,
    keys: Query<&SpawnKey>,
    session: Res<ClientSession>,
) {
    let Ok(position) = positions.get(add.entity) else {
        return;
    };
    if keys
        .get(add.entity)
        .is_ok_and(|key| key.owner == session.client_id)
    {
        return; // Our own shot, heard when we fired it.
    }
    play(
        &mut commands,
        &sounds.shot,
        volume_at(camera.single().ok(), position.0, 0.35),
    );
}

/// A hit when health drops; a respawn chime when the local player comes back.
fn play_health_changes(
    mut commands: Commands,
    sounds: Res<Sounds>,
    camera: Query<&GlobalTransform, With<Camera2d>>,
    players: Query<(Entity, &Health, &Position, Has<LocalPlayer>), Changed<Health>>,
    alive: Query<(), With<Health>>,
    mut last: Local<HashMap<Entity, u8>>,
) {
    let camera = camera.single().ok();
    for (entity, health, position, local) in &players {
        let before = last.insert(entity, health.0);
        match before {
            Some(before) if health.0 < before && health.is_alive() => {
                play(
                    &mut commands,
                    &sounds.hit,
                    volume_at(camera, position.0, 0.6),
                );
            }
            Some(0) if local && health.is_alive() => {
                play(&mut commands, &sounds.respawn, 0.5);
            }
            _ => {}
        }
    }
    last.retain(|entity, _| alive.contains(*entity));
}

fn play_kills(mut commands: Commands, sounds: Res<Sounds>, feed: Res<KillFeed>) {
    if feed.is_changed() && !feed.is_added() && !feed.0.is_empty() {
        play(&mut commands, &sounds.death, 0.6);
    }
}
