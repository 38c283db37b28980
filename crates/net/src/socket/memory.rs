//! An in-memory network for tests: ports that exchange datagrams through shared queues instead
//! of the kernel, and a [`TestClock`] the test steps. Netcode, renet and the link conditioner run
//! unchanged on top; only the socket is replaced, so a run depends on nothing but its inputs and
//! its seed.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Most datagrams waiting at one port; more are dropped, as a full kernel buffer would.
pub const MAX_QUEUED_DATAGRAMS: usize = 4096;

/// The largest datagram a port sends (UDP's largest payload over IPv4), so a port's queue holds
/// at most [`MAX_QUEUED_DATAGRAMS`] of this size.
pub const MAX_DATAGRAM_BYTES: usize = 65_507;

/// The first port handed out: ports count up from here, in the order they are bound.
const FIRST_PORT: u16 = 40_000;

/// A clock shared by everything in one test: it moves only when the test advances it.
#[derive(Debug, Clone, Default)]
pub struct TestClock(Arc<AtomicU64>);

impl TestClock {
    /// The time since the clock started.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Acquire))
    }

    /// Moves the clock forward by `step`.
    pub fn advance(&self, step: Duration) {
        let nanos = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
        // Saturates instead of wrapping: at 1 ns resolution a u64 lasts 584 years.
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(nanos))
            });
    }
}

/// One datagram waiting at a port: when it may be received, who sent it and its bytes.
type Datagram = (Duration, SocketAddr, Vec<u8>);

/// Most datagrams remembered for [`NetworkFaults::replay`].
const REPLAY_MEMORY: usize = 64;

/// Faults the whole in-memory network applies to every datagram, on top of each socket's
/// conditioner, drawn from the network's seed (so one seed is still one run). The default is a
/// perfect network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkFaults {
    /// Probability in `[0, 1]` that a datagram is lost.
    pub loss: f32,
    /// Probability that a datagram arrives twice.
    pub duplicate: f32,
    /// Probability that, with each datagram, one of the last 64 sent on the network is
    /// delivered again to where it went: an attacker on the path replaying what it saw.
    pub replay: f32,
    /// Extra delay of every datagram.
    pub latency: Duration,
    /// Extra uniformly random delay of `0..=jitter` per datagram: later datagrams overtake
    /// earlier ones.
    pub jitter: Duration,
    /// Addresses cut off: nothing they send or are sent arrives.
    pub cut: Vec<SocketAddr>,
}

#[derive(Debug)]
struct Wires {
    next_port: u16,
    /// Each port's datagrams in the order they may be received.
    inboxes: HashMap<SocketAddr, VecDeque<Datagram>>,
    /// Datagrams dropped because their port's queue was full or nobody was bound there.
    dropped: u64,
    faults: NetworkFaults,
    rng: fastrand::Rng,
    /// The last datagrams sent, for replays: (from, to, bytes).
    recent: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
}

impl Default for Wires {
    fn default() -> Self {
        Self {
            next_port: 0,
            inboxes: HashMap::new(),
            dropped: 0,
            faults: NetworkFaults::default(),
            rng: fastrand::Rng::with_seed(0),
            recent: VecDeque::new(),
        }
    }
}

impl Wires {
    /// Queues `bytes` from `from` at `to`, to be received from `at` on; lost when nobody is
    /// bound there or its queue is full.
    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>, at: Duration) {
        match self.inboxes.get_mut(&to) {
            Some(inbox) if inbox.len() < MAX_QUEUED_DATAGRAMS => {
                let place = inbox.partition_point(|(due, _, _)| *due <= at);
                inbox.insert(place, (at, from, bytes));
            }
            _ => self.dropped += 1,
        }
    }

    /// The extra delay of one datagram under the faults.
    fn delay(&mut self) -> Duration {
        let jitter = self.faults.jitter.as_nanos() as u64;
        let extra = if jitter == 0 {
            0
        } else {
            self.rng.u64(0..=jitter)
        };
        self.faults.latency + Duration::from_nanos(extra)
    }
}

/// A network that lives in memory: bind ports on it, then wrap each in a
/// [`GameSocket`](super::GameSocket) with [`GameSocket::in_memory`](super::GameSocket::in_memory).
/// Delivery is immediate and in order; loss, latency and jitter come from each socket's
/// conditioner, which keeps time by the network's [`TestClock`].
#[derive(Debug, Clone, Default)]
pub struct MemoryNetwork {
    wires: Arc<Mutex<Wires>>,
    clock: TestClock,
}

impl MemoryNetwork {
    /// An empty network whose clock reads zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty network whose [`NetworkFaults`] draw from `seed`.
    pub fn with_seed(seed: u64) -> Self {
        let network = Self::default();
        network.wires().rng = fastrand::Rng::with_seed(seed);
        network
    }

    /// Applies `faults` to every datagram sent from now on (those already queued keep their
    /// delays).
    pub fn set_faults(&self, faults: NetworkFaults) {
        self.wires().faults = faults;
    }

    /// The faults applied now.
    pub fn faults(&self) -> NetworkFaults {
        self.wires().faults.clone()
    }

    /// The network's clock.
    pub fn clock(&self) -> TestClock {
        self.clock.clone()
    }

    /// A new port at `127.0.0.1:<port>` (ports count up from 40000 in the order they are bound;
    /// no real socket is opened). `None` once every port is taken.
    pub fn bind(&self) -> Option<MemoryPort> {
        let mut wires = self.wires();
        let addr = loop {
            let port = FIRST_PORT.checked_add(wires.next_port)?;
            wires.next_port += 1;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            // Skips an address taken with `bind_at`.
            if !wires.inboxes.contains_key(&addr) {
                break addr;
            }
        };
        wires.inboxes.insert(addr, VecDeque::new());
        Some(MemoryPort {
            network: self.clone(),
            addr,
        })
    }

    /// The port at `addr` (one of this network's `127.0.0.1` addresses, say a server's that
    /// stopped and listens again); `None` while something is bound there.
    pub fn bind_at(&self, addr: SocketAddr) -> Option<MemoryPort> {
        let mut wires = self.wires();
        if wires.inboxes.contains_key(&addr) {
            return None;
        }
        wires.inboxes.insert(addr, VecDeque::new());
        Some(MemoryPort {
            network: self.clone(),
            addr,
        })
    }

    /// Datagrams dropped so far because their port's queue was full or nobody was bound there.
    pub fn dropped(&self) -> u64 {
        self.wires().dropped
    }

    fn wires(&self) -> MutexGuard<'_, Wires> {
        // A test that panicked while holding the lock left nothing half-written: queues only.
        self.wires
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One port of a [`MemoryNetwork`]; unbound when dropped.
#[derive(Debug)]
pub struct MemoryPort {
    network: MemoryNetwork,
    addr: SocketAddr,
}

impl MemoryPort {
    /// This port's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The network's clock.
    pub fn clock(&self) -> TestClock {
        self.network.clock()
    }

    /// Queues `bytes` at `to`. Like UDP, a datagram to nobody or to a full queue is lost, and
    /// one larger than [`MAX_DATAGRAM_BYTES`] is refused.
    pub fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<usize> {
        if bytes.len() > MAX_DATAGRAM_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "datagram larger than UDP allows",
            ));
        }
        let now = self.network.clock.now();
        let mut wires = self.network.wires();
        let from = self.addr;
        if wires.faults == NetworkFaults::default() {
            wires.deliver(from, to, bytes.to_vec(), now);
            return Ok(bytes.len());
        }
        let faults = wires.faults.clone();
        if faults.replay > 0.0 {
            if wires.recent.len() == REPLAY_MEMORY {
                wires.recent.pop_front();
            }
            wires.recent.push_back((from, to, bytes.to_vec()));
            if wires.rng.f32() < faults.replay {
                let remembered = wires.recent.len();
                let pick = wires.rng.usize(..remembered);
                let (old_from, old_to, old) = wires.recent[pick].clone();
                let at = now + wires.delay();
                wires.deliver(old_from, old_to, old, at);
            }
        }
        if faults.cut.contains(&from) || faults.cut.contains(&to) || wires.rng.f32() < faults.loss {
            return Ok(bytes.len());
        }
        let copies = if wires.rng.f32() < faults.duplicate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = now + wires.delay();
            wires.deliver(from, to, bytes.to_vec(), at);
        }
        Ok(bytes.len())
    }

    /// The oldest datagram due here, truncated to `buffer` as UDP would; `WouldBlock` when
    /// none is.
    pub fn recv_from(&self, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let now = self.network.clock.now();
        let mut wires = self.network.wires();
        let Some((_, from, bytes)) = wires
            .inboxes
            .get_mut(&self.addr)
            .filter(|inbox| inbox.front().is_some_and(|(due, _, _)| *due <= now))
            .and_then(VecDeque::pop_front)
        else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let len = bytes.len().min(buffer.len());
        buffer[..len].copy_from_slice(&bytes[..len]);
        Ok((len, from))
    }
}

impl Drop for MemoryPort {
    fn drop(&mut self) {
        self.network.wires().inboxes.remove(&self.addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_exchange_datagrams_in_order_and_lose_what_nobody_hears() {
        let network = MemoryNetwork::new();
        let a = network.bind().unwrap();
        let b = network.bind().unwrap();
        assert_ne!(a.addr(), b.addr());
        a.send_to(b"one", b.addr()).unwrap();
        a.send_to(b"two", b.addr()).unwrap();
        let mut buffer = [0u8; 2];
        assert_eq!(b.recv_from(&mut buffer).unwrap(), (2, a.addr()));
        assert_eq!(
            &buffer, b"on",
            "a datagram longer than the buffer is truncated"
        );
        let mut buffer = [0u8; 8];
        assert_eq!(b.recv_from(&mut buffer).unwrap(), (3, a.addr()));
        assert_eq!(&buffer[..3], b"two");
        assert_eq!(
            b.recv_from(&mut buffer).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );

        let gone = b.addr();
        drop(b);
        a.send_to(b"lost", gone).unwrap();
        assert_eq!(network.dropped(), 1);
    }

    #[test]
    fn an_address_is_bound_again_once_free() {
        let network = MemoryNetwork::new();
        let a = network.bind().unwrap();
        let addr = a.addr();
        assert!(network.bind_at(addr).is_none(), "the address is taken");
        drop(a);
        let again = network.bind_at(addr).expect("the address is free again");
        let b = network.bind().unwrap();
        assert_ne!(b.addr(), addr, "bind never hands out a used address");
        b.send_to(b"hi", addr).unwrap();
        let mut buffer = [0u8; 4];
        assert_eq!(again.recv_from(&mut buffer).unwrap(), (2, b.addr()));
    }

    #[test]
    fn a_datagram_larger_than_udp_allows_is_refused() {
        let network = MemoryNetwork::new();
        let a = network.bind().unwrap();
        let b = network.bind().unwrap();
        let huge = vec![0u8; MAX_DATAGRAM_BYTES + 1];
        assert_eq!(
            a.send_to(&huge, b.addr()).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let mut buffer = [0u8; 8];
        assert!(b.recv_from(&mut buffer).is_err(), "nothing was queued");
    }

    #[test]
    fn a_full_queue_drops_instead_of_growing() {
        let network = MemoryNetwork::new();
        let a = network.bind().unwrap();
        let b = network.bind().unwrap();
        for _ in 0..MAX_QUEUED_DATAGRAMS + 10 {
            a.send_to(b"x", b.addr()).unwrap();
        }
        assert_eq!(network.dropped(), 10);
    }

    #[test]
    fn faults_lose_duplicate_delay_and_cut_datagrams() {
        let network = MemoryNetwork::with_seed(3);
        let a = network.bind().unwrap();
        let b = network.bind().unwrap();
        let mut buffer = [0u8; 8];
        let mut received = |port: &MemoryPort| {
            let mut count = 0;
            while port.recv_from(&mut buffer).is_ok() {
                count += 1;
            }
            count
        };
        network.set_faults(NetworkFaults {
            duplicate: 1.0,
            ..NetworkFaults::default()
        });
        a.send_to(b"twice", b.addr()).unwrap();
        assert_eq!(received(&b), 2);
        network.set_faults(NetworkFaults {
            latency: Duration::from_millis(50),
            ..NetworkFaults::default()
        });
        a.send_to(b"late", b.addr()).unwrap();
        assert_eq!(received(&b), 0, "not due yet");
        network.clock().advance(Duration::from_millis(50));
        assert_eq!(received(&b), 1);
        network.set_faults(NetworkFaults {
            cut: vec![b.addr()],
            ..NetworkFaults::default()
        });
        a.send_to(b"cut", b.addr()).unwrap();
        b.send_to(b"cut", a.addr()).unwrap();
        assert_eq!((received(&a), received(&b)), (0, 0));
        network.set_faults(NetworkFaults {
            loss: 0.5,
            ..NetworkFaults::default()
        });
        for _ in 0..1000 {
            a.send_to(b"maybe", b.addr()).unwrap();
        }
        let arrived = received(&b);
        assert!(
            (350..650).contains(&arrived),
            "{arrived} of 1000 at half loss"
        );
    }

    #[test]
    fn jitter_reorders_and_replays_repeat_old_datagrams() {
        let network = MemoryNetwork::with_seed(4);
        let a = network.bind().unwrap();
        let b = network.bind().unwrap();
        network.set_faults(NetworkFaults {
            jitter: Duration::from_millis(100),
            replay: 0.5,
            ..NetworkFaults::default()
        });
        for i in 0..100u8 {
            a.send_to(&[i], b.addr()).unwrap();
        }
        network.clock().advance(Duration::from_millis(100));
        let mut order = Vec::new();
        let mut buffer = [0u8; 1];
        while b.recv_from(&mut buffer).is_ok() {
            order.push(buffer[0]);
        }
        assert!(order.len() > 120, "replays arrive too: {}", order.len());
        assert!(order.windows(2).any(|pair| pair[0] > pair[1]), "reordered");
    }

    #[test]
    fn the_clock_moves_only_when_advanced() {
        let network = MemoryNetwork::new();
        let clock = network.clock();
        assert_eq!(clock.now(), Duration::ZERO);
        clock.advance(Duration::from_millis(16));
        assert_eq!(network.clock().now(), Duration::from_millis(16));
    }
}
