//! The demo's bots on a secure server: a client whose token claims a bot's id is refused with a
//! reason, and the bot plays on. (The netcode's own token and refusal tests are in
//! `crates/net/tests/netcode/secure.rs`.)

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;
use bevy::prelude::*;
use skirmish_client::{ConnectTimeout, ConnectionStatus};
use skirmish_net::tokens::mint_token;
use skirmish_server::ConnectedClients;

fn request(addr: SocketAddr, client_id: u64) -> skirmish_net::tokens::TokenRequest {
    token_request(addr, client_id, Duration::from_secs(1))
}

fn client_with_token(token: skirmish_net::netcode::ConnectToken) -> App {
    token_client(token, |app| {
        app.insert_resource(ConnectTimeout(Duration::from_secs(3)));
    })
}

#[test]
fn a_client_claiming_a_bot_id_is_refused_and_the_bot_plays_on() {
    use skirmish_server::bots::{BOT_ID_BASE, MAX_BOTS, spawn_bot};
    use skirmish_shared::prelude::Player;

    let mut server = secure_server_at(loopback_any(), None);
    spawn_bot(server.app.world_mut(), 1);
    let mut player = client_with_token(mint_token(&TEST_KEY, &request(server.addr, 77)).unwrap());
    connect_all(&mut server, &mut [&mut player]);
    // The bot's own id, and the last one of the range (no bot has it yet).
    for claimed in [BOT_ID_BASE + 1, BOT_ID_BASE + MAX_BOTS - 1] {
        let token = mint_token(&TEST_KEY, &request(server.addr, claimed)).unwrap();
        let mut impostor = client_with_token(token);
        run_until(
            &mut server,
            &mut [&mut impostor, &mut player],
            "the impostor is refused",
            |_, c| {
                matches!(
                    *c[0].world().resource::<ConnectionStatus>(),
                    ConnectionStatus::Disconnected { .. }
                )
            },
        );
        match impostor.world().resource::<ConnectionStatus>() {
            ConnectionStatus::Disconnected { reason } => {
                assert!(
                    reason.contains("reserved for the server's bots"),
                    "{reason}"
                );
            }
            other => unreachable!("{other:?}"),
        }
        let clients = server.app.world().resource::<ConnectedClients>();
        assert!(!clients.contains_key(&claimed), "the impostor never played");
        assert_eq!(clients.len(), 1);
    }
    // One player per id: the bot alone holds its id, and the real player plays on.
    let mut players = server.app.world_mut().query::<&Player>();
    let owners: Vec<u64> = players
        .iter(server.app.world())
        .map(|player| player.client_id)
        .collect();
    assert_eq!(
        owners.iter().filter(|id| **id == BOT_ID_BASE + 1).count(),
        1,
        "{owners:?}"
    );
    assert!(is_connected(&player));
}
