//! Skirmish's benchmarks, as a library: `skirmish bench` prints their figures (a table or JSON)
//! and the demo's tests run the same code.
//!
//! - [`scale`]: replication at scale: bytes per moving and resting entity, and the server's time
//!   per tick, over a grid of clients x entities (optionally a large world with spatial
//!   interest), against sending every entity whole;
//! - [`feel`]: what a player feels under network conditions (hit rate with and without lag
//!   compensation, fire-to-screen frames, corrections, interpolation), a server and a shooting
//!   client over loopback UDP behind the link conditioner.

pub mod feel;
pub mod scale;
