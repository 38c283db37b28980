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

use bevy_renet::renet::{ChannelConfig, SendType};

use crate::channels::connection_config;
use crate::codec::MAX_MESSAGE_BYTES;

/// Bytes in every slice of a sliced renet message except the last. The value is fixed in renet 2.0
/// and not exported, and this module's tests confirm it against real traffic.
pub const SLICE_SIZE: usize = 1200;

/// The longest renet packet accepted, which is netcode's payload limit. renet never writes a
/// longer one: slices and batches of small messages stay under about [`SLICE_SIZE`] plus a header.
pub const MAX_PACKET_BYTES: usize = crate::netcode::MAX_PAYLOAD_BYTES;

/// The delivery kind of a channel, as far as the wire format cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// `SendType::ReliableOrdered` or `SendType::ReliableUnordered`: packet types 0 and 2.
    Reliable,
    /// `SendType::Unreliable`: packet types 1 and 3.
    Unreliable,
}

/// What one receive channel accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChannelLimit {
    kind: ChannelKind,
    /// The channel's `max_memory_usage_bytes`.
    budget: usize,
    /// Longest message accepted: the protocol's limit or the channel budget, whichever is smaller.
    max_message_bytes: usize,
    /// Most slices one message may have (0 when the channel cannot take sliced messages at all).
    max_slices: u64,
    /// How many sliced messages [`RenetGuard`] remembers for this channel.
    max_sliced_messages: usize,
}

impl ChannelLimit {
    fn new(kind: ChannelKind, budget: usize, max_message_bytes: usize) -> Self {
        let max_message_bytes = max_message_bytes.min(budget);
        // renet sets aside `num_slices * SLICE_SIZE` bytes of the channel budget when the first
        // slice of a message arrives, and drops the message (unreliable) or disconnects (reliable)
        // if that does not fit. So `budget / SLICE_SIZE` slices is the most renet could ever
        // accept. No message we send is longer than `max_message_bytes`, and the decoder refuses
        // longer ones, so `ceil(max_message_bytes / SLICE_SIZE)` slices is the most a correct peer
        // sends. The smaller of the two bounds is used (55 for our channels). renet only slices
        // messages longer than one slice, so fewer than 2 means the channel takes no sliced
        // messages.
        let max_slices = (budget / SLICE_SIZE).min(max_message_bytes.div_ceil(SLICE_SIZE));
        let max_slices = if max_slices < 2 { 0 } else { max_slices as u64 };
        // At any moment a channel holds at most this many sliced messages. While a message is
        // incomplete, renet reserves at least 2 slices of the budget for it, and an assembled
        // message waiting to be read still uses more than SLICE_SIZE bytes.
        let max_sliced_messages = if max_slices == 0 {
            0
        } else {
            budget / (SLICE_SIZE + 1)
        };
        Self {
            kind,
            budget,
            max_message_bytes,
            max_slices,
            max_sliced_messages,
        }
    }
}

/// The limits a peer's renet packets must respect: which channels exist and what kind they are,
/// how long a message may be, and how many slices it may have. These come from the channels this
/// side receives on.
#[derive(Debug, Clone)]
pub struct RenetLimits {
    channels: Box<[Option<ChannelLimit>; 256]>,
}

impl RenetLimits {
    /// Limits for receiving on `channels`, which are the channels the *peer* sends on. A server
    /// passes `client_channels_config` and a client passes `server_channels_config`. Messages may
    /// be up to the protocol's [`MAX_MESSAGE_BYTES`]; [`Self::with_max_message_bytes`] changes
    /// that. If a channel id appears twice, the last entry wins. renet itself refuses such a list.
    ///
    /// A channel's slice bound is the smaller of two limits:
    /// * `max_memory_usage_bytes / SLICE_SIZE`, because renet sets aside `num_slices * SLICE_SIZE`
    ///   bytes of the channel budget for a sliced message and refuses it if they do not fit;
    /// * `ceil(MAX_MESSAGE_BYTES / SLICE_SIZE)`, because we never send a longer message and the
    ///   decoder refuses one.
    ///
    /// For our channels that is 55 slices.
    pub fn from_channels(channels: &[ChannelConfig]) -> Self {
        Self::build(channels, MAX_MESSAGE_BYTES)
    }

    /// The same limits, with messages of at most `max_message_bytes` bytes.
    pub fn with_max_message_bytes(self, max_message_bytes: usize) -> Self {
        let mut channels = self.channels;
        for limit in channels.iter_mut().flatten() {
            *limit = ChannelLimit::new(limit.kind, limit.budget, max_message_bytes);
        }
        Self { channels }
    }

    /// What a server accepts from its clients: the client channels of
    /// [`connection_config`].
    pub fn server() -> Self {
        Self::from_channels(&connection_config().client_channels_config)
    }

    /// What a client accepts from the server: the server channels of
    /// [`connection_config`].
    pub fn client() -> Self {
        Self::from_channels(&connection_config().server_channels_config)
    }

    /// The kind of channel `channel_id`, or `None` if the peer has no such channel.
    pub fn kind(&self, channel_id: u8) -> Option<ChannelKind> {
        self.channels[usize::from(channel_id)].map(|limit| limit.kind)
    }

    /// The most slices a message on `channel_id` may have (0 when the channel takes no sliced
    /// messages), or `None` if the peer has no such channel.
    pub fn max_slices(&self, channel_id: u8) -> Option<u64> {
        self.channels[usize::from(channel_id)].map(|limit| limit.max_slices)
    }

    fn build(configs: &[ChannelConfig], max_message_bytes: usize) -> Self {
        let mut channels = Box::new([None; 256]);
        for config in configs {
            let kind = match config.send_type {
                SendType::Unreliable => ChannelKind::Unreliable,
                SendType::ReliableOrdered { .. } | SendType::ReliableUnordered { .. } => {
                    ChannelKind::Reliable
                }
            };
            channels[usize::from(config.channel_id)] = Some(ChannelLimit::new(
                kind,
                config.max_memory_usage_bytes,
                max_message_bytes,
            ));
        }
        Self { channels }
    }

    fn channel(&self, channel_id: u8, kind: ChannelKind) -> Result<ChannelLimit, RenetViolation> {
        match self.channels[usize::from(channel_id)] {
            None => Err(RenetViolation::UnknownChannel(channel_id)),
            Some(limit) if limit.kind != kind => Err(RenetViolation::WrongChannelKind(channel_id)),
            Some(limit) => Ok(limit),
        }
    }
}

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
    /// A slice count above the channel's bound (see [`RenetLimits::from_channels`]).
    TooManySlices,
    /// A slice index not below the slice count.
    SliceIndexOutOfRange,
    /// A slice whose size is not [`SLICE_SIZE`], or, for the last slice, not 1 to [`SLICE_SIZE`].
    WrongSliceSize,
    /// A slice whose count differs from the count in an earlier slice of the same message (seen by
    /// [`RenetGuard`] only).
    InconsistentSlices,
    /// A slice of a message older than all the sliced messages [`RenetGuard`] still remembers
    /// on this channel.
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

/// Whether `packet` is safe to hand to renet, as far as one packet can tell. It accepts exactly the
/// packets renet's own sender writes for the channels in `limits`. It does not allocate.
///
/// This does not check that the slices of one message agree on their slice count, which is a
/// second way to panic renet. [`RenetGuard::check`] checks that too, and a transport should use it.
pub fn check_renet_packet(packet: &[u8], limits: &RenetLimits) -> Result<(), RenetViolation> {
    inspect(packet, limits).map(|_| ())
}

/// The state [`check_renet_packet`] cannot keep: the slice count of every sliced message in
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
    pub fn limits(&self) -> &RenetLimits {
        &self.limits
    }

    /// Whether `packet` is safe to hand to renet: everything [`check_renet_packet`] checks, and
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
struct SliceHistory {
    entries: Box<[(u64, u64)]>,
    len: usize,
    /// Where the next entry goes, which once the ring is full is also the oldest entry.
    next: usize,
    /// Message ids below this are refused: their count may have been forgotten.
    floor: u64,
}

impl SliceHistory {
    fn new(capacity: usize) -> Self {
        Self {
            entries: vec![(0, 0); capacity].into_boxed_slice(),
            len: 0,
            next: 0,
            floor: 0,
        }
    }

    fn admit(&mut self, message_id: u64, num_slices: u64) -> Result<(), RenetViolation> {
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

/// Packet types, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PacketKind {
    SmallReliable,
    SmallUnreliable,
    ReliableSlice,
    UnreliableSlice,
    Ack,
}

/// The fields of a slice packet that matter beyond the packet itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SliceHeader {
    channel_id: u8,
    message_id: u64,
    num_slices: u64,
}

/// What [`inspect`] learned from an accepted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Inspected {
    kind: PacketKind,
    /// For small-message packets, how many messages they carry.
    messages: u16,
    slice: Option<SliceHeader>,
}

/// A cursor over a packet's bytes. Every read fails with [`RenetViolation::Truncated`] past the end.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, RenetViolation> {
        let (&byte, rest) = self.rest.split_first().ok_or(RenetViolation::Truncated)?;
        self.rest = rest;
        Ok(byte)
    }

    fn u16(&mut self) -> Result<u16, RenetViolation> {
        let bytes = self.bytes(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// A QUIC variable-length integer: 2 length bits, then the value, big-endian.
    fn varint(&mut self) -> Result<u64, RenetViolation> {
        let first = *self.rest.first().ok_or(RenetViolation::Truncated)?;
        let bytes = self.bytes(1 << (first >> 6))?;
        Ok(bytes[1..]
            .iter()
            .fold(u64::from(first & 0x3f), |value, &byte| {
                (value << 8) | u64::from(byte)
            }))
    }

    fn bytes(&mut self, len: usize) -> Result<&'a [u8], RenetViolation> {
        if self.rest.len() < len {
            return Err(RenetViolation::Truncated);
        }
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(bytes)
    }

    /// Skips a message of `len` bytes (a varint, so checked before any conversion).
    fn skip(&mut self, len: u64) -> Result<(), RenetViolation> {
        let len = usize::try_from(len).map_err(|_| RenetViolation::Truncated)?;
        self.bytes(len).map(|_| ())
    }
}

/// Parses and checks one packet against `limits` without allocating.
fn inspect(packet: &[u8], limits: &RenetLimits) -> Result<Inspected, RenetViolation> {
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

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::time::Duration;

    use bevy_renet::renet::{RenetClient, RenetServer};

    use super::RenetViolation::*;
    use super::*;
    use crate::channels::{ClientChannel, ServerChannel};

    const CLIENT_ID: u64 = 7;
    const INPUT: u8 = 0;
    const COMMAND: u8 = 1;

    // A small encoder of our own for crafted packets, following the format in the module docs.

    fn put_varint(out: &mut Vec<u8>, value: u64) {
        match value {
            0..=0x3f => out.push(value as u8),
            0x40..=0x3fff => out.extend((value as u16 | 0x4000).to_be_bytes()),
            0x4000..=0x3fff_ffff => out.extend((value as u32 | 0x8000_0000).to_be_bytes()),
            _ => out.extend((value | 0xc000_0000_0000_0000).to_be_bytes()),
        }
    }

    fn small(reliable: bool, channel: u8, messages: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![if reliable { 0 } else { 1 }, 0, channel];
        out.extend((messages.len() as u16).to_be_bytes());
        for (id, message) in messages.iter().enumerate() {
            if reliable {
                put_varint(&mut out, id as u64);
            }
            put_varint(&mut out, message.len() as u64);
            out.extend_from_slice(message);
        }
        out
    }

    fn slice(reliable: bool, channel: u8, id: u64, index: u64, count: u64, len: usize) -> Vec<u8> {
        let mut out = vec![if reliable { 2 } else { 3 }, 0, channel];
        for value in [id, index, count, len as u64] {
            put_varint(&mut out, value);
        }
        out.extend(std::iter::repeat_n(0xab, len));
        out
    }

    fn ack(newest: u64, size: u64, more: &[(u64, u64)]) -> Vec<u8> {
        let mut out = vec![4, 0];
        for value in [newest, size, more.len() as u64] {
            put_varint(&mut out, value);
        }
        for &(gap, size) in more {
            put_varint(&mut out, gap);
            put_varint(&mut out, size);
        }
        out
    }

    fn server_with_client() -> RenetServer {
        let mut server = RenetServer::new(connection_config());
        server.add_connection(CLIENT_ID);
        server
    }

    fn payload(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + seed * 7) as u8).collect()
    }

    /// What one direction of [`session`] saw.
    #[derive(Default)]
    struct Seen {
        packets: Vec<Vec<u8>>,
        kinds: [usize; 5],
        empty_batches: usize,
        dropped: usize,
        /// `(channel, message)` in the order they were read.
        received: Vec<(u8, Vec<u8>)>,
    }

    impl Seen {
        /// Checks a packet with both checks and records it; `true` when it is to be passed on.
        fn check(&mut self, guard: &mut RenetGuard, packet: &[u8], round: usize) -> bool {
            let inspected = inspect(packet, guard.limits())
                .unwrap_or_else(|err| panic!("real packet refused ({err}): {packet:02x?}"));
            assert_eq!(check_renet_packet(packet, guard.limits()), Ok(()));
            assert_eq!(guard.check(packet), Ok(()), "{packet:02x?}");
            self.packets.push(packet.to_vec());
            self.kinds[inspected.kind as usize] += 1;
            if matches!(
                inspected.kind,
                PacketKind::SmallReliable | PacketKind::SmallUnreliable
            ) && inspected.messages == 0
            {
                self.empty_batches += 1;
            }
            // Lose a third of the reliable data packets of the first reliable round, so renet
            // resends them (and repeats slices the other side already has).
            let reliable = matches!(
                inspected.kind,
                PacketKind::SmallReliable | PacketKind::ReliableSlice
            );
            if reliable && round == 1 && self.packets.len().is_multiple_of(3) {
                self.dropped += 1;
                return false;
            }
            true
        }
    }

    /// A real session over our channels: messages of every size class (batched, exactly one
    /// slice with and without room for its header, sliced, the largest allowed) both ways,
    /// unreliable first, then reliable, with some reliable packets lost. Every packet must pass
    /// [`check_renet_packet`] and [`RenetGuard`] before it is handed on.
    fn session() -> (Seen, Seen, Vec<(u8, Vec<u8>)>, Vec<(u8, Vec<u8>)>) {
        let config = connection_config();
        let mut server = RenetServer::new(config.clone());
        server.add_connection(CLIENT_ID);
        let mut client = RenetClient::new(config);
        client.set_connected();
        let mut server_guard = RenetGuard::new(RenetLimits::server());
        let mut client_guard = RenetGuard::new(RenetLimits::client());
        let (mut to_server, mut to_client) = (Seen::default(), Seen::default());
        let (mut sent_to_server, mut sent_to_client) = (Vec::new(), Vec::new());

        for round in 0..16 {
            if round == 0 {
                for (i, len) in [1199, 1, 40, 1200, 1201, 5000, 20_000]
                    .into_iter()
                    .enumerate()
                {
                    let message = payload(len, i);
                    server.send_message(CLIENT_ID, ServerChannel::Snapshot, message.clone());
                    sent_to_client.push((ServerChannel::Snapshot.into(), message.clone()));
                    client.send_message(ClientChannel::Input, message.clone());
                    sent_to_server.push((ClientChannel::Input.into(), message));
                }
            }
            if round == 1 {
                let sizes = [1199, 1, 40, 1200, 1201, 5000, MAX_MESSAGE_BYTES, 3];
                for (i, len) in sizes.into_iter().enumerate() {
                    let message = payload(len, i + 100);
                    server.send_message(CLIENT_ID, ServerChannel::Reliable, message.clone());
                    sent_to_client.push((ServerChannel::Reliable.into(), message.clone()));
                    client.send_message(ClientChannel::Command, message.clone());
                    sent_to_server.push((ClientChannel::Command.into(), message));
                }
            }
            server.update(Duration::from_millis(250));
            client.update(Duration::from_millis(250));
            for packet in server.get_packets_to_send(CLIENT_ID).unwrap() {
                if to_client.check(&mut client_guard, &packet, round) {
                    client.process_packet(&packet);
                }
            }
            for packet in client.get_packets_to_send() {
                if to_server.check(&mut server_guard, &packet, round) {
                    server.process_packet_from(&packet, CLIENT_ID).unwrap();
                }
            }
            for channel in [INPUT, COMMAND] {
                while let Some(message) = server.receive_message(CLIENT_ID, channel) {
                    to_server.received.push((channel, message.to_vec()));
                }
            }
            for channel in [ServerChannel::Reliable, ServerChannel::Snapshot] {
                while let Some(message) = client.receive_message(channel) {
                    to_client.received.push((channel.into(), message.to_vec()));
                }
            }
        }
        assert!(server.is_connected(CLIENT_ID) && client.is_connected());
        (to_server, to_client, sent_to_server, sent_to_client)
    }

    /// Sorts by channel only (stable), so each channel keeps its order: renet may put a batch of
    /// small unreliable messages after the slices of a later big one, so unreliable messages are
    /// compared as sets.
    fn by_channel(mut messages: Vec<(u8, Vec<u8>)>, unreliable: u8) -> Vec<(u8, Vec<u8>)> {
        messages.sort_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                if a.0 == unreliable {
                    a.1.cmp(&b.1)
                } else {
                    std::cmp::Ordering::Equal
                }
            })
        });
        messages
    }

    #[test]
    fn real_traffic_passes_the_guard_and_still_delivers() {
        let (to_server, to_client, sent_to_server, sent_to_client) = session();
        for seen in [&to_server, &to_client] {
            // Every packet type went by, including renet's empty batch (sent when the first
            // small message does not fit in one slice with its header) and resends.
            assert!(seen.kinds.iter().all(|&n| n > 0), "kinds {:?}", seen.kinds);
            assert!(seen.empty_batches > 0);
            assert!(seen.dropped > 0);
        }
        assert_eq!(
            by_channel(to_server.received, INPUT),
            by_channel(sent_to_server, INPUT)
        );
        let snapshot = ServerChannel::Snapshot.into();
        assert_eq!(
            by_channel(to_client.received, snapshot),
            by_channel(sent_to_client, snapshot)
        );
    }

    #[test]
    fn renet_panics_on_a_slice_index_past_the_count_and_the_guard_refuses_it() {
        let limits = RenetLimits::server();
        for (reliable, channel) in [(true, COMMAND), (false, INPUT)] {
            // One slice announced, slice 1 sent, full size.
            let packet = slice(reliable, channel, 0, 1, 1, SLICE_SIZE);
            assert_eq!(
                check_renet_packet(&packet, &limits),
                Err(SliceIndexOutOfRange)
            );
            assert_eq!(
                RenetGuard::new(limits.clone()).check(&packet),
                Err(SliceIndexOutOfRange)
            );
            // Why the guard exists: renet 2.0.1 indexes its slice table with the peer's index.
            let mut server = server_with_client();
            let crashed = catch_unwind(AssertUnwindSafe(|| {
                server.process_packet_from(&packet, CLIENT_ID)
            }));
            assert!(
                crashed.is_err(),
                "renet no longer panics here: was it fixed?"
            );
        }
    }

    #[test]
    fn renet_panics_when_slices_disagree_on_the_count_and_the_guard_refuses_it() {
        let limits = RenetLimits::server();
        for (reliable, channel) in [(true, COMMAND), (false, INPUT)] {
            // Slice 0 of 2, then slice 2 "of 4" of the same message: each packet is well formed.
            let first = slice(reliable, channel, 0, 0, 2, SLICE_SIZE);
            let second = slice(reliable, channel, 0, 2, 4, SLICE_SIZE);
            assert_eq!(check_renet_packet(&first, &limits), Ok(()));
            assert_eq!(check_renet_packet(&second, &limits), Ok(()));
            let mut guard = RenetGuard::new(limits.clone());
            assert_eq!(guard.check(&first), Ok(()));
            assert_eq!(guard.check(&second), Err(InconsistentSlices));
            // Only after the refusal: the first slice's count still holds.
            assert_eq!(guard.check(&slice(reliable, channel, 0, 1, 2, 7)), Ok(()));

            let mut server = server_with_client();
            server.process_packet_from(&first, CLIENT_ID).unwrap();
            let crashed = catch_unwind(AssertUnwindSafe(|| {
                server.process_packet_from(&second, CLIENT_ID)
            }));
            assert!(
                crashed.is_err(),
                "renet no longer panics here: was it fixed?"
            );

            // Slice 1 "of 3" completes a message begun as 2 slices: renet releases 3 slices of
            // budget it never reserved. That underflow panics where overflow checks are on (debug
            // builds) and silently breaks the channel's memory limit where they are off.
            let third = slice(reliable, channel, 0, 1, 3, SLICE_SIZE);
            assert_eq!(check_renet_packet(&third, &limits), Ok(()));
            let mut guard = RenetGuard::new(limits.clone());
            assert_eq!(guard.check(&first), Ok(()));
            assert_eq!(guard.check(&third), Err(InconsistentSlices));
            let mut server = server_with_client();
            server.process_packet_from(&first, CLIENT_ID).unwrap();
            let crashed = catch_unwind(AssertUnwindSafe(|| {
                server.process_packet_from(&third, CLIENT_ID)
            }));
            if cfg!(debug_assertions) {
                assert!(crashed.is_err(), "renet no longer underflows here");
            }
        }
    }

    #[test]
    fn renet_reserves_a_whole_channel_budget_for_one_tiny_packet_and_the_guard_refuses_it() {
        use bevy_renet::renet::{ChannelError, DisconnectReason};
        // A million slices: renet compares the reservation with the channel budget before it
        // allocates, so with our budgets this disconnects (reliable) instead of allocating 1.2 GB.
        let mut server = server_with_client();
        let huge = slice(true, COMMAND, 0, 0, 1_000_000, SLICE_SIZE);
        server.process_packet_from(&huge, CLIENT_ID).unwrap();
        assert_eq!(
            server.disconnect_reason(CLIENT_ID),
            Some(DisconnectReason::ReceiveChannelError {
                channel_id: COMMAND,
                error: ChannelError::ReliableChannelMaxMemoryReached
            })
        );
        // Just under the budget: a 12-byte last slice makes renet allocate 218 slices (256 KiB)
        // and keep them for as long as the connection lives.
        let budget_slices = (256 * 1024 / SLICE_SIZE) as u64;
        let tiny = slice(true, COMMAND, 0, budget_slices - 1, budget_slices, 1);
        assert!(tiny.len() < 16);
        let mut server = server_with_client();
        server.process_packet_from(&tiny, CLIENT_ID).unwrap();
        assert!(server.is_connected(CLIENT_ID));
        assert_eq!(
            check_renet_packet(&tiny, &RenetLimits::server()),
            Err(TooManySlices)
        );
        assert_eq!(
            check_renet_packet(&huge, &RenetLimits::server()),
            Err(TooManySlices)
        );
    }

    #[test]
    fn crafted_packets_in_our_format_reach_renet() {
        // The crafted encoder above writes what renet reads: these arrive as messages.
        let mut server = server_with_client();
        let mut guard = RenetGuard::new(RenetLimits::server());
        let packets = [
            small(true, COMMAND, &[b"hi", b"there"]),
            small(false, INPUT, &[b"in"]),
            slice(false, INPUT, 0, 1, 2, 5),
            slice(false, INPUT, 0, 0, 2, SLICE_SIZE),
            ack(0, 0, &[]),
        ];
        for packet in &packets {
            assert_eq!(guard.check(packet), Ok(()), "{packet:02x?}");
            server.process_packet_from(packet, CLIENT_ID).unwrap();
        }
        assert!(server.is_connected(CLIENT_ID));
        let command: Vec<_> = std::iter::from_fn(|| server.receive_message(CLIENT_ID, COMMAND))
            .map(|m| m.to_vec())
            .collect();
        assert_eq!(command, [b"hi".to_vec(), b"there".to_vec()]);
        let input: Vec<_> = std::iter::from_fn(|| server.receive_message(CLIENT_ID, INPUT))
            .map(|m| m.len())
            .collect();
        assert_eq!(input, [2, SLICE_SIZE + 5]);
    }

    #[test]
    fn crafted_bad_packets_are_refused() {
        let limits = RenetLimits::server();
        let max = limits.max_slices(COMMAND).unwrap();
        assert_eq!(max, 55);
        let last_of_max = MAX_MESSAGE_BYTES - (max as usize - 1) * SLICE_SIZE;
        let mut wrong_count = small(true, COMMAND, &[b"x"]);
        wrong_count[4] = 3;
        let mut short_slice = slice(true, COMMAND, 0, 0, 2, SLICE_SIZE);
        short_slice.pop();
        let mut trailing = small(false, INPUT, &[b"x"]);
        trailing.push(0);
        let cases: Vec<(&str, Vec<u8>, Result<(), RenetViolation>)> = vec![
            ("empty", vec![], Err(Truncated)),
            ("type only", vec![0], Err(Truncated)),
            ("no channel", vec![0, 0], Err(Truncated)),
            ("cut varint", vec![4, 0xc0, 0], Err(Truncated)),
            ("type 5", vec![5, 0, 0], Err(UnknownPacketType(5))),
            ("type 255", vec![255; 40], Err(UnknownPacketType(255))),
            (
                "too long",
                vec![4; MAX_PACKET_BYTES + 1],
                Err(PacketTooLong),
            ),
            (
                "unknown channel",
                small(true, 9, &[b"x"]),
                Err(UnknownChannel(9)),
            ),
            (
                "unknown slice channel",
                slice(false, 200, 0, 0, 2, SLICE_SIZE),
                Err(UnknownChannel(200)),
            ),
            (
                "reliable on unreliable",
                small(true, INPUT, &[b"x"]),
                Err(WrongChannelKind(INPUT)),
            ),
            (
                "unreliable on reliable",
                small(false, COMMAND, &[b"x"]),
                Err(WrongChannelKind(COMMAND)),
            ),
            (
                "slice on wrong kind",
                slice(true, INPUT, 0, 0, 2, SLICE_SIZE),
                Err(WrongChannelKind(INPUT)),
            ),
            (
                "empty message",
                small(true, COMMAND, &[b"a", b""]),
                Err(EmptyMessage),
            ),
            (
                "small too big",
                small(false, INPUT, &[&[1; SLICE_SIZE + 1]]),
                Err(MessageTooLarge),
            ),
            ("count past end", wrong_count, Err(Truncated)),
            ("trailing byte", trailing, Err(TrailingBytes)),
            (
                "zero slices",
                slice(true, COMMAND, 0, 0, 0, SLICE_SIZE),
                Err(TooFewSlices),
            ),
            (
                "one slice",
                slice(true, COMMAND, 0, 0, 1, 10),
                Err(TooFewSlices),
            ),
            (
                "index = count",
                slice(true, COMMAND, 0, 2, 2, SLICE_SIZE),
                Err(SliceIndexOutOfRange),
            ),
            (
                "huge index",
                slice(false, INPUT, 0, u64::MAX >> 2, 2, 5),
                Err(SliceIndexOutOfRange),
            ),
            (
                "a million slices",
                slice(true, COMMAND, 0, 0, 1_000_000, SLICE_SIZE),
                Err(TooManySlices),
            ),
            (
                "one slice too many",
                slice(false, INPUT, 0, 0, max + 1, SLICE_SIZE),
                Err(TooManySlices),
            ),
            (
                "largest message",
                slice(true, COMMAND, 0, max - 1, max, last_of_max),
                Ok(()),
            ),
            (
                "past the largest",
                slice(true, COMMAND, 0, max - 1, max, last_of_max + 1),
                Err(MessageTooLarge),
            ),
            (
                "short middle slice",
                slice(true, COMMAND, 0, 0, 3, SLICE_SIZE - 1),
                Err(WrongSliceSize),
            ),
            (
                "long middle slice",
                slice(false, INPUT, 0, 1, 3, SLICE_SIZE + 1),
                Err(WrongSliceSize),
            ),
            (
                "empty last slice",
                slice(false, INPUT, 0, 1, 2, 0),
                Err(WrongSliceSize),
            ),
            (
                "long last slice",
                slice(true, COMMAND, 0, 1, 2, SLICE_SIZE + 1),
                Err(WrongSliceSize),
            ),
            ("slice cut short", short_slice, Err(Truncated)),
            ("ack", ack(10, 2, &[(1, 5)]), Ok(())),
            ("ack below zero", ack(5, 6, &[]), Err(BadAckRange)),
            (
                "ack gap below zero",
                ack(10, 2, &[(7, 0)]),
                Err(BadAckRange),
            ),
            (
                "ack size below zero",
                ack(10, 2, &[(1, 6)]),
                Err(BadAckRange),
            ),
            (
                "ack counts a million",
                ack(10, 2, &[(1, 1)])[..4]
                    .iter()
                    .copied()
                    .chain([0x80, 0x0f, 0x42, 0x40, 0, 0])
                    .collect(),
                Err(Truncated),
            ),
        ];
        for (name, packet, expected) in cases {
            assert_eq!(check_renet_packet(&packet, &limits), expected, "{name}");
            assert_eq!(
                RenetGuard::new(limits.clone()).check(&packet),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn every_cut_of_a_real_packet_is_refused() {
        let (to_server, to_client, ..) = session();
        for (seen, limits) in [
            (to_server, RenetLimits::server()),
            (to_client, RenetLimits::client()),
        ] {
            for packet in &seen.packets {
                for len in 0..packet.len() {
                    assert_eq!(
                        check_renet_packet(&packet[..len], &limits),
                        Err(Truncated),
                        "{len} of {packet:02x?}"
                    );
                }
                let mut longer = packet.clone();
                longer.push(0);
                assert_eq!(check_renet_packet(&longer, &limits), Err(TrailingBytes));
            }
        }
    }

    #[test]
    fn limits_follow_the_channel_configuration() {
        let server = RenetLimits::server();
        assert_eq!(server.kind(INPUT), Some(ChannelKind::Unreliable));
        assert_eq!(server.kind(COMMAND), Some(ChannelKind::Reliable));
        assert_eq!(server.kind(2), None);
        let client = RenetLimits::client();
        assert_eq!(
            client.kind(ServerChannel::Reliable.into()),
            Some(ChannelKind::Reliable)
        );
        assert_eq!(
            client.kind(ServerChannel::Snapshot.into()),
            Some(ChannelKind::Unreliable)
        );
        // All our channels hold far more than one largest message: the protocol limit decides.
        for (limits, id) in [
            (&server, INPUT),
            (&server, COMMAND),
            (&client, 0),
            (&client, 1),
        ] {
            assert_eq!(
                limits.max_slices(id),
                Some(MAX_MESSAGE_BYTES.div_ceil(SLICE_SIZE) as u64)
            );
        }
        assert_eq!(
            server
                .clone()
                .with_max_message_bytes(5000)
                .max_slices(INPUT),
            Some(5)
        );

        // A small budget decides instead; below two slices a channel takes no sliced messages.
        let channel = |id, budget| ChannelConfig {
            channel_id: id,
            max_memory_usage_bytes: budget,
            send_type: SendType::Unreliable,
        };
        let small = RenetLimits::from_channels(&[channel(3, 7100), channel(4, 2399)]);
        assert_eq!(small.max_slices(3), Some(5));
        assert_eq!(small.max_slices(4), Some(0));
        assert_eq!(
            check_renet_packet(&slice(false, 4, 0, 0, 2, SLICE_SIZE), &small),
            Err(TooManySlices)
        );
        assert_eq!(
            check_renet_packet(&slice(false, 3, 0, 0, 6, SLICE_SIZE), &small),
            Err(TooManySlices)
        );
        assert_eq!(
            check_renet_packet(&slice(false, 3, 0, 0, 5, SLICE_SIZE), &small),
            Ok(())
        );
    }

    #[test]
    fn the_guard_forgets_the_oldest_messages_and_refuses_them_afterwards() {
        // Room for three sliced messages.
        let limits = RenetLimits::from_channels(&[ChannelConfig {
            channel_id: 0,
            max_memory_usage_bytes: 3 * (SLICE_SIZE + 1),
            send_type: SendType::Unreliable,
        }]);
        let first = |id, count| slice(false, 0, id, 0, count, SLICE_SIZE);
        let mut guard = RenetGuard::new(limits);
        for id in [10, 30, 25] {
            assert_eq!(guard.check(&first(id, 2)), Ok(()));
        }
        // 11 pushes out 10 (the oldest seen), so nothing up to 10 is accepted any more.
        assert_eq!(guard.check(&first(11, 3)), Ok(()));
        assert_eq!(guard.check(&first(10, 2)), Err(StaleSlice));
        assert_eq!(guard.check(&first(5, 2)), Err(StaleSlice));
        // 12 would push out 30, and then itself be below the floor: refused, nothing forgotten.
        assert_eq!(guard.check(&first(12, 2)), Err(StaleSlice));
        assert_eq!(guard.check(&first(30, 3)), Err(InconsistentSlices));
        assert_eq!(guard.check(&first(30, 2)), Ok(()));
        assert_eq!(guard.check(&first(11, 2)), Err(InconsistentSlices));
        // 40 pushes out 30: 25 is still remembered but now below the floor.
        assert_eq!(guard.check(&first(40, 2)), Ok(()));
        assert_eq!(guard.check(&first(25, 2)), Err(StaleSlice));
        assert_eq!(guard.check(&first(40, 2)), Ok(()));
        assert_eq!(guard.check(&first(40, 3)), Err(InconsistentSlices));
    }

    /// One side of a connection that takes whatever the guard accepts.
    enum Peer {
        Server(Box<RenetServer>),
        Client(Box<RenetClient>),
    }

    impl Peer {
        fn new(server: bool) -> Self {
            if server {
                Self::Server(Box::new(server_with_client()))
            } else {
                let mut client = RenetClient::new(connection_config());
                client.set_connected();
                Self::Client(Box::new(client))
            }
        }

        fn take(&mut self, packet: &[u8]) {
            match self {
                Self::Server(server) => {
                    server.process_packet_from(packet, CLIENT_ID).unwrap();
                    server.update(Duration::from_millis(16));
                    for channel in [INPUT, COMMAND] {
                        while server.receive_message(CLIENT_ID, channel).is_some() {}
                    }
                    let _ = server.get_packets_to_send(CLIENT_ID);
                }
                Self::Client(client) => {
                    client.process_packet(packet);
                    client.update(Duration::from_millis(16));
                    for channel in [ServerChannel::Reliable, ServerChannel::Snapshot] {
                        while client.receive_message(channel).is_some() {}
                    }
                    let _ = client.get_packets_to_send();
                }
            }
        }
    }

    fn mutate(rng: &mut fastrand::Rng, packet: &mut Vec<u8>) {
        for _ in 0..rng.usize(1..4) {
            if packet.is_empty() {
                packet.push(rng.u8(..));
                continue;
            }
            let at = rng.usize(..packet.len().min(12));
            match rng.u8(..6) {
                0 => packet[at] ^= 1 << rng.u8(..8),
                1 => packet[at] = rng.u8(..),
                2 => packet[at] = [0, 1, 2, 3, 4, 0x3f, 0x40, 0x80, 0xff][rng.usize(..9)],
                3 => packet.truncate(rng.usize(..=packet.len())),
                4 => packet.insert(at, rng.u8(..)),
                _ => *packet = (0..rng.usize(..64)).map(|_| rng.u8(..8)).collect(),
            }
        }
    }

    #[test]
    fn whatever_the_guard_accepts_renet_survives() {
        let (to_server, to_client, ..) = session();
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let (mut accepted, mut refused) = (0, 0);
        for case in 0..3000 {
            let server = case % 2 == 0;
            let corpus = if server {
                &to_server.packets
            } else {
                &to_client.packets
            };
            let limits = if server {
                RenetLimits::server()
            } else {
                RenetLimits::client()
            };
            let mut guard = RenetGuard::new(limits);
            let mut peer = Peer::new(server);
            let mut taken = Vec::new();
            for _ in 0..rng.usize(1..10) {
                let mut packet = corpus[rng.usize(..corpus.len())].clone();
                match rng.u8(..4) {
                    0 => {}
                    // Slices of a few messages that need not agree with each other.
                    1 => {
                        let count = rng.u64(1..6);
                        let len = if rng.bool() {
                            SLICE_SIZE
                        } else {
                            rng.usize(1..SLICE_SIZE)
                        };
                        packet = slice(
                            rng.bool(),
                            rng.u8(..2),
                            rng.u64(..3),
                            rng.u64(..count + 1),
                            count,
                            len,
                        );
                    }
                    _ => mutate(&mut rng, &mut packet),
                }
                if guard.check(&packet).is_err() {
                    refused += 1;
                    continue;
                }
                accepted += 1;
                taken.push(packet.clone());
                let survived = catch_unwind(AssertUnwindSafe(|| peer.take(&packet)));
                assert!(
                    survived.is_ok(),
                    "renet panicked on accepted packets {taken:02x?}"
                );
            }
        }
        assert!(
            accepted > 3000 && refused > 3000,
            "{accepted} accepted, {refused} refused"
        );
    }
}
