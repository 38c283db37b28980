//! Checks every renet packet a peer sends before renet parses it.
//!
//! renet 2.0 reads a peer's packet and then believes what it read. A slice index becomes a vector
//! index without a bounds check, and the slice count of whichever packet completes a message is
//! used in memory bookkeeping that was set up with the count of the first packet. So one crafted
//! packet (or two that disagree) panics the process that received it. netcode authenticates a peer,
//! but an authenticated peer can still lie. See "What renet 2.0.1 trusts" below for the full list.
//!
//! This module parses renet's wire format with its own code (it shares nothing with renet's parser)
//! and refuses anything renet's own sender never writes for our channels:
//!
//! * [`check_renet_packet`] checks one packet with no state: its layout, its channel, message
//!   lengths, slice counts, indexes and sizes, and ack ranges.
//! * [`RenetGuard`] keeps one connection's state and also checks that every slice of a message
//!   gives the same slice count. No single packet can show that, and renet panics when they disagree.
//!
//! Both are cheap: they walk the packet once and never allocate. A transport calls
//! [`RenetGuard::check`] on each packet before `RenetServer::process_packet_from` or
//! `RenetClient::process_packet`, and drops (or disconnects on) whatever it refuses.
//!
//! # The wire format (renet 2.0)
//!
//! Integers marked *varint* use QUIC's variable-length encoding. The two top bits of the first byte
//! give the length (1, 2, 4 or 8 bytes), and the remaining bits are the value in big-endian order,
//! up to 2^62 - 1. A *u16* is two bytes, big-endian. The first byte of a packet gives its type:
//!
//! | type | packet           | then                                                                  |
//! |------|------------------|-----------------------------------------------------------------------|
//! | 0    | small reliable   | sequence, channel u8, count u16, count x (message id, length, bytes)  |
//! | 1    | small unreliable | sequence, channel u8, count u16, count x (length, bytes)              |
//! | 2    | reliable slice   | sequence, channel u8, message id, slice index, slice count, length, bytes |
//! | 3    | unreliable slice | same as 2                                                             |
//! | 4    | ack              | sequence, newest acked, size, n, n x (gap, size)                      |
//!
//! Every field except the channel and the count is a varint. renet sends a message longer than
//! [`SLICE_SIZE`] as slices: each slice except the last carries exactly [`SLICE_SIZE`] bytes, and
//! the last carries 1 to [`SLICE_SIZE`]. An ack packet lists acknowledged sequence ranges from the
//! newest down. The first range ends at the newest acked sequence and spans `size + 1` sequences.
//! Each later range ends `gap + 2` below the start of the range before it.
//!
//! # What renet 2.0.1 trusts
//!
//! Check these again when upgrading renet (paths are in renet's `src/`):
//!
//! * **Slice index** (`channel/slice_constructor.rs:41`): indexed without a bounds check. Nothing
//!   checks `slice_index < num_slices` (`packet.rs:252`, `:285`), so one packet panics. Refused:
//!   [`RenetViolation::SliceIndexOutOfRange`].
//! * **Slice count of later slices**: a message's buffers are sized by its *first* slice
//!   (`slice_constructor.rs:20-21`), but the budget released on completion uses the *completing*
//!   slice's count (`channel/unreliable.rs:187`, `channel/reliable.rs:342`). A later slice with a
//!   larger count and index panics at `slice_constructor.rs:41`. One that completes the message
//!   with a larger count underflows the budget, which panics with overflow checks and otherwise
//!   wraps and disables the channel's memory limit. Refused by [`RenetGuard`]:
//!   [`RenetViolation::InconsistentSlices`].
//! * **Slice count** (`packet.rs:254`, `:287`): anything up to 1,000,000 is accepted, and the
//!   buffers are allocated up front (`slice_constructor.rs:20-21`). The caller checks the channel
//!   budget first (`unreliable.rs:167-168`, `reliable.rs:328-329`), so with our budgets this is
//!   not 1.2 GB. But a 10-byte packet still reserves and allocates a whole channel budget (up to
//!   10 MiB on a client), and reliable channels never drop an incomplete message. Refused:
//!   [`RenetViolation::TooManySlices`] and [`RenetViolation::TooFewSlices`].
//! * **Slice sizes**: unreliable slices are not checked when parsed (`packet.rs:291`), and an
//!   empty last slice is accepted (`slice_constructor.rs:28`). Refused:
//!   [`RenetViolation::WrongSliceSize`].
//! * **Message lengths**: zero-length messages are accepted, and the channel budget counts message
//!   bytes only (`unreliable.rs:161`, `reliable.rs:293`, `:310`). So empty messages cost nothing
//!   against the budget. On an ordered channel a peer can park them at far-ahead message ids, where
//!   they are never delivered and never freed. Refused: [`RenetViolation::EmptyMessage`]. Not
//!   refused (see below): tiny messages at far-ahead ids.
//! * **Channel id and kind** (`remote_connection.rs:403-437`): an unknown channel disconnects the
//!   peer, with no panic. Refused earlier: [`RenetViolation::UnknownChannel`] and
//!   [`RenetViolation::WrongChannelKind`].
//! * **Integer widths** (`packet.rs:252-253`, `:285-286`, and octets' varint lengths): varints are
//!   cast to `usize` before the range checks, which truncates on 32-bit targets. This parser
//!   compares them as `u64`.
//! * **Ack ranges** (`packet.rs:313`, `:327`, `:335`): checked by renet, with no panic. Refused
//!   anyway: [`RenetViolation::BadAckRange`]. renet also ignores bytes after a packet. Refused:
//!   [`RenetViolation::TrailingBytes`].
//!
//! No check here can fix what needs renet's own state. Each of the following costs only the
//! offending peer's own connection, or bounded memory:
//! * Reliable message ids: a 1-byte message parked at a far-ahead id costs one budget byte but
//!   tens of heap bytes (a map entry and its buffer), so the real footprint can exceed the budget
//!   many times over.
//! * `ReliableUnordered` channels keep every delivered id ahead of the oldest one in an uncounted
//!   set (`reliable.rs:312`). That growth is unbounded. We use none.
//! * Pending acks: renet caps them at 64 ranges on one path (`remote_connection.rs:658`) but not on
//!   the other (`:648`). Decreasing sequence numbers grow the list until renet can no longer write
//!   its ack packet into its 1400-byte buffer (`:593`), and it disconnects that peer.
//! * Incomplete unreliable messages: they are dropped after 3 s, but the sweep stops at the first
//!   fresh message id (`unreliable.rs:206`). This stays within the channel budget.
//!
//! The work is split by job: `limits` (what each channel accepts, [`RenetLimits`]), `violation`
//! (why a packet was refused, [`RenetViolation`]), `packet_check` (parsing one packet,
//! [`check_renet_packet`]) and `connection_guard` (a connection's slice counts, [`RenetGuard`]).

mod connection_guard;
mod limits;
mod packet_check;
#[cfg(test)]
mod tests;
mod violation;

pub use connection_guard::RenetGuard;
#[cfg(any(test, feature = "internals"))]
pub use limits::ChannelKind;
pub use limits::{MAX_PACKET_BYTES, RenetLimits, SLICE_SIZE};
#[cfg(any(test, feature = "internals"))]
pub use packet_check::check_renet_packet;
pub use violation::RenetViolation;
