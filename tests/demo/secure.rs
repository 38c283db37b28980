//! Secure servers and refusals: connect tokens (valid, expired, for another server, signed with
//! another key, none at all) and a client of another protocol version. Real netcode over
//! 127.0.0.1; every refusal must end on the client with a reason in words.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::*;
use bevy::prelude::*;
use skirmish_client::{AnnouncedVersion, ConnectTimeout, ConnectionStatus};
use skirmish_net::tokens::{mint_token, mint_token_at};
use skirmish_server::ConnectedClients;

/// A secure server on 127.0.0.1; `public` overrides the address it believes clients dial.
fn secure_server(public: Option<SocketAddr>) -> TestServer {
    secure_server_at(loopback_any(), public)
}

fn request(addr: SocketAddr, client_id: u64) -> skirmish_net::tokens::TokenRequest {
    token_request(addr, client_id, Duration::from_secs(1))
}

fn client_with_token(token: skirmish_net::netcode::ConnectToken) -> App {
    token_client(token, |app| {
        app.insert_resource(ConnectTimeout(Duration::from_secs(3)));
    })
}

/// Steps until the client's connection ended; returns the reason it shows.
fn refusal_reason(server: &mut TestServer, client: &mut App) -> String {
    run_until(
        server,
        &mut [client],
        "the client gives up",
        |_, clients| {
            matches!(
                *clients[0].world().resource::<ConnectionStatus>(),
                ConnectionStatus::Disconnected { .. }
            )
        },
    );
    assert!(
        server.app.world().resource::<ConnectedClients>().is_empty(),
        "nobody got in"
    );
    match client.world().resource::<ConnectionStatus>() {
        ConnectionStatus::Disconnected { reason } => reason.clone(),
        other => unreachable!("{other:?}"),
    }
}

/// A client with `token` is refused, and told the token was not accepted.
fn assert_token_refused(server: &mut TestServer, token: skirmish_net::netcode::ConnectToken) {
    let mut client = client_with_token(token);
    let reason = refusal_reason(server, &mut client);
    assert!(
        reason.contains("did not accept the connect token"),
        "{reason}"
    );
}

#[test]
fn a_valid_token_joins_a_secure_server() {
    let mut server = secure_server(None);
    let token = mint_token(&TEST_KEY, &request(server.addr, 4242)).unwrap();
    let mut client = client_with_token(token);
    connect_all(&mut server, &mut [&mut client]);
    assert_eq!(client_id(&client), 4242, "the token's client id is ours");
    run_until(
        &mut server,
        &mut [&mut client],
        "the player appears",
        |_, c| !players_seen(c[0]).is_empty(),
    );
}

#[test]
fn an_expired_token_is_refused_with_a_reason() {
    let mut server = secure_server(None);
    let an_hour_ago =
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap() - Duration::from_secs(3600);
    let token = mint_token_at(&TEST_KEY, &request(server.addr, 1), an_hour_ago).unwrap();
    assert_token_refused(&mut server, token);
}

#[test]
fn a_token_for_another_server_is_refused() {
    // The server believes clients reach it at another address (as a server behind NAT would):
    // a token naming the address the client actually dials is not for this server.
    let other: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut server = secure_server(Some(other));
    let token = mint_token(&TEST_KEY, &request(server.addr, 2)).unwrap();
    assert_token_refused(&mut server, token);
}

#[test]
fn a_token_signed_with_another_key_is_refused() {
    let mut server = secure_server(None);
    let token = mint_token(&[8; 32], &request(server.addr, 3)).unwrap();
    assert_token_refused(&mut server, token);
}

#[test]
fn a_client_without_a_token_cannot_join_a_secure_server() {
    let mut server = secure_server(None);
    let mut client = client_with(server.addr, "Sneaky", |app| {
        app.insert_resource(ConnectTimeout(Duration::from_secs(2)));
    });
    let reason = refusal_reason(&mut server, &mut client);
    assert!(reason.contains("requires a connect token"), "{reason}");
}

#[test]
fn a_client_of_another_protocol_version_is_told_why() {
    let mut server = server();
    let mut old = client_with(server.addr, "Old", |app| {
        app.insert_resource(AnnouncedVersion(2));
    });
    let mut current = client(server.addr, "Current");
    connect_all(&mut server, &mut [&mut current]);
    let reason = {
        run_until(
            &mut server,
            &mut [&mut old, &mut current],
            "the old client is refused",
            |_, c| {
                matches!(
                    *c[0].world().resource::<ConnectionStatus>(),
                    ConnectionStatus::Disconnected { .. }
                )
            },
        );
        match old.world().resource::<ConnectionStatus>() {
            ConnectionStatus::Disconnected { reason } => reason.clone(),
            other => unreachable!("{other:?}"),
        }
    };
    assert!(
        reason.contains("protocol version") && reason.contains("your game version 2"),
        "{reason}"
    );
    // The server keeps serving the client of the right version.
    assert!(is_connected(&current));
    assert_eq!(server.app.world().resource::<ConnectedClients>().len(), 1);
}

#[test]
fn a_client_claiming_a_bot_id_is_refused_and_the_bot_plays_on() {
    use skirmish_server::bots::{BOT_ID_BASE, MAX_BOTS, spawn_bot};
    use skirmish_shared::prelude::Player;

    let mut server = secure_server(None);
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
