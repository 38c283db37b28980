//! Secure servers and refusals: connect tokens (valid, expired, for another server, signed with
//! another key, none at all) and a client of another protocol version. Every refusal must end on
//! the client with a reason in words.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bevy::prelude::*;
use skirmish_net::client::{AnnouncedVersion, ConnectTimeout};
use skirmish_net::netcode::ConnectToken;
use skirmish_net::server::ConnectedClients;
use skirmish_net::socket::LinkConditioner;
use skirmish_net::testing::{TestNet, Wire};
use skirmish_net::tokens::{mint_token, mint_token_at};

use crate::protocol::*;

/// A secure test net on the in-memory wire; `public` overrides the address the server believes
/// clients dial.
fn secure_net(seed: u64, public: Option<SocketAddr>) -> TestNet {
    TestNet::with_config(Wire::Memory, seed, server_app(|_| {}), &secure(public)).unwrap()
}

/// A token request for `client_id` at the net's server, timing out after a second.
fn request(net: &TestNet, client_id: u64) -> skirmish_net::tokens::TokenRequest {
    token_request(net.server_addr(), client_id, Duration::from_secs(1))
}

/// Adds a client with `token` that gives up connecting after 3 s.
fn add_client_with_token(net: &mut TestNet, token: ConnectToken) -> usize {
    let client = client_app(|app| {
        app.insert_resource(ConnectTimeout(Duration::from_secs(3)));
    });
    net.add_token_client(client, token, "T", LinkConditioner::default())
        .unwrap()
}

/// Steps until client `index`'s connection ended; returns the reason it shows.
fn refusal_reason(net: &mut TestNet, index: usize) -> String {
    net.run_until("the client gives up", 600, |net| {
        net.disconnect_reason(index).is_some()
    });
    assert!(
        net.server()
            .world()
            .resource::<ConnectedClients>()
            .is_empty(),
        "nobody got in"
    );
    net.disconnect_reason(index).unwrap()
}

/// A client with `token` is refused, and told the token was not accepted.
fn assert_token_refused(net: &mut TestNet, token: ConnectToken) {
    let client = add_client_with_token(net, token);
    let reason = refusal_reason(net, client);
    assert!(
        reason.contains("did not accept the connect token"),
        "{reason}"
    );
}

#[test]
fn a_valid_token_joins_a_secure_server() {
    let mut net = secure_net(1, None);
    let token = mint_token(&KEY, &request(&net, 4242)).unwrap();
    let client = add_client_with_token(&mut net, token);
    net.connect_all();
    assert_eq!(net.client_id(client), 4242, "the token's client id is ours");
    net.run_until("the dot appears", 600, |net| {
        let world = net.client_mut(client).world_mut();
        world.query::<&Owner>().iter(world).next().is_some()
    });
}

#[test]
fn an_expired_token_is_refused_with_a_reason() {
    let mut net = secure_net(2, None);
    let an_hour_ago =
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap() - Duration::from_secs(3600);
    let token = mint_token_at(&KEY, &request(&net, 1), an_hour_ago).unwrap();
    assert_token_refused(&mut net, token);
}

#[test]
fn a_token_for_another_server_is_refused() {
    // The server believes clients reach it at another address (as a server behind NAT would):
    // a token naming the address the client actually dials is not for this server.
    let other: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut net = secure_net(3, Some(other));
    let token = mint_token(&KEY, &request(&net, 2)).unwrap();
    assert_token_refused(&mut net, token);
}

#[test]
fn a_token_signed_with_another_key_is_refused() {
    let mut net = secure_net(4, None);
    let token = mint_token(&[8; 32], &request(&net, 3)).unwrap();
    assert_token_refused(&mut net, token);
}

#[test]
fn a_client_without_a_token_cannot_join_a_secure_server() {
    let mut net = secure_net(5, None);
    let client = client_app(|app| {
        app.insert_resource(ConnectTimeout(Duration::from_secs(2)));
    });
    let sneaky = net.add_client(client, "Sneaky").unwrap();
    let reason = refusal_reason(&mut net, sneaky);
    assert!(reason.contains("requires a connect token"), "{reason}");
}

#[test]
fn a_client_of_another_protocol_version_is_told_why() {
    let mut net = connected(Wire::Memory, 6, 1);
    let old = client_app(|app| {
        app.insert_resource(AnnouncedVersion(PROTOCOL.version - 1));
    });
    let old = net.add_client(old, "Old").unwrap();
    net.run_until("the old client is refused", 600, |net| {
        net.disconnect_reason(old).is_some()
    });
    let reason = net.disconnect_reason(old).unwrap();
    let announced = format!("your game version {}", PROTOCOL.version - 1);
    assert!(
        reason.contains("protocol version") && reason.contains(&announced),
        "{reason}"
    );
    // The server keeps serving the client of the right version.
    assert!(net.is_welcomed(0));
    assert_eq!(net.server().world().resource::<ConnectedClients>().len(), 1);
}
