//! The feel harness end to end (the same code as `skirmish bench feel`): over 100 ms of round
//! trip with jitter and loss, lag compensation makes a perfect-aim bot hit a target moving at
//! full speed, and without it the same bot misses; own shots show in the frame of the click.

use skirmish_bench::feel as harness;

#[test]
fn lag_compensation_turns_misses_into_hits_at_100_ms() {
    let condition = harness::conditions()
        .into_iter()
        .find(|condition| condition.name.starts_with("100ms"))
        .expect("the 100 ms condition");
    let with = harness::run(&condition, true, 6.0);
    let without = harness::run(&condition, false, 6.0);
    println!("{}", harness::table(&[with.clone(), without.clone()]));
    assert!(with.shots >= 15, "the bot fired: {with:?}");
    assert!(
        with.hit_rate >= 0.9,
        "with lag compensation perfect aim hits: {with:?}"
    );
    assert!(
        without.hit_rate < with.hit_rate - 0.3,
        "without it the same aim misses: {without:?} vs {with:?}"
    );
    assert_eq!(
        with.fire_to_screen_frames, 0.0,
        "own shots show in the frame of the click"
    );
    assert!(
        with.fire_to_server_frames >= 3.0,
        "the server's comes later"
    );
}
