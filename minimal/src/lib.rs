//! **Gems**: the smallest game on `skirmish-net`, and a forker's starting point.
//!
//! Ships steered with a helm (turn left or right, thrust) fly around a field and collect gems.
//! Nothing here comes from the Skirmish demo: its own components ([`shared::Ship`],
//! [`shared::Gem`], [`shared::Haul`]), its own input ([`shared::Helm`]), its own message
//! ([`shared::Collected`]), and its ship predicted and interpolated by `skirmish-net`.
//!
//! - [`shared`]: what both apps agree on, registered in [`shared::GemsPlugin`];
//! - [`server`]: the authoritative app (ships for joining clients, gems, pickups);
//! - [`client`]: a headless client app (its ship predicted, the others interpolated).

pub mod client;
pub mod server;
pub mod shared;
