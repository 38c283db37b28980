//! Little-endian reading and writing of netcode's fields. Reads never panic: running out of bytes
//! gives `None`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Address type of an IPv4 address in tokens.
const ADDRESS_IPV4: u8 = 1;
/// Address type of an IPv6 address in tokens.
const ADDRESS_IPV6: u8 = 2;

/// Reads fields from the front of a byte slice.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Bytes not read yet.
    pub(super) fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    pub(super) fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.bytes.split_at_checked(len)?;
        self.bytes = tail;
        Some(head)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    pub(super) fn i32(&mut self) -> Option<i32> {
        Some(i32::from_le_bytes(self.array()?))
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    /// A server address list: a count in `1..=max`, then typed addresses (1 = IPv4, 2 = IPv6).
    pub(super) fn addresses(&mut self, max: usize) -> Option<Vec<SocketAddr>> {
        let count = self.u32()? as usize;
        if count == 0 || count > max {
            return None;
        }
        let mut addresses = Vec::with_capacity(count);
        for _ in 0..count {
            let address = match self.u8()? {
                ADDRESS_IPV4 => {
                    let ip = Ipv4Addr::from(self.array::<4>()?);
                    SocketAddr::V4(SocketAddrV4::new(ip, self.u16()?))
                }
                ADDRESS_IPV6 => {
                    let mut segments = [0u16; 8];
                    for segment in &mut segments {
                        *segment = self.u16()?;
                    }
                    SocketAddr::V6(SocketAddrV6::new(
                        Ipv6Addr::from(segments),
                        self.u16()?,
                        0,
                        0,
                    ))
                }
                _ => return None,
            };
            addresses.push(address);
        }
        Some(addresses)
    }
}

/// Appends fields to a byte vector.
pub(super) trait Writer {
    fn put(&mut self, bytes: &[u8]);

    fn put_u16(&mut self, value: u16) {
        self.put(&value.to_le_bytes());
    }

    fn put_u32(&mut self, value: u32) {
        self.put(&value.to_le_bytes());
    }

    fn put_i32(&mut self, value: i32) {
        self.put(&value.to_le_bytes());
    }

    fn put_u64(&mut self, value: u64) {
        self.put(&value.to_le_bytes());
    }

    /// The standard's address list: count, then each address with its type. IPv6 segments are
    /// written as little-endian `u16`s, as the standard's tables say.
    fn put_addresses(&mut self, addresses: &[SocketAddr]) {
        self.put_u32(addresses.len() as u32);
        for address in addresses {
            match address {
                SocketAddr::V4(v4) => {
                    self.put(&[ADDRESS_IPV4]);
                    self.put(&v4.ip().octets());
                }
                SocketAddr::V6(v6) => {
                    self.put(&[ADDRESS_IPV6]);
                    for segment in v6.ip().segments() {
                        self.put_u16(segment);
                    }
                }
            }
            self.put_u16(address.port());
        }
    }
}

impl Writer for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}
