//! Why a renet packet was refused.

use super::MAX_PACKET_BYTES;

/// Why a renet packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenetViolation {
    /// Longer than [`MAX_PACKET_BYTES`].
    PacketTooLong,
    /// The packet ends in the middle of a field or a message.
    Truncated,
    /// Extra bytes after a complete packet.
    TrailingBytes,
    /// The first byte is not one of renet's five packet types.
    UnknownPacketType(u8),
    /// No channel with this id exists in this direction.
    UnknownChannel(u8),
    /// Reliable data on an unreliable channel, or the other way round.
    WrongChannelKind(u8),
    /// A zero-length message. We never send one, and renet does not count it against the channel
    /// budget.
    EmptyMessage,
    /// A message (or the total size a slice claims for its message) longer than the limit, or an
    /// unsliced message longer than one slice.
    MessageTooLarge,
    /// A slice count below 2: renet only slices messages longer than one slice.
    TooFewSlices,
    /// A slice count above the channel's bound (see
    /// [`RenetLimits::from_channels`](super::RenetLimits::from_channels)).
    TooManySlices,
    /// A slice index not below the slice count.
    SliceIndexOutOfRange,
    /// A slice whose size is not [`SLICE_SIZE`](super::SLICE_SIZE), or, for the last slice, not 1
    /// to [`SLICE_SIZE`](super::SLICE_SIZE).
    WrongSliceSize,
    /// A slice whose count differs from the count in an earlier slice of the same message (seen by
    /// [`RenetGuard`](super::RenetGuard) only).
    InconsistentSlices,
    /// A slice of a message older than all the sliced messages [`RenetGuard`](super::RenetGuard)
    /// still remembers on this channel.
    StaleSlice,
    /// An ack range that is empty, overlaps another range, or reaches below sequence 0.
    BadAckRange,
}

impl std::fmt::Display for RenetViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PacketTooLong => write!(f, "packet longer than {MAX_PACKET_BYTES} bytes"),
            Self::Truncated => write!(f, "truncated packet"),
            Self::TrailingBytes => write!(f, "unexpected bytes after the packet"),
            Self::UnknownPacketType(kind) => write!(f, "unknown packet type {kind}"),
            Self::UnknownChannel(id) => write!(f, "unknown channel {id}"),
            Self::WrongChannelKind(id) => write!(f, "wrong packet type for channel {id}"),
            Self::EmptyMessage => write!(f, "empty message"),
            Self::MessageTooLarge => write!(f, "message too large"),
            Self::TooFewSlices => write!(f, "slice count below 2"),
            Self::TooManySlices => write!(f, "too many slices for the channel"),
            Self::SliceIndexOutOfRange => write!(f, "slice index past the slice count"),
            Self::WrongSliceSize => write!(f, "wrong slice size"),
            Self::InconsistentSlices => write!(f, "slices of one message disagree on the count"),
            Self::StaleSlice => write!(f, "slice of a forgotten message"),
            Self::BadAckRange => write!(f, "invalid ack range"),
        }
    }
}

impl std::error::Error for RenetViolation {}
