//! Fault schedules for the match simulation ([`super::match_sim`]): which faults strike a match,
//! when and for how long, drawn from a seed, and shrunk to the shortest schedule that still
//! fails.

use std::fmt;

/// What a hostile client does while its fault lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// The game's own abuse of its messages ([`super::match_sim::SimGame::abuse`]): the demo
    /// renames itself every tick.
    GameAbuse,
    /// Acknowledges the snapshot after the one it acknowledged last, every tick, after a quiet
    /// start: its acks never land among the snapshots in flight.
    TrickleAcks,
    /// Acknowledges nothing.
    NeverAck,
    /// Twenty extra input messages a tick.
    InputFlood,
    /// Inputs for ticks near the end of time, acknowledging a snapshot from the far future.
    FarFutureTicks,
    /// Random datagrams at the server from a port of its own, a few a tick.
    Junk,
}

const ATTACKS: [Attack; 6] = [
    Attack::GameAbuse,
    Attack::TrickleAcks,
    Attack::NeverAck,
    Attack::InputFlood,
    Attack::FarFutureTicks,
    Attack::Junk,
];

/// One fault of a schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// The network loses this share of every datagram.
    Loss(f32),
    /// Every datagram is delayed this much, plus up to `jitter_ms` more (so datagrams overtake
    /// each other).
    Lag {
        /// Extra one-way delay.
        latency_ms: u16,
        /// Extra random delay on top.
        jitter_ms: u16,
    },
    /// This share of datagrams arrives twice.
    Duplicates(f32),
    /// With this probability per datagram, one of the last datagrams is delivered again.
    Replays(f32),
    /// Client `0` (its slot) is cut off: nothing it sends or is sent arrives.
    CutOff(usize),
    /// Client `0` vanishes (its process killed, no goodbye) and a new one joins in its slot with
    /// a new id when the fault ends.
    Vanish(usize),
    /// The server is not updated (a stalled process); it catches up after.
    ServerStall,
    /// The clock jumps forward this many milliseconds at the fault's start.
    ClockJump(u16),
    /// The client in the slot attacks.
    Hostile(usize, Attack),
}

/// A fault at a tick of the match, lasting some ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scheduled {
    /// The step the fault starts at (from when every client has joined).
    pub at: u32,
    /// How many steps it lasts.
    pub ticks: u32,
    /// The fault.
    pub fault: Fault,
}

impl Scheduled {
    /// Whether the fault is on at step `step`.
    pub fn active(&self, step: u32) -> bool {
        (self.at..self.at.saturating_add(self.ticks)).contains(&step)
    }
}

/// The faults of one simulated match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schedule {
    /// The faults, in no particular order (several may overlap).
    pub faults: Vec<Scheduled>,
}

impl Schedule {
    /// A schedule for a match of `clients` clients whose faults all end by step `length`, drawn
    /// from `seed`: a few faults of any kind, at any time, each lasting up to about two seconds
    /// at 60 Hz.
    pub fn from_seed(seed: u64, clients: usize, length: u32) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let clients = clients.max(1);
        let count = rng.usize(2..=8);
        let faults = (0..count)
            .map(|_| {
                let ticks = rng.u32(1..=120).min(length);
                let at = rng.u32(0..=length - ticks);
                let client = rng.usize(..clients);
                let fault = match rng.u8(0..9) {
                    0 => Fault::Loss(rng.f32() * 0.6),
                    1 => Fault::Lag {
                        latency_ms: rng.u16(0..=300),
                        jitter_ms: rng.u16(0..=150),
                    },
                    2 => Fault::Duplicates(rng.f32() * 0.5),
                    3 => Fault::Replays(rng.f32() * 0.3),
                    4 => Fault::CutOff(client),
                    5 => Fault::Vanish(client),
                    6 => Fault::ServerStall,
                    7 => Fault::ClockJump(rng.u16(50..=2_000)),
                    _ => Fault::Hostile(client, ATTACKS[rng.usize(..ATTACKS.len())]),
                };
                // A stall holds a few ticks, not seconds: longer is a server that died.
                let ticks = if fault == Fault::ServerStall {
                    ticks.min(20)
                } else {
                    ticks
                };
                Scheduled { at, ticks, fault }
            })
            .collect();
        Self { faults }
    }

    /// The shortest schedule found that still fails by `fails`: faults dropped one at a time,
    /// then each one's duration halved, while the run still fails. At most `budget` runs.
    pub fn shrink(&self, budget: usize, mut fails: impl FnMut(&Schedule) -> bool) -> Schedule {
        let mut best = self.clone();
        let mut runs = 0;
        let mut try_one = |candidate: Schedule, best: &mut Schedule| {
            if runs >= budget {
                return false;
            }
            runs += 1;
            if fails(&candidate) {
                *best = candidate;
                true
            } else {
                false
            }
        };
        let mut index = 0;
        while index < best.faults.len() {
            let mut candidate = best.clone();
            candidate.faults.remove(index);
            if !try_one(candidate, &mut best) {
                index += 1;
            }
        }
        for index in 0..best.faults.len() {
            while best.faults[index].ticks > 1 {
                let mut candidate = best.clone();
                candidate.faults[index].ticks /= 2;
                if !try_one(candidate, &mut best) {
                    break;
                }
            }
        }
        best
    }

    /// The step after the last fault ends.
    pub fn end(&self) -> u32 {
        self.faults
            .iter()
            .map(|fault| fault.at.saturating_add(fault.ticks))
            .max()
            .unwrap_or(0)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut faults = self.faults.clone();
        faults.sort_by_key(|fault| fault.at);
        for fault in faults {
            writeln!(
                f,
                "  steps {:>4}..{:<4} {:?}",
                fault.at,
                fault.at + fault.ticks,
                fault.fault
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_is_one_schedule_within_the_length() {
        for seed in 0..200 {
            let schedule = Schedule::from_seed(seed, 3, 300);
            assert_eq!(schedule, Schedule::from_seed(seed, 3, 300));
            assert!(schedule.end() <= 300);
            assert!((2..=8).contains(&schedule.faults.len()));
        }
        assert_ne!(
            Schedule::from_seed(1, 3, 300),
            Schedule::from_seed(2, 3, 300)
        );
    }

    #[test]
    fn shrinking_keeps_only_what_still_fails() {
        let mut schedule = Schedule::from_seed(9, 3, 300);
        schedule.faults[1].ticks = 100;
        let culprit = schedule.faults[1];
        // Fails whenever the culprit's fault is there and lasts 3 ticks or more.
        let shrunk = schedule.shrink(200, |candidate| {
            candidate
                .faults
                .iter()
                .any(|fault| fault.fault == culprit.fault && fault.ticks >= 3)
        });
        assert_eq!(shrunk.faults.len(), 1, "{shrunk}");
        assert_eq!(shrunk.faults[0].fault, culprit.fault);
        assert!((3..6).contains(&shrunk.faults[0].ticks), "{shrunk}");
    }
}
