//! The netcode's end-to-end tests, on their own small game ([`protocol`]) and the crate's test
//! harness (`skirmish_net::testing`): one binary, so Bevy is linked once for all of them.

mod acks;
mod control;
mod faults;
mod harness;
mod hostile;
mod hostile_server;
mod input_buffer;
mod interop;
mod interpolation;
mod lag_compensation;
mod no_game_types;
mod prediction;
mod protocol;
mod replication;
mod resting;
mod secure;
mod sim;
