//! Parsing and checking one renet packet, with no state and no allocation.

use super::limits::{ChannelKind, RenetLimits};
use super::{MAX_PACKET_BYTES, RenetViolation, SLICE_SIZE};

/// Whether `packet` is safe to hand to renet, as far as one packet can tell. It accepts exactly the
/// packets renet's own sender writes for the channels in `limits`. It does not allocate.
///
/// This does not check that the slices of one message agree on their slice count, which is a
/// second way to panic renet. [`RenetGuard::check`](super::RenetGuard::check) checks that too,
/// and a transport should use it.
#[cfg(any(test, feature = "internals"))]
pub fn check_renet_packet(packet: &[u8], limits: &RenetLimits) -> Result<(), RenetViolation> {
    inspect(packet, limits).map(|_| ())
}

/// Packet types, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PacketKind {
    SmallReliable,
    SmallUnreliable,
    ReliableSlice,
    UnreliableSlice,
    Ack,
}

/// The fields of a slice packet that matter beyond the packet itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SliceHeader {
    pub(super) channel_id: u8,
    pub(super) message_id: u64,
    pub(super) num_slices: u64,
}

/// What [`inspect`] learned from an accepted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Inspected {
    pub(super) kind: PacketKind,
    /// For small-message packets, how many messages they carry.
    pub(super) messages: u16,
    pub(super) slice: Option<SliceHeader>,
}

/// A cursor over a packet's bytes. Every read fails with [`RenetViolation::Truncated`] past the end.
pub(super) struct Reader<'a> {
    pub(super) rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn u8(&mut self) -> Result<u8, RenetViolation> {
        let (&byte, rest) = self.rest.split_first().ok_or(RenetViolation::Truncated)?;
        self.rest = rest;
        Ok(byte)
    }

    pub(super) fn u16(&mut self) -> Result<u16, RenetViolation> {
        let bytes = self.bytes(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// A QUIC variable-length integer: 2 length bits, then the value, big-endian.
    pub(super) fn varint(&mut self) -> Result<u64, RenetViolation> {
        let first = *self.rest.first().ok_or(RenetViolation::Truncated)?;
        let bytes = self.bytes(1 << (first >> 6))?;
        Ok(bytes[1..]
            .iter()
            .fold(u64::from(first & 0x3f), |value, &byte| {
                (value << 8) | u64::from(byte)
            }))
    }

    pub(super) fn bytes(&mut self, len: usize) -> Result<&'a [u8], RenetViolation> {
        if self.rest.len() < len {
            return Err(RenetViolation::Truncated);
        }
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(bytes)
    }

    /// Skips a message of `len` bytes (a varint, so checked before any conversion).
    pub(super) fn skip(&mut self, len: u64) -> Result<(), RenetViolation> {
        let len = usize::try_from(len).map_err(|_| RenetViolation::Truncated)?;
        self.bytes(len).map(|_| ())
    }
}

/// Parses and checks one packet against `limits` without allocating.
pub(super) fn inspect(packet: &[u8], limits: &RenetLimits) -> Result<Inspected, RenetViolation> {
    if packet.len() > MAX_PACKET_BYTES {
        return Err(RenetViolation::PacketTooLong);
    }
    let mut reader = Reader { rest: packet };
    let kind = match reader.u8()? {
        0 => PacketKind::SmallReliable,
        1 => PacketKind::SmallUnreliable,
        2 => PacketKind::ReliableSlice,
        3 => PacketKind::UnreliableSlice,
        4 => PacketKind::Ack,
        other => return Err(RenetViolation::UnknownPacketType(other)),
    };
    let _sequence = reader.varint()?;
    let mut inspected = Inspected {
        kind,
        messages: 0,
        slice: None,
    };
    match kind {
        PacketKind::SmallReliable | PacketKind::SmallUnreliable => {
            let reliable = kind == PacketKind::SmallReliable;
            let channel_kind = if reliable {
                ChannelKind::Reliable
            } else {
                ChannelKind::Unreliable
            };
            let limit = limits.channel(reader.u8()?, channel_kind)?;
            // renet batches messages of up to one slice; longer ones are always sliced.
            let max_len = limit.max_message_bytes.min(SLICE_SIZE) as u64;
            inspected.messages = reader.u16()?;
            // A count of 0 is legitimate: renet sends an empty batch when the first message it
            // batches does not fit in one slice together with its header.
            for _ in 0..inspected.messages {
                if reliable {
                    let _message_id = reader.varint()?;
                }
                let len = reader.varint()?;
                if len == 0 {
                    return Err(RenetViolation::EmptyMessage);
                }
                if len > max_len {
                    return Err(RenetViolation::MessageTooLarge);
                }
                reader.skip(len)?;
            }
        }
        PacketKind::ReliableSlice | PacketKind::UnreliableSlice => {
            let channel_kind = if kind == PacketKind::ReliableSlice {
                ChannelKind::Reliable
            } else {
                ChannelKind::Unreliable
            };
            let channel_id = reader.u8()?;
            let limit = limits.channel(channel_id, channel_kind)?;
            let message_id = reader.varint()?;
            let slice_index = reader.varint()?;
            let num_slices = reader.varint()?;
            let len = reader.varint()?;
            if num_slices == 0 {
                return Err(RenetViolation::TooFewSlices);
            }
            if slice_index >= num_slices {
                return Err(RenetViolation::SliceIndexOutOfRange);
            }
            if num_slices < 2 {
                return Err(RenetViolation::TooFewSlices);
            }
            if num_slices > limit.max_slices {
                return Err(RenetViolation::TooManySlices);
            }
            let slice = SLICE_SIZE as u64;
            if slice_index + 1 == num_slices {
                if len == 0 || len > slice {
                    return Err(RenetViolation::WrongSliceSize);
                }
                // num_slices is at most max_slices, so this cannot overflow.
                if (num_slices - 1) * slice + len > limit.max_message_bytes as u64 {
                    return Err(RenetViolation::MessageTooLarge);
                }
            } else if len != slice {
                return Err(RenetViolation::WrongSliceSize);
            }
            reader.skip(len)?;
            inspected.slice = Some(SliceHeader {
                channel_id,
                message_id,
                num_slices,
            });
        }
        PacketKind::Ack => {
            let newest = reader.varint()?;
            let size = reader.varint()?;
            let mut start = newest
                .checked_sub(size)
                .ok_or(RenetViolation::BadAckRange)?;
            let more = reader.varint()?;
            // Each further range takes at least two bytes: refuse an impossible count at once.
            if more > (reader.rest.len() / 2) as u64 {
                return Err(RenetViolation::Truncated);
            }
            for _ in 0..more {
                let gap = reader.varint()?;
                let size = reader.varint()?;
                let end = start
                    .checked_sub(gap)
                    .and_then(|end| end.checked_sub(2))
                    .ok_or(RenetViolation::BadAckRange)?;
                start = end.checked_sub(size).ok_or(RenetViolation::BadAckRange)?;
            }
        }
    }
    if !reader.rest.is_empty() {
        return Err(RenetViolation::TrailingBytes);
    }
    Ok(inspected)
}
