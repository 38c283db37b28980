//! One connection's guard: the slice counts of its sliced messages in progress.

use super::RenetViolation;
use super::limits::RenetLimits;
use super::packet_check::inspect;

/// The state `check_renet_packet` cannot keep: the slice count of every sliced message in
/// progress on the connection. Make one with the renet connection, pass it every packet before
/// renet sees it, and drop it with the connection. It must see every packet renet sees.
///
/// For each channel it remembers the slice count of the most recent sliced messages, up to the
/// most the channel can hold at once (`max_memory_usage_bytes / (SLICE_SIZE + 1)`; see
/// [`RenetLimits`]). All slices of a remembered message must agree with the first one. When a new
/// message pushes the oldest one out, that message and every lower message id are refused from then
/// on. Otherwise the guard could forget a count that renet is still using. A correct peer only
/// has a slice refused that way after that many newer sliced messages on the same channel. On an
/// unreliable channel that means a message too late to matter. On an ordered channel, renet would
/// hit its own memory limit before that happens.
#[derive(Debug, Clone)]
pub struct RenetGuard {
    limits: RenetLimits,
    histories: Vec<(u8, SliceHistory)>,
}

impl RenetGuard {
    /// A guard for a new connection that receives on the channels in `limits`. It allocates its
    /// memory here, once: a few KiB on a server, about 200 KiB on a client, whose server channels
    /// have large budgets.
    pub fn new(limits: RenetLimits) -> Self {
        let histories = limits
            .channels
            .iter()
            .enumerate()
            .filter_map(|(id, limit)| {
                let limit = (*limit)?;
                let id = u8::try_from(id).expect("256 channel ids");
                (limit.max_sliced_messages > 0)
                    .then(|| (id, SliceHistory::new(limit.max_sliced_messages)))
            })
            .collect();
        Self { limits, histories }
    }

    /// The limits this guard enforces.
    #[cfg(any(test, feature = "internals"))]
    pub fn limits(&self) -> &RenetLimits {
        &self.limits
    }

    /// Whether `packet` is safe to hand to renet: everything `check_renet_packet` checks, and
    /// that a slice agrees with the earlier slices of its message. An accepted slice is remembered
    /// and a refused packet changes nothing. It does not allocate.
    pub fn check(&mut self, packet: &[u8]) -> Result<(), RenetViolation> {
        let inspected = inspect(packet, &self.limits)?;
        let Some(slice) = inspected.slice else {
            return Ok(());
        };
        match self
            .histories
            .iter_mut()
            .find(|(id, _)| *id == slice.channel_id)
        {
            Some((_, history)) => history.admit(slice.message_id, slice.num_slices),
            // A channel without a history takes no sliced messages, and `inspect` already refused
            // the slice count.
            None => Err(RenetViolation::TooManySlices),
        }
    }
}

/// The slice counts of the most recent sliced messages of one channel: a ring buffer of
/// `(message id, slice count)` pairs, plus the lowest message id still accepted.
#[derive(Debug, Clone)]
pub(super) struct SliceHistory {
    pub(super) entries: Box<[(u64, u64)]>,
    pub(super) len: usize,
    /// Where the next entry goes, which once the ring is full is also the oldest entry.
    pub(super) next: usize,
    /// Message ids below this are refused: their count may have been forgotten.
    pub(super) floor: u64,
}

impl SliceHistory {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            entries: vec![(0, 0); capacity].into_boxed_slice(),
            len: 0,
            next: 0,
            floor: 0,
        }
    }

    pub(super) fn admit(&mut self, message_id: u64, num_slices: u64) -> Result<(), RenetViolation> {
        if message_id < self.floor {
            return Err(RenetViolation::StaleSlice);
        }
        let capacity = self.entries.len();
        // Newest first: a correct peer's slices belong to one of the last few messages.
        for back in 1..=self.len {
            let (id, count) = self.entries[(self.next + capacity - back) % capacity];
            if id == message_id {
                return if count == num_slices {
                    Ok(())
                } else {
                    Err(RenetViolation::InconsistentSlices)
                };
            }
        }
        if self.len == capacity {
            // Forget the oldest message, and from now on every id up to it too. Ids above it
            // that were accepted are all still remembered, because only oldest entries are
            // forgotten and each one raises the floor past itself.
            let floor = self.floor.max(self.entries[self.next].0.saturating_add(1));
            if message_id < floor {
                return Err(RenetViolation::StaleSlice);
            }
            self.floor = floor;
        } else {
            self.len += 1;
        }
        self.entries[self.next] = (message_id, num_slices);
        self.next = (self.next + 1) % capacity;
        Ok(())
    }
}
