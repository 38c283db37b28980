//! The demo's end-to-end tests: its gameplay, launcher, operations, benchmarks and feel, and what only the
//! demo's game has (its arena, roster and bots). The netcode's own tests are in
//! `crates/net/tests/netcode`, on a small game of their own. One binary, so Bevy is linked once
//! for all of them.

mod bench;
mod cli;
mod common;
mod feel;
mod gameplay;
mod hostile;
mod ops;
mod replication;
mod secure;
mod sim;
