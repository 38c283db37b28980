//! What each receive channel accepts: kinds, budgets, message lengths and slice counts.

use bevy_renet::renet::{ChannelConfig, SendType};

use super::RenetViolation;
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
pub(super) struct ChannelLimit {
    pub(super) kind: ChannelKind,
    /// The channel's `max_memory_usage_bytes`.
    pub(super) budget: usize,
    /// Longest message accepted: the protocol's limit or the channel budget, whichever is smaller.
    pub(super) max_message_bytes: usize,
    /// Most slices one message may have (0 when the channel cannot take sliced messages at all).
    pub(super) max_slices: u64,
    /// How many sliced messages [`RenetGuard`] remembers for this channel.
    pub(super) max_sliced_messages: usize,
}

impl ChannelLimit {
    pub(super) fn new(kind: ChannelKind, budget: usize, max_message_bytes: usize) -> Self {
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
    pub(super) channels: Box<[Option<ChannelLimit>; 256]>,
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
    #[cfg(any(test, feature = "internals"))]
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
    #[cfg(any(test, feature = "internals"))]
    pub fn kind(&self, channel_id: u8) -> Option<ChannelKind> {
        self.channels[usize::from(channel_id)].map(|limit| limit.kind)
    }

    /// The most slices a message on `channel_id` may have (0 when the channel takes no sliced
    /// messages), or `None` if the peer has no such channel.
    #[cfg(any(test, feature = "internals"))]
    pub fn max_slices(&self, channel_id: u8) -> Option<u64> {
        self.channels[usize::from(channel_id)].map(|limit| limit.max_slices)
    }

    pub(super) fn build(configs: &[ChannelConfig], max_message_bytes: usize) -> Self {
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

    pub(super) fn channel(
        &self,
        channel_id: u8,
        kind: ChannelKind,
    ) -> Result<ChannelLimit, RenetViolation> {
        match self.channels[usize::from(channel_id)] {
            None => Err(RenetViolation::UnknownChannel(channel_id)),
            Some(limit) if limit.kind != kind => Err(RenetViolation::WrongChannelKind(channel_id)),
            Some(limit) => Ok(limit),
        }
    }
}
