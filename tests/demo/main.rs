//! The demo's end-to-end tests: its gameplay, launcher, operations and feel, and (until they move
//! to `crates/net/tests`) the netcode tests that still run on the demo's game. One binary, so
//! Bevy is linked once for all of them.

mod cli;
mod common;
mod feel;
mod gameplay;
mod hostile;
mod ops;
mod replication;
mod secure;
