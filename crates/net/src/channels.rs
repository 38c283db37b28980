//! The renet channels of every Skirmish connection and their settings. Both ends build their
//! [`ConnectionConfig`] from [`connection_config`], so they can never disagree on channel ids or
//! delivery guarantees.

use std::time::Duration;

use bevy_renet::renet::{ChannelConfig, ConnectionConfig, SendType};

/// Channels the server sends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerChannel {
    /// Reliable ordered: the welcome, game events, and anything that must arrive.
    Reliable,
    /// Unreliable: one snapshot per server tick, each complete relative to the client's last ack.
    Snapshot,
}

/// Channels the client sends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientChannel {
    /// Unreliable: input frames (redundantly repeated) and the snapshot ack.
    Input,
    /// Reliable ordered: join details and other commands.
    Command,
}

impl From<ServerChannel> for u8 {
    fn from(channel: ServerChannel) -> Self {
        match channel {
            ServerChannel::Reliable => 0,
            ServerChannel::Snapshot => 1,
        }
    }
}

impl From<ClientChannel> for u8 {
    fn from(channel: ClientChannel) -> Self {
        match channel {
            ClientChannel::Input => 0,
            ClientChannel::Command => 1,
        }
    }
}

/// Channel settings for both directions.
pub fn connection_config() -> ConnectionConfig {
    let reliable = SendType::ReliableOrdered {
        resend_time: Duration::from_millis(200),
    };
    ConnectionConfig {
        available_bytes_per_tick: 60_000,
        server_channels_config: vec![
            ChannelConfig {
                channel_id: ServerChannel::Reliable.into(),
                max_memory_usage_bytes: 5 * 1024 * 1024,
                send_type: reliable.clone(),
            },
            ChannelConfig {
                channel_id: ServerChannel::Snapshot.into(),
                max_memory_usage_bytes: 10 * 1024 * 1024,
                send_type: SendType::Unreliable,
            },
        ],
        client_channels_config: vec![
            ChannelConfig {
                channel_id: ClientChannel::Input.into(),
                max_memory_usage_bytes: 256 * 1024,
                send_type: SendType::Unreliable,
            },
            ChannelConfig {
                channel_id: ClientChannel::Command.into(),
                max_memory_usage_bytes: 256 * 1024,
                send_type: reliable,
            },
        ],
    }
}
