//! Opening the server's socket: the settings checked, the netcode and renet server inserted, the
//! arena and the bots put in place.

use std::net::{SocketAddr, UdpSocket};

use bevy::prelude::*;
use skirmish_net::server::ListenConfig;
use skirmish_net::socket::GameSocket;
use skirmish_shared::arena::MAX_ARENA_TILES;

use crate::{ServerSettings, StartError, bots};

/// Opens the server socket described by `settings` and inserts the renet server and netcode
/// transport into `world`. Returns the bound address (useful with port 0).
///
/// Secure (connect tokens required) when `settings.private_key` is set; otherwise unsecure, which
/// is fine for a listen server on loopback or a LAN.
pub fn listen(world: &mut World, settings: &ServerSettings) -> Result<SocketAddr, StartError> {
    let socket = UdpSocket::bind(settings.bind).map_err(StartError::Socket)?;
    listen_on(world, socket, settings)
}

/// Like [`listen`], with a socket the caller already bound.
pub fn listen_on(
    world: &mut World,
    socket: UdpSocket,
    settings: &ServerSettings,
) -> Result<SocketAddr, StartError> {
    let socket = GameSocket::new(socket, settings.conditioner).map_err(StartError::Socket)?;
    listen_on_socket(world, socket, settings)
}

/// Like [`listen`], on a [`GameSocket`] the caller made (a test harness's socket on a test clock
/// or an in-memory network); `settings.conditioner` is not used: the socket has its own.
pub fn listen_on_socket(
    world: &mut World,
    socket: GameSocket,
    settings: &ServerSettings,
) -> Result<SocketAddr, StartError> {
    if settings.tick_rate == 0 || settings.tick_rate > 240 {
        return Err(StartError::InvalidSetting(format!(
            "tick rate must be between 1 and 240 Hz, got {}",
            settings.tick_rate
        )));
    }
    if !(1..=MAX_ARENA_TILES).contains(&settings.arena.tiles) {
        return Err(StartError::InvalidSetting(format!(
            "the arena is 1 to {MAX_ARENA_TILES} tiles wide, got {}",
            settings.arena.tiles
        )));
    }
    let config = ListenConfig {
        public_addresses: settings.public_addresses.clone(),
        max_clients: settings.max_clients,
        snapshot_rate: settings.snapshot_rate,
        conditioner: settings.conditioner,
        private_key: settings.private_key,
    };
    let local_addr = skirmish_net::server::listen_on(world, socket, &config)?;
    if settings.bots as u64 > bots::MAX_BOTS {
        return Err(StartError::InvalidSetting(format!(
            "at most {} bots, got {}",
            bots::MAX_BOTS,
            settings.bots
        )));
    }
    world.insert_resource(settings.bot_skill);
    // Bots spawn in it; the arena plugin sends it to clients.
    world.insert_resource(settings.arena);
    for index in 0..settings.bots {
        bots::spawn_bot(world, index as u64);
    }
    Ok(local_addr)
}
