//! Bit-level writing and reading for snapshots: small numbers take a few bits, not bytes.
//!
//! [`BitWriter::write_varint`] uses a bucketed prefix code tuned for snapshot deltas:
//!
//! | prefix | payload | values |
//! |---|---|---|
//! | `0` | none | 0 |
//! | `10` | 6 bits | 1 ..= 64 |
//! | `110` | 10 bits | 65 ..= 1088 |
//! | `1110` | 16 bits | 1089 ..= 66624 |
//! | `1111` | 32 bits | anything else |

/// Why a bit stream could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBits;

impl std::fmt::Display for OutOfBits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("snapshot ended early")
    }
}

impl std::error::Error for OutOfBits {}

/// Appends bits, least significant first, to a byte buffer.
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    bytes: Vec<u8>,
    scratch: u64,
    used: u32,
}

const BUCKETS: [(u32, u32); 3] = [(6, 1), (10, 65), (16, 1089)];

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `bytes` bytes before it grows.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// Writes the low `count` bits of `value` (`count` at most 32).
    #[inline]
    pub fn write_bits(&mut self, value: u32, count: u32) {
        debug_assert!(count <= 32);
        if count == 0 {
            return;
        }
        let masked = u64::from(value) & ((1u64 << count) - 1);
        self.scratch |= masked << self.used;
        self.used += count;
        // Fewer than 32 bits wait in `scratch`; whole words go out at once.
        if self.used >= 32 {
            self.bytes
                .extend_from_slice(&(self.scratch as u32).to_le_bytes());
            self.scratch >>= 32;
            self.used -= 32;
        }
    }

    /// Writes one bit.
    pub fn write_bool(&mut self, value: bool) {
        self.write_bits(u32::from(value), 1);
    }

    /// Writes an unsigned number with the bucketed prefix code.
    #[inline]
    pub fn write_varint(&mut self, value: u32) {
        // Prefix and payload in one write where they fit in 32 bits.
        match value {
            0 => self.write_bits(0, 1),
            1..=64 => self.write_bits(0b01 | ((value - 1) << 2), 8),
            65..=1088 => self.write_bits(0b011 | ((value - 65) << 3), 13),
            1089..=66624 => self.write_bits(0b0111 | ((value - 1089) << 4), 20),
            _ => {
                self.write_bits(0b1111, 4);
                self.write_bits(value, 32);
            }
        }
    }

    /// Writes a signed number: zigzag, then [`write_varint`](Self::write_varint).
    pub fn write_signed(&mut self, value: i32) {
        self.write_varint(zigzag(value));
    }

    /// Writes whole bytes (after a varint length).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.write_varint(bytes.len() as u32);
        for byte in bytes {
            self.write_bits(u32::from(*byte), 8);
        }
    }

    /// Bits written so far.
    #[inline]
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8 + self.used as usize
    }

    /// Appends everything `other` wrote, bit for bit.
    #[cfg(any(test, feature = "internals"))]
    pub fn append(&mut self, other: &BitWriter) {
        self.append_bits(other.bits());
    }

    /// What was written so far, as a view to append elsewhere or to keep.
    pub fn bits(&self) -> Bits<'_> {
        Bits {
            bytes: &self.bytes,
            tail: self.scratch as u32,
            tail_bits: self.used,
        }
    }

    /// Appends `bits`, bit for bit.
    pub fn append_bits(&mut self, bits: Bits) {
        let mut chunks = bits.bytes.chunks_exact(4);
        for chunk in &mut chunks {
            self.write_bits(
                u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
                32,
            );
        }
        for byte in chunks.remainder() {
            self.write_bits(u32::from(*byte), 8);
        }
        self.write_bits(bits.tail, bits.tail_bits);
    }

    /// Empties the writer, keeping its allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.scratch = 0;
        self.used = 0;
    }

    /// The bytes, the last one padded with zero bits.
    pub fn finish(mut self) -> Vec<u8> {
        while self.used > 0 {
            self.bytes.push(self.scratch as u8);
            self.scratch >>= 8;
            self.used = self.used.saturating_sub(8);
        }
        self.bytes
    }
}

/// Bits written by a [`BitWriter`]: whole bytes, then fewer than 32 bits.
#[derive(Debug, Clone, Copy)]
pub struct Bits<'a> {
    /// The whole bytes.
    pub bytes: &'a [u8],
    /// The bits after them, least significant first.
    pub tail: u32,
    /// How many bits `tail` holds (below 32).
    pub tail_bits: u32,
}

impl Bits<'_> {
    /// How many bits there are.
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8 + self.tail_bits as usize
    }
}

/// Reads what a [`BitWriter`] wrote; every read is bounds-checked.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    /// Reads `count` bits (at most 32).
    pub fn read_bits(&mut self, count: u32) -> Result<u32, OutOfBits> {
        if count == 0 {
            return Ok(0);
        }
        if count > 32 || self.position + count as usize > self.bytes.len() * 8 {
            return Err(OutOfBits);
        }
        let mut value = 0u64;
        let mut read = 0;
        while read < count {
            let byte = self.bytes[self.position / 8];
            let offset = (self.position % 8) as u32;
            let take = (8 - offset).min(count - read);
            let bits = (u64::from(byte) >> offset) & ((1u64 << take) - 1);
            value |= bits << read;
            read += take;
            self.position += take as usize;
        }
        Ok(value as u32)
    }

    /// Reads one bit.
    pub fn read_bool(&mut self) -> Result<bool, OutOfBits> {
        Ok(self.read_bits(1)? == 1)
    }

    /// Reads a number written by [`BitWriter::write_varint`].
    pub fn read_varint(&mut self) -> Result<u32, OutOfBits> {
        if !self.read_bool()? {
            return Ok(0);
        }
        for (bits, start) in BUCKETS {
            if !self.read_bool()? {
                return Ok(start + self.read_bits(bits)?);
            }
        }
        self.read_bits(32)
    }

    /// Reads a number written by [`BitWriter::write_signed`].
    pub fn read_signed(&mut self) -> Result<i32, OutOfBits> {
        Ok(unzigzag(self.read_varint()?))
    }

    /// Reads bytes written by [`BitWriter::write_bytes`], refusing lengths beyond `max`.
    pub fn read_bytes(&mut self, max: usize) -> Result<Vec<u8>, OutOfBits> {
        let len = self.read_varint()? as usize;
        if len > max || len * 8 > self.remaining_bits() {
            return Err(OutOfBits);
        }
        (0..len)
            .map(|_| self.read_bits(8).map(|b| b as u8))
            .collect()
    }

    /// Bits not read yet (including final padding).
    pub fn remaining_bits(&self) -> usize {
        self.bytes.len() * 8 - self.position
    }
}

/// Maps signed to unsigned so small magnitudes stay small: 0, -1, 1, -2 -> 0, 1, 2, 3.
pub fn zigzag(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

/// Inverse of [`zigzag`].
pub fn unzigzag(value: u32) -> i32 {
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_small_ones_are_short() {
        let values = [0u32, 1, 2, 63, 64, 65, 1088, 1089, 66_624, 66_625, u32::MAX];
        let mut writer = BitWriter::new();
        for value in values {
            writer.write_varint(value);
            writer.write_signed(value as i32);
            writer.write_bool(value % 2 == 0);
        }
        writer.write_bytes(b"hello");
        let bytes = writer.finish();
        let mut reader = BitReader::new(&bytes);
        for value in values {
            assert_eq!(reader.read_varint(), Ok(value));
            assert_eq!(reader.read_signed(), Ok(value as i32));
            assert_eq!(reader.read_bool(), Ok(value % 2 == 0));
        }
        assert_eq!(reader.read_bytes(16).unwrap(), b"hello");

        // Appending is the same as writing directly.
        let mut direct = BitWriter::new();
        let mut part = BitWriter::new();
        direct.write_bits(5, 3);
        for value in [7u32, 70, 7000, 700_000] {
            direct.write_varint(value);
            part.write_varint(value);
        }
        let mut appended = BitWriter::new();
        appended.write_bits(5, 3);
        appended.append(&part);
        assert_eq!(appended.bit_len(), direct.bit_len());
        assert_eq!(appended.finish(), direct.finish());

        let size = |value: u32| {
            let mut writer = BitWriter::new();
            writer.write_varint(value);
            writer.bit_len()
        };
        assert_eq!(size(0), 1);
        assert_eq!(size(64), 8);
        assert_eq!(size(1000), 13);
        assert_eq!(size(60_000), 20);
        assert_eq!(size(u32::MAX), 36);
    }

    #[test]
    fn reading_past_the_end_is_an_error_not_a_panic() {
        let mut reader = BitReader::new(&[0xFF]);
        assert_eq!(reader.read_varint(), Err(OutOfBits));
        let mut reader = BitReader::new(&[0xFF, 0xFF]);
        assert!(reader.read_bytes(1000).is_err());
        let mut reader = BitReader::new(&[]);
        assert_eq!(reader.read_bool(), Err(OutOfBits));
        assert_eq!(BitReader::new(&[1]).read_bits(33), Err(OutOfBits));
    }

    #[test]
    fn zigzag_maps_small_magnitudes_to_small_numbers() {
        assert_eq!([0, -1, 1, -2, 2].map(zigzag), [0, 1, 2, 3, 4]);
        for value in [0, 1, -1, i32::MAX, i32::MIN, 12_345, -98_765] {
            assert_eq!(unzigzag(zigzag(value)), value);
        }
    }
}
