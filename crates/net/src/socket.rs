//! The UDP socket both transports use, with an optional link conditioner (simulated latency,
//! jitter and loss, in both directions) and traffic counters.
//!
//! Conditioning happens here, at the socket, beneath netcode and renet: the game, renet's
//! reliability and netcode's timeouts all see exactly what a bad real network would give them.
//!
//! With the `test-utils` feature a socket can also be a port of an in-memory network
//! (`memory`) and keep time by a clock the test steps, so a seed replays a run.

#[cfg(feature = "test-utils")]
pub mod memory;

use std::collections::BinaryHeap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bevy::prelude::*;

#[cfg(feature = "test-utils")]
use memory::{MemoryPort, TestClock};

/// Largest datagram read from the socket (netcode packets are at most 1400 bytes; anything
/// larger is truncated here and then refused by netcode).
pub const MAX_DATAGRAM_BYTES: usize = 1500;

/// Most datagrams [`GameSocket::receive`] reads in one call. A flood from one source cannot make a
/// tick take unbounded time: what is left waits in the kernel's buffer (which drops the excess).
pub const MAX_DATAGRAMS_PER_RECEIVE: usize = 4096;

/// Simulated network conditions, applied to every datagram this process sends and receives.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkConditioner {
    /// Extra one-way delay, added to each direction (so round trips grow by twice this).
    pub latency: Duration,
    /// Each datagram is delayed by an extra uniformly random `0..=jitter`.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a datagram is dropped, in each direction.
    pub loss: f32,
}

impl LinkConditioner {
    /// Builds a conditioner from command-line style values, checking them.
    pub fn new(latency_ms: u64, jitter_ms: u64, loss: f32) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&loss) {
            return Err(format!("loss must be between 0 and 1, got {loss}"));
        }
        if latency_ms > 10_000 || jitter_ms > 10_000 {
            return Err("latency and jitter must be at most 10000 ms".into());
        }
        Ok(Self {
            latency: Duration::from_millis(latency_ms),
            jitter: Duration::from_millis(jitter_ms),
            loss,
        })
    }

    /// Whether this conditioner changes anything.
    pub fn is_active(&self) -> bool {
        !self.latency.is_zero() || !self.jitter.is_zero() || self.loss > 0.0
    }
}

/// Traffic counters of one socket, as seen by the game (after conditioning).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficCounters {
    /// Datagrams handed to the network.
    pub packets_sent: u64,
    /// Bytes handed to the network (UDP payload).
    pub bytes_sent: u64,
    /// Datagrams delivered to netcode.
    pub packets_received: u64,
    /// Bytes delivered to netcode.
    pub bytes_received: u64,
    /// Datagrams the link conditioner dropped (both directions).
    pub packets_dropped_by_conditioner: u64,
}

#[derive(Debug, PartialEq, Eq)]
struct Delayed {
    /// When it is delivered, on the socket's clock.
    due: Duration,
    /// Tie-breaker keeping equal-time datagrams in send order.
    order: u64,
    addr: SocketAddr,
    bytes: Vec<u8>,
}

impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest first.
        (other.due, other.order).cmp(&(self.due, self.order))
    }
}

impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What a [`GameSocket`] sends through.
#[derive(Debug)]
enum Link {
    /// A real, non-blocking UDP socket.
    Udp(UdpSocket),
    /// A port of an in-memory network.
    #[cfg(feature = "test-utils")]
    Memory(MemoryPort),
}

impl Link {
    fn recv_from(&mut self, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self {
            Self::Udp(socket) => socket.recv_from(buffer),
            #[cfg(feature = "test-utils")]
            Self::Memory(port) => port.recv_from(buffer),
        }
    }

    fn send_to(&self, bytes: &[u8], addr: SocketAddr) -> io::Result<usize> {
        match self {
            Self::Udp(socket) => socket.send_to(bytes, addr),
            #[cfg(feature = "test-utils")]
            Self::Memory(port) => port.send_to(bytes, addr),
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Self::Udp(socket) => socket.local_addr(),
            #[cfg(feature = "test-utils")]
            Self::Memory(port) => Ok(port.addr()),
        }
    }
}

/// What a [`GameSocket`] keeps time by, for delayed datagrams.
#[derive(Debug, Clone)]
enum SocketClock {
    /// Real time since the socket was made.
    Real(Instant),
    /// A clock the test steps.
    #[cfg(feature = "test-utils")]
    Test(TestClock),
}

impl SocketClock {
    fn now(&self) -> Duration {
        match self {
            Self::Real(epoch) => epoch.elapsed(),
            #[cfg(feature = "test-utils")]
            Self::Test(clock) => clock.now(),
        }
    }
}

/// A non-blocking UDP socket with an optional [`LinkConditioner`] and [`TrafficCounters`].
#[derive(Debug)]
pub struct GameSocket {
    link: Link,
    clock: SocketClock,
    conditioner: LinkConditioner,
    rng: fastrand::Rng,
    outgoing: BinaryHeap<Delayed>,
    incoming: BinaryHeap<Delayed>,
    order: u64,
    buffer: Box<[u8; MAX_DATAGRAM_BYTES]>,
    /// What went through this socket.
    pub counters: TrafficCounters,
}

impl GameSocket {
    /// Wraps a bound socket (made non-blocking here).
    pub fn new(socket: UdpSocket, conditioner: LinkConditioner) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self::on(
            Link::Udp(socket),
            SocketClock::Real(Instant::now()),
            conditioner,
            fastrand::Rng::new(),
        ))
    }

    /// A UDP socket that keeps time by `clock` and draws loss and jitter from `seed`.
    #[cfg(feature = "test-utils")]
    pub fn with_test_clock(
        socket: UdpSocket,
        conditioner: LinkConditioner,
        clock: TestClock,
        seed: u64,
    ) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self::on(
            Link::Udp(socket),
            SocketClock::Test(clock),
            conditioner,
            fastrand::Rng::with_seed(seed),
        ))
    }

    /// A port of an in-memory network, on its clock, drawing loss and jitter from `seed`.
    #[cfg(feature = "test-utils")]
    pub fn in_memory(port: MemoryPort, conditioner: LinkConditioner, seed: u64) -> Self {
        let clock = SocketClock::Test(port.clock());
        Self::on(
            Link::Memory(port),
            clock,
            conditioner,
            fastrand::Rng::with_seed(seed),
        )
    }

    fn on(
        link: Link,
        clock: SocketClock,
        conditioner: LinkConditioner,
        rng: fastrand::Rng,
    ) -> Self {
        Self {
            link,
            clock,
            conditioner,
            rng,
            outgoing: BinaryHeap::new(),
            incoming: BinaryHeap::new(),
            order: 0,
            buffer: Box::new([0; MAX_DATAGRAM_BYTES]),
            counters: TrafficCounters::default(),
        }
    }

    /// The local address of the socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.link.local_addr()
    }

    /// The active conditioner.
    pub fn conditioner(&self) -> LinkConditioner {
        self.conditioner
    }

    /// Changes the conditioner; datagrams already delayed keep their delivery time.
    pub fn set_conditioner(&mut self, conditioner: LinkConditioner) {
        self.conditioner = conditioner;
    }

    /// Sends a datagram now, or later if the conditioner delays it (or never, if it drops it).
    /// Send errors are logged and the datagram dropped: UDP gives no delivery promise anyway.
    pub fn send_to(&mut self, bytes: &[u8], addr: SocketAddr) {
        if !self.conditioner.is_active() {
            self.send_now(bytes, addr);
            return;
        }
        if let Some(delayed) = self.condition(addr, bytes.to_vec()) {
            self.outgoing.push(delayed);
        }
        self.flush();
    }

    /// Sends every delayed datagram that is due.
    pub fn flush(&mut self) {
        let now = self.clock.now();
        while self.outgoing.peek().is_some_and(|next| next.due <= now) {
            let Some(datagram) = self.outgoing.pop() else {
                break;
            };
            self.send_now(&datagram.bytes, datagram.addr);
        }
    }

    /// Receives every datagram that has arrived (and, when conditioned, is due), passing each to
    /// `handle`. Returns the first hard socket error; would-block ends the loop normally.
    pub fn receive(&mut self, mut handle: impl FnMut(SocketAddr, &mut [u8])) -> io::Result<()> {
        let mut read = 0;
        let result = loop {
            if read == MAX_DATAGRAMS_PER_RECEIVE {
                break Ok(());
            }
            read += 1;
            match self.link.recv_from(&mut self.buffer[..]) {
                Ok((len, addr)) => {
                    if self.conditioner.is_active() {
                        let bytes = self.buffer[..len].to_vec();
                        if let Some(delayed) = self.condition(addr, bytes) {
                            self.incoming.push(delayed);
                        }
                    } else {
                        self.counters.packets_received += 1;
                        self.counters.bytes_received += len as u64;
                        handle(addr, &mut self.buffer[..len]);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => break Ok(()),
                // An ICMP "port unreachable" from an earlier send to a vanished peer.
                Err(err) if err.kind() == io::ErrorKind::ConnectionReset => continue,
                Err(err) => break Err(err),
            }
        };
        let now = self.clock.now();
        while self.incoming.peek().is_some_and(|next| next.due <= now) {
            let Some(mut datagram) = self.incoming.pop() else {
                break;
            };
            self.counters.packets_received += 1;
            self.counters.bytes_received += datagram.bytes.len() as u64;
            handle(datagram.addr, &mut datagram.bytes);
        }
        result
    }

    /// Rolls loss and delay for one datagram: `None` if dropped, else the datagram with its
    /// delivery time.
    fn condition(&mut self, addr: SocketAddr, bytes: Vec<u8>) -> Option<Delayed> {
        if self.conditioner.loss > 0.0 && self.rng.f32() < self.conditioner.loss {
            self.counters.packets_dropped_by_conditioner += 1;
            return None;
        }
        let jitter_us = self.conditioner.jitter.as_micros() as u64;
        let jitter = Duration::from_micros(if jitter_us == 0 {
            0
        } else {
            self.rng.u64(0..=jitter_us)
        });
        self.order += 1;
        Some(Delayed {
            due: self.clock.now() + self.conditioner.latency + jitter,
            order: self.order,
            addr,
            bytes,
        })
    }

    fn send_now(&mut self, bytes: &[u8], addr: SocketAddr) {
        match self.link.send_to(bytes, addr) {
            Ok(_) => {
                self.counters.packets_sent += 1;
                self.counters.bytes_sent += bytes.len() as u64;
            }
            Err(err) => debug!("dropping a datagram to {addr}: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn pair(conditioner: LinkConditioner) -> (GameSocket, UdpSocket, SocketAddr) {
        let game = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let peer = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let peer_addr = peer.local_addr().unwrap();
        (GameSocket::new(game, conditioner).unwrap(), peer, peer_addr)
    }

    #[test]
    fn unconditioned_socket_passes_datagrams_through() {
        let (mut socket, peer, peer_addr) = pair(LinkConditioner::default());
        socket.send_to(b"hello", peer_addr);
        let mut buf = [0u8; 16];
        let (len, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"hello");

        peer.send_to(b"back", socket.local_addr().unwrap()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while got.is_empty() && Instant::now() < deadline {
            socket
                .receive(|addr, bytes| got.push((addr, bytes.to_vec())))
                .unwrap();
        }
        assert_eq!(got, vec![(peer.local_addr().unwrap(), b"back".to_vec())]);
        assert_eq!(from, socket.local_addr().unwrap());
        assert_eq!(socket.counters.packets_sent, 1);
        assert_eq!(socket.counters.packets_received, 1);
    }

    #[test]
    fn conditioner_delays_and_drops() {
        let latency = Duration::from_millis(40);
        let conditioner = LinkConditioner {
            latency,
            jitter: Duration::from_millis(10),
            loss: 0.5,
        };
        let (mut socket, peer, peer_addr) = pair(conditioner);
        peer.set_nonblocking(true).unwrap();
        let sent_at = Instant::now();
        for i in 0..200u8 {
            socket.send_to(&[i], peer_addr);
        }
        // Nothing may arrive before the latency has passed.
        let mut buf = [0u8; 4];
        assert!(
            peer.recv_from(&mut buf).is_err(),
            "datagrams must be delayed"
        );
        let mut received = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && sent_at.elapsed() < Duration::from_millis(500) {
            socket.flush();
            while peer.recv_from(&mut buf).is_ok() {
                assert!(
                    sent_at.elapsed() >= latency,
                    "a datagram arrived before the latency"
                );
                received += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let dropped = socket.counters.packets_dropped_by_conditioner;
        assert_eq!(
            received + dropped,
            200,
            "every datagram is delivered or counted dropped"
        );
        assert!(
            (50..150).contains(&dropped),
            "50% loss should drop about 100 of 200, dropped {dropped}"
        );
    }

    #[test]
    fn invalid_conditioner_values_are_refused() {
        assert!(LinkConditioner::new(0, 0, 1.5).is_err());
        assert!(LinkConditioner::new(0, 0, -0.1).is_err());
        assert!(LinkConditioner::new(20_000, 0, 0.0).is_err());
        assert!(LinkConditioner::new(50, 10, 0.05).unwrap().is_active());
        assert!(!LinkConditioner::new(0, 0, 0.0).unwrap().is_active());
    }
}
