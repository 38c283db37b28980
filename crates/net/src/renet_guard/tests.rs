use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use bevy_renet::renet::{RenetClient, RenetServer};

use bevy_renet::renet::{ChannelConfig, SendType};

use super::RenetViolation::*;
use super::packet_check::{PacketKind, inspect};
use super::*;
use crate::channels::{ClientChannel, ServerChannel, connection_config};
use crate::codec::MAX_MESSAGE_BYTES;

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
