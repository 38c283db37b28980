//! Lag compensation against a client that lies about its view: the "backtrack" cheat, claiming to
//! see the world 250 ms ago on a clean link, gets no further back than an honest client's view.

use bevy::prelude::*;
use skirmish_net::client::{ClientSystems, InterpolationClock};
use skirmish_net::prelude::*;
use skirmish_net::server::lag_compensation::LagCompensation;
use skirmish_net::server::{ConnectedClient, ConnectedClients};
use skirmish_net::testing::{TestNet, Wire};

use crate::protocol::*;

/// How far back the cheater claims to see: 250 ms at 60 Hz.
const CLAIMED_TICKS: f64 = 15.0;

fn claim_older_view(mut clock: ResMut<InterpolationClock>) {
    if let Some(tick) = clock.render_tick.as_mut() {
        *tick -= CLAIMED_TICKS;
    }
}

fn restore_view(mut clock: ResMut<InterpolationClock>) {
    if let Some(tick) = clock.render_tick.as_mut() {
        *tick += CLAIMED_TICKS;
    }
}

/// The ticks the server rewinds client `index`'s actions by, now.
fn rewind(net: &TestNet, index: usize) -> Option<f64> {
    let world = net.server().world();
    let client = *world
        .resource::<ConnectedClients>()
        .get(&net.client_id(index))?;
    let client = world.get::<ConnectedClient>(client)?;
    client.view?;
    let tick = world.resource::<SimulationTick>().0;
    Some(
        world
            .resource::<LagCompensation>()
            .rewind_ticks(tick, TICK_RATE, client),
    )
}

#[test]
fn a_client_claiming_an_old_view_is_rewound_no_further_than_an_honest_one() {
    let server = server_app(|app| {
        app.init_resource::<LagCompensation>();
    });
    let mut net = TestNet::new(Wire::Memory, 5, server).unwrap();
    let honest = net.add_client(client_app(|_| {}), "honest").unwrap();
    let cheater = net
        .add_client(
            client_app(|app| {
                app.add_systems(
                    FixedUpdate,
                    (
                        claim_older_view.before(ClientSystems::SendInput),
                        restore_view.after(ClientSystems::SendInput),
                    ),
                );
            }),
            "cheater",
        )
        .unwrap();
    net.connect_all();
    net.run(u32::from(TICK_RATE));
    let (mut honest_most, mut cheater_most) = (0.0f64, 0.0f64);
    for _ in 0..2 * u32::from(TICK_RATE) {
        net.step();
        if let (Some(honest), Some(cheater)) = (rewind(&net, honest), rewind(&net, cheater)) {
            honest_most = honest_most.max(honest);
            cheater_most = cheater_most.max(cheater);
        }
    }
    eprintln!("rewind, most in 2 s: honest {honest_most:.2} ticks, cheater {cheater_most:.2}");
    assert!(honest_most > 0.0, "the honest client is rewound at all");
    // An honest client is about its interpolation delay (50 ms, 3 ticks) behind the snapshot it
    // acks; the bound lets 75 ms through, so a liar gains at most that margin.
    let margin =
        LagCompensation::default().view_behind_ack.as_secs_f64() * f64::from(TICK_RATE) - 2.0;
    assert!(
        cheater_most <= honest_most + margin,
        "the cheater is rewound {cheater_most:.2} ticks, the honest client {honest_most:.2}"
    );
    assert!(
        cheater_most < CLAIMED_TICKS - 5.0,
        "the claimed 250 ms are not honoured: {cheater_most:.2} ticks"
    );
}
