//! The replication benchmark (the same code as `skirmish bench`) on a small scenario: its
//! figures are sane and its table prints.

use skirmish_bench::scale::{Scenario, run, table};

#[test]
fn small_scenario_produces_sane_figures() {
    let row = run(Scenario {
        clients: 2,
        entities: 50,
        moving_fraction: 0.5,
        ticks: 10,
        threads: 2,
        world: None,
    });
    assert!(
        row.bytes_per_moving_entity > 0.5,
        "moving entities cost something: {row:?}"
    );
    assert!(row.bytes_per_moving_entity < row.naive_bytes_per_moving_entity);
    assert!(
        row.bytes_per_resting_entity < 0.1,
        "resting costs ~nothing: {row:?}"
    );
    assert!(table(&[row]).lines().count() == 2);
}
