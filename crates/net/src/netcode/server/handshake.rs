//! The netcode handshake on the server: a connection request checked against its token and
//! answered with a challenge, the challenge's response turned into a slot. Pending handshakes are
//! bounded in all, per host and in time; a token connects once, from one address.

use std::net::SocketAddr;
use std::time::Duration;

use bevy::platform::collections::HashMap;

use super::{
    Connection, MAX_PENDING_PER_IP, MAX_PENDING_TIME, MAX_TIMEOUT, NetcodeServer, ServerEvent,
    TOKEN_HISTORY,
};
use crate::netcode::packet::Packet;
use crate::netcode::replay::ReplayProtection;
use crate::netcode::token::{ChallengeToken, PrivateConnectToken};
use crate::netcode::{KEY_BYTES, MAC_BYTES, USER_DATA_BYTES};

/// A client between its connection request and its response.
pub(super) struct Pending {
    pub(super) client_id: u64,
    /// The tag of its connect token's private part (which token this handshake is for).
    pub(super) token_mac: [u8; MAC_BYTES],
    /// When the first request arrived; the deadline never moves past `first_seen + MAX_PENDING_TIME`.
    pub(super) first_seen: Duration,
    pub(super) send_key: [u8; KEY_BYTES],
    pub(super) receive_key: [u8; KEY_BYTES],
    /// When the handshake must be done by (server time).
    pub(super) deadline: Duration,
    pub(super) timeout: Duration,
    pub(super) user_data: [u8; USER_DATA_BYTES],
}

/// A token already used, and from where.
#[derive(Clone, Copy)]
pub(super) struct UsedToken {
    pub(super) addr: SocketAddr,
    /// Whether it completed a handshake: a token connects once.
    pub(super) connected: bool,
}

impl NetcodeServer {
    pub(super) fn process_request(&mut self, addr: SocketAddr, packet: &Packet<'_>) {
        let Packet::ConnectionRequest {
            protocol_id,
            expire_timestamp,
            nonce,
            private_data,
        } = *packet
        else {
            return;
        };
        if expire_timestamp <= self.time.as_secs() {
            self.drops.token_refused += 1;
            return;
        }
        let Ok(token) = PrivateConnectToken::decrypt(
            private_data,
            protocol_id,
            expire_timestamp,
            &nonce,
            &self.private_key,
        ) else {
            self.drops.token_refused += 1;
            return;
        };
        let for_us = token
            .server_addresses
            .iter()
            .any(|address| self.public_addresses.contains(address));
        if !for_us || self.by_id.contains_key(&token.client_id) {
            self.drops.token_refused += 1;
            return;
        }
        let mac: [u8; MAC_BYTES] = private_data[private_data.len() - MAC_BYTES..]
            .try_into()
            .expect("a tag is 16 bytes");
        if !self.remember_token(mac, addr) {
            self.drops.token_refused += 1;
            return;
        }
        if self.by_id.len() >= self.slots.len() {
            let sequence = self.next_global_sequence();
            self.send(
                addr,
                &Packet::ConnectionDenied,
                sequence,
                &token.server_to_client_key,
            );
            return;
        }
        let timeout = effective_timeout(token.timeout_seconds);
        let expiry = Duration::from_secs(expire_timestamp);
        match self.pending.get_mut(&addr) {
            // Another token from the same address: its challenge could never be answered (we
            // keep the first handshake), so it gets none.
            Some(pending) if pending.token_mac != mac => {
                self.drops.request_ignored += 1;
                return;
            }
            // The same handshake again (its challenge may have been lost): more time, within
            // bounds.
            Some(pending) => {
                pending.deadline = (self.time + timeout.min(MAX_PENDING_TIME))
                    .min(pending.first_seen + MAX_PENDING_TIME)
                    .min(expiry);
            }
            None => {
                // Counted only once admitted: a refused request from a fresh (spoofed) address
                // leaves nothing behind.
                let ip = IpKey::of(addr);
                let per_ip = self.pending_per_ip.get(&ip).copied().unwrap_or(0);
                if self.pending.len() >= self.max_pending || per_ip >= MAX_PENDING_PER_IP {
                    self.drops.request_ignored += 1;
                    return;
                }
                *self.pending_per_ip.entry(ip).or_insert(0) += 1;
                self.pending.insert(
                    addr,
                    Pending {
                        client_id: token.client_id,
                        token_mac: mac,
                        first_seen: self.time,
                        send_key: token.server_to_client_key,
                        receive_key: token.client_to_server_key,
                        deadline: (self.time + timeout.min(MAX_PENDING_TIME)).min(expiry),
                        timeout,
                        user_data: token.user_data,
                    },
                );
            }
        }
        let challenge = ChallengeToken {
            client_id: token.client_id,
            user_data: token.user_data,
        };
        let token_sequence = self.challenge_sequence;
        self.challenge_sequence += 1;
        let encrypted = challenge.encrypt(token_sequence, &self.challenge_key);
        let sequence = self.next_global_sequence();
        self.send(
            addr,
            &Packet::Challenge {
                token_sequence,
                token: &encrypted,
            },
            sequence,
            &token.server_to_client_key,
        );
    }

    pub(super) fn process_response(
        &mut self,
        addr: SocketAddr,
        token_sequence: u64,
        token: &[u8; crate::netcode::CHALLENGE_TOKEN_BYTES],
    ) {
        let Some(challenge) = ChallengeToken::decrypt(token, token_sequence, &self.challenge_key)
        else {
            self.drops.token_refused += 1;
            return;
        };
        let Some(pending) = self.pending.get(&addr) else {
            return;
        };
        if challenge.client_id != pending.client_id || self.by_id.contains_key(&challenge.client_id)
        {
            self.drops.token_refused += 1;
            return;
        }
        let Some(slot) = self.slots.iter().position(Option::is_none) else {
            let send_key = pending.send_key;
            let sequence = self.next_global_sequence();
            self.send(addr, &Packet::ConnectionDenied, sequence, &send_key);
            return;
        };
        let Some(pending) = self.remove_pending(&addr) else {
            return;
        };
        if let Some(used) = self.used_tokens.get_mut(&pending.token_mac) {
            if used.connected {
                // A recorded handshake replayed after its client left: a token connects once.
                self.drops.token_refused += 1;
                return;
            }
            used.connected = true;
        }
        self.slots[slot] = Some(Connection {
            client_id: pending.client_id,
            addr,
            send_key: pending.send_key,
            receive_key: pending.receive_key,
            sequence: 0,
            replay: ReplayProtection::default(),
            last_received: self.time,
            last_sent: self.time,
            timeout: pending.timeout,
            confirmed: false,
            user_data: pending.user_data,
        });
        self.by_addr.insert(addr, slot);
        self.by_id.insert(pending.client_id, slot);
        self.events.push_back(ServerEvent::Connected {
            client_id: pending.client_id,
            addr,
        });
        self.send_keep_alive(slot);
    }

    /// Records a token's use from `addr`. `false` if another address already used it, or it
    /// already connected once.
    fn remember_token(&mut self, mac: [u8; MAC_BYTES], addr: SocketAddr) -> bool {
        if let Some(used) = self.used_tokens.get(&mac) {
            return used.addr == addr && !used.connected;
        }
        if self.used_order.len() >= TOKEN_HISTORY {
            // Forget the oldest token (the first to expire, tokens living about as long).
            if let Some(oldest) = self.used_order.pop_front() {
                self.used_tokens.remove(&oldest);
            }
        }
        self.used_tokens.insert(
            mac,
            UsedToken {
                addr,
                connected: false,
            },
        );
        self.used_order.push_back(mac);
        true
    }

    pub(super) fn remove_pending(&mut self, addr: &SocketAddr) -> Option<Pending> {
        let pending = self.pending.remove(addr)?;
        release_ip(&mut self.pending_per_ip, *addr);
        Some(pending)
    }
}

/// The part of an address that identifies a host: the IPv4 address, or the /64 of an IPv6 one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum IpKey {
    V4(u32),
    V6(u64),
}

impl IpKey {
    pub(super) fn of(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(v4) => Self::V4(u32::from(*v4.ip())),
            SocketAddr::V6(v6) => Self::V6((u128::from(*v6.ip()) >> 64) as u64),
        }
    }
}

pub(super) fn release_ip(per_ip: &mut HashMap<IpKey, u8>, addr: SocketAddr) {
    let key = IpKey::of(addr);
    if let Some(count) = per_ip.get_mut(&key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            per_ip.remove(&key);
        }
    }
}

/// The timeout a token asks for, within `1 s..=MAX_TIMEOUT` (none requested: the maximum).
fn effective_timeout(timeout_seconds: i32) -> Duration {
    match u64::try_from(timeout_seconds) {
        Ok(seconds) if seconds > 0 => Duration::from_secs(seconds).min(MAX_TIMEOUT),
        _ => MAX_TIMEOUT,
    }
}
