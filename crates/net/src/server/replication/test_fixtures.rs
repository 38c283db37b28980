//! What the replication tests share: test components and their registry, and a server with
//! spatial interest driven by hand next to decoding clients.

use bevy::prelude::*;

use crate::registry::{AppReplicateExt, Quantize, Quantized, ReplicationRegistry};
use crate::server::replication::{
    ClientReplication, ReplicationState, SnapshotCache, collect_into, resolve_relevance,
};

/// A position, quantized to 1/16 unit.
#[derive(Component, Clone, Copy, Debug)]
pub(super) struct Place(pub(super) Vec2);
/// A velocity, quantized to 1/16 unit.
#[derive(Component, Clone, Copy)]
pub(super) struct Drift(pub(super) Vec2);
/// An angle, 4096 steps per turn.
#[derive(Component, Clone, Copy)]
pub(super) struct Heading(pub(super) f32);

/// Both vectors, at 1/16 unit.
macro_rules! quantize_vec2 {
    ($component:ident) => {
        impl Quantize for $component {
            const FIELDS: usize = 2;
            fn quantize(&self) -> Quantized {
                let q = (self.0 * 16.0).round();
                [q.x as i32, q.y as i32, 0, 0]
            }
            fn dequantize(q: Quantized) -> Self {
                Self(Vec2::new(q[0] as f32, q[1] as f32) / 16.0)
            }
        }
    };
}
quantize_vec2!(Place);
quantize_vec2!(Drift);

impl Quantize for Heading {
    const FIELDS: usize = 1;
    const WRAP: [u32; 4] = [4096, 0, 0, 0];
    fn quantize(&self) -> Quantized {
        let turns = self.0 / std::f32::consts::TAU;
        [
            ((turns.rem_euclid(1.0) * 4096.0).round() as i32) % 4096,
            0,
            0,
            0,
        ]
    }
    fn dequantize(q: Quantized) -> Self {
        Self(q[0] as f32 / 4096.0 * std::f32::consts::TAU)
    }
}

pub(super) fn test_registry(app: &mut App) {
    app.init_resource::<ReplicationRegistry>()
        .replicate_quantized::<Place>()
        .replicate_quantized::<Drift>()
        .replicate_quantized::<Heading>();
}

impl crate::server::interest::Located for Place {
    fn location(&self) -> Vec2 {
        self.0
    }
}

/// A server app with the test registry and spatial interest over `Place` (no replication
/// plugin), and a replication state of its own that the tests drive by hand.
pub(super) fn interest_server(radius: f32, hysteresis: f32) -> (App, ReplicationState) {
    use crate::server::interest::{AppInterestExt, InterestSettings};

    let mut server = App::new();
    server
        .add_plugins(test_registry)
        .spatial_interest::<Place>(InterestSettings {
            radius,
            hysteresis,
            cell: 100.0,
        });
    // Its first collection takes up the locator `spatial_interest` registered.
    (server, ReplicationState::default())
}

/// A server world and a decoding client for interest tests: `(server app, state, client
/// app)`, the state driven by hand (spatial interest registered on `Place`).
pub(super) fn interest_setup() -> (App, ReplicationState, App) {
    use crate::client::ClientSession;
    use crate::client::replica::{ReplicaHistory, ServerEntityMap};

    let (server, state) = interest_server(100.0, 20.0);
    let client = || {
        let mut client = App::new();
        client
            .add_plugins(test_registry)
            .init_resource::<ClientSession>()
            .init_resource::<ServerEntityMap>()
            .init_resource::<ReplicaHistory>();
        client
    };
    (server, state, client())
}

/// The interest view of these tests around `center`: radius 100, band 20, every room.
pub(super) fn test_view(center: Vec2) -> crate::server::interest::InterestView {
    crate::server::interest::InterestView {
        center: Some(center),
        radius: 100.0,
        hysteresis: 20.0,
        rooms: u64::MAX,
        ..default()
    }
}

/// The client's entity for the server's `entity`, if the client has it.
pub(super) fn on_client(client: &App, state: &ReplicationState, entity: Entity) -> Option<Entity> {
    use crate::client::replica::ServerEntityMap;

    client
        .world()
        .resource::<ServerEntityMap>()
        .get(state.net_id(entity).expect("replicated"))
}

/// One tick: collect, then build each client's snapshot (acknowledging the previous one)
/// and apply it on that client's app.
pub(super) fn interest_tick(
    server: &mut App,
    state: &mut ReplicationState,
    cache: &mut SnapshotCache,
    clients: &mut [(&mut ClientReplication, &mut App)],
    tick: u32,
    lag: u32,
) {
    use crate::client::replica::apply_snapshot;
    use crate::protocol::Snapshot;

    let world = server.world_mut();
    world.increment_change_tick();
    collect_into(state, world, tick);
    for (replication, _) in clients.iter_mut() {
        if tick > lag {
            replication.acknowledge(tick - lag);
        }
    }
    let mut refs: Vec<&mut ClientReplication> = clients
        .iter_mut()
        .map(|(replication, _)| &mut **replication)
        .collect();
    resolve_relevance(&mut refs, state, world, tick, None);
    // What the test changes next is newer than this collection.
    world.increment_change_tick();
    for (replication, client) in clients.iter_mut() {
        let payload = replication.build_payload(state, cache, tick);
        let snapshot = Snapshot {
            tick,
            last_input: None,
            payload,
            clock: 0,
            buffer: 0,
            total: None,
        };
        apply_snapshot(client.world_mut(), &snapshot).expect("decodes");
    }
}
