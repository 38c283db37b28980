//! Replay protection: a window of the newest 256 sequence numbers received from one peer, so a
//! recorded packet played back later is refused. Written subtraction-side, so no sequence number
//! (up to `u64::MAX`) overflows.

/// Sequence numbers remembered per peer.
pub const REPLAY_WINDOW: u64 = 256;

/// Which recent sequence numbers one peer has already used.
#[derive(Clone)]
pub struct ReplayProtection {
    most_recent: u64,
    /// `received[s % 256]` holds the newest `s` seen in that slot, or [`EMPTY`].
    received: [u64; REPLAY_WINDOW as usize],
}

/// An empty slot. `u64::MAX` itself is never accepted as a sequence number: a peer counting from
/// 0 (or the server's global `1 << 63`) never gets there.
const EMPTY: u64 = u64::MAX;

impl Default for ReplayProtection {
    fn default() -> Self {
        Self {
            most_recent: 0,
            received: [EMPTY; REPLAY_WINDOW as usize],
        }
    }
}

impl std::fmt::Debug for ReplayProtection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayProtection")
            .field("most_recent", &self.most_recent)
            .finish_non_exhaustive()
    }
}

impl ReplayProtection {
    /// Whether `sequence` is too old or already seen. Checked before decrypting.
    pub fn already_received(&self, sequence: u64) -> bool {
        if sequence == EMPTY {
            return true;
        }
        if self.most_recent >= REPLAY_WINDOW && sequence <= self.most_recent - REPLAY_WINDOW {
            return true;
        }
        let stored = self.received[(sequence % REPLAY_WINDOW) as usize];
        stored != EMPTY && stored >= sequence
    }

    /// Records `sequence` as received. Called only after the packet decrypted.
    pub fn advance(&mut self, sequence: u64) {
        if sequence == EMPTY {
            return;
        }
        self.most_recent = self.most_recent.max(sequence);
        self.received[(sequence % REPLAY_WINDOW) as usize] = sequence;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sequences_pass_and_repeats_do_not() {
        let mut replay = ReplayProtection::default();
        for sequence in 0..1000 {
            assert!(!replay.already_received(sequence), "{sequence} is new");
            replay.advance(sequence);
            assert!(
                replay.already_received(sequence),
                "{sequence} was just seen"
            );
        }
        assert!(replay.already_received(0), "older than the window");
        assert!(replay.already_received(1000 - REPLAY_WINDOW));
        assert!(
            !replay.already_received(1000 + REPLAY_WINDOW),
            "a jump ahead is new"
        );
    }

    #[test]
    fn out_of_order_inside_the_window_passes_once() {
        let mut replay = ReplayProtection::default();
        replay.advance(500);
        assert!(!replay.already_received(400));
        replay.advance(400);
        assert!(replay.already_received(400));
        assert!(!replay.already_received(401));
    }

    #[test]
    fn the_top_of_the_sequence_space_neither_overflows_nor_is_refused() {
        let mut replay = ReplayProtection::default();
        for sequence in u64::MAX - 300..u64::MAX {
            assert!(!replay.already_received(sequence), "{sequence} is new");
            replay.advance(sequence);
            assert!(replay.already_received(sequence));
        }
        assert!(replay.already_received(0));
        assert!(replay.already_received(u64::MAX - 300));
        assert!(
            replay.already_received(u64::MAX),
            "the reserved top value is refused"
        );
    }
}
