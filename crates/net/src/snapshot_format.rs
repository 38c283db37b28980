//! The bit-level layout of a snapshot's payload, shared by the server (writing) and the client
//! (reading) so the two can never disagree.
//!
//! ```text
//! payload  = entity* end despawns
//! entity   = id-step header component*        (entities in ascending NetId order, wrapping)
//! id-step  = 1                                 next id is previous + 1
//!          | 0 1 bits3(step - 2)               next id is previous + 2..=9
//!          | 0 0 varint(step)                  next id is previous + step (step 0 = end)
//! header   = 1                                 same header as the previous entity
//!          | 0 varint(back) mask(changed) bool(has removals) [mask(removed)]
//!            back = 0: absolute values; else deltas against the client's values at tick - back
//! component (for each kind in `changed`, in registry order):
//!            quantized: signed(field) per field     absolute, or delta from the baseline value
//!                                                    (absolute when the client had no value then)
//!            serde:     varint(len) bytes
//! despawns = varint(count) id-step*
//! ```
//! The first id-step starts from `u32::MAX`, so id 0 is a step of 1.

use crate::bits::{BitReader, BitWriter, OutOfBits};

/// A set of component kinds (registry indices 0..256).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KindSet([u64; 4]);

impl KindSet {
    /// Adds `kind`.
    pub fn insert(&mut self, kind: u8) {
        self.0[usize::from(kind / 64)] |= 1 << (kind % 64);
    }

    /// Whether `kind` is in the set.
    pub fn contains(&self, kind: u8) -> bool {
        self.0[usize::from(kind / 64)] & (1 << (kind % 64)) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }

    /// The kinds in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.iter().enumerate().flat_map(|(word_index, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let bit = bits.trailing_zeros();
                    bits &= bits - 1;
                    (word_index as u32 * 64 + bit) as u8
                })
            })
        })
    }

    fn write(&self, writer: &mut BitWriter, kinds: usize) {
        for kind in 0..kinds {
            writer.write_bool(self.contains(kind as u8));
        }
    }

    fn read(reader: &mut BitReader, kinds: usize) -> Result<Self, OutOfBits> {
        let mut set = Self::default();
        for kind in 0..kinds {
            if reader.read_bool()? {
                set.insert(kind as u8);
            }
        }
        Ok(set)
    }
}

/// What precedes an entity's components.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EntityHeader {
    /// 0: absolute values. Otherwise the baseline is `snapshot tick - back`.
    pub back: u32,
    /// Kinds whose value follows.
    pub changed: KindSet,
    /// Kinds removed from the entity.
    pub removed: KindSet,
}

/// Writes the step from the previous id to `id` (never 0 for distinct ids).
pub fn write_id_step(writer: &mut BitWriter, previous: u32, id: u32) {
    let step = id.wrapping_sub(previous);
    match step {
        1 => writer.write_bool(true),
        2..=9 => {
            writer.write_bits(0b10, 2);
            writer.write_bits(step - 2, 3);
        }
        _ => {
            writer.write_bits(0b00, 2);
            writer.write_varint(step);
        }
    }
}

/// Reads an id step; `None` marks the end of the entity list.
pub fn read_id_step(reader: &mut BitReader, previous: u32) -> Result<Option<u32>, OutOfBits> {
    let step = if reader.read_bool()? {
        1
    } else if reader.read_bool()? {
        2 + reader.read_bits(3)?
    } else {
        reader.read_varint()?
    };
    Ok((step != 0).then(|| previous.wrapping_add(step)))
}

/// Ends the entity list.
pub fn write_end(writer: &mut BitWriter) {
    writer.write_bits(0b00, 2);
    writer.write_varint(0);
}

/// Writes `header`, or a single bit if it equals `previous`.
pub fn write_header(
    writer: &mut BitWriter,
    header: &EntityHeader,
    previous: Option<&EntityHeader>,
    kinds: usize,
) {
    if previous == Some(header) {
        writer.write_bool(true);
        return;
    }
    writer.write_bool(false);
    writer.write_varint(header.back);
    header.changed.write(writer, kinds);
    writer.write_bool(!header.removed.is_empty());
    if !header.removed.is_empty() {
        header.removed.write(writer, kinds);
    }
}

/// Reads a header written by [`write_header`].
pub fn read_header(
    reader: &mut BitReader,
    previous: Option<&EntityHeader>,
    kinds: usize,
) -> Result<EntityHeader, OutOfBits> {
    if reader.read_bool()? {
        return previous.copied().ok_or(OutOfBits);
    }
    let back = reader.read_varint()?;
    let changed = KindSet::read(reader, kinds)?;
    let removed = if reader.read_bool()? {
        KindSet::read(reader, kinds)?
    } else {
        KindSet::default()
    };
    Ok(EntityHeader {
        back,
        changed,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_sets_iterate_their_members_in_order() {
        let mut set = KindSet::default();
        for kind in [200, 0, 63, 64, 5, 255] {
            set.insert(kind);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 5, 63, 64, 200, 255]);
        assert_eq!(KindSet::default().iter().count(), 0);
    }

    #[test]
    fn headers_and_ids_round_trip() {
        let mut changed = KindSet::default();
        changed.insert(0);
        changed.insert(2);
        let mut removed = KindSet::default();
        removed.insert(4);
        let a = EntityHeader {
            back: 1,
            changed,
            removed: KindSet::default(),
        };
        let b = EntityHeader {
            back: 0,
            changed,
            removed,
        };
        let mut writer = BitWriter::new();
        write_id_step(&mut writer, u32::MAX, 0);
        write_header(&mut writer, &a, None, 5);
        write_id_step(&mut writer, 0, 1);
        write_header(&mut writer, &a, Some(&a), 5);
        write_id_step(&mut writer, 1, 300);
        write_header(&mut writer, &b, Some(&a), 5);
        write_id_step(&mut writer, 300, 305);
        write_header(&mut writer, &b, Some(&b), 5);
        write_end(&mut writer);
        let same_bits = {
            let mut w = BitWriter::new();
            write_id_step(&mut w, 0, 1);
            write_header(&mut w, &a, Some(&a), 5);
            w.bit_len()
        };
        assert_eq!(
            same_bits, 2,
            "a neighbour with the same header costs two bits of overhead"
        );

        let bytes = writer.finish();
        let mut reader = BitReader::new(&bytes);
        assert_eq!(read_id_step(&mut reader, u32::MAX), Ok(Some(0)));
        assert_eq!(read_header(&mut reader, None, 5), Ok(a));
        assert_eq!(read_id_step(&mut reader, 0), Ok(Some(1)));
        assert_eq!(read_header(&mut reader, Some(&a), 5), Ok(a));
        assert_eq!(read_id_step(&mut reader, 1), Ok(Some(300)));
        assert_eq!(read_header(&mut reader, Some(&a), 5), Ok(b));
        assert_eq!(read_id_step(&mut reader, 300), Ok(Some(305)));
        assert_eq!(read_header(&mut reader, Some(&b), 5), Ok(b));
        assert_eq!(read_id_step(&mut reader, 305), Ok(None));
    }

    #[test]
    fn same_header_without_a_previous_one_is_an_error() {
        let mut reader = BitReader::new(&[0b1]);
        assert_eq!(read_header(&mut reader, None, 3), Err(OutOfBits));
    }
}
