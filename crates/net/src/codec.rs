//! The wire codec of every message: serde values encoded with bincode 2 (standard configuration,
//! varints), with a size limit enforced before and while decoding, and trailing bytes refused.

use serde::{Serialize, de::DeserializeOwned};

/// Largest message (in bytes) either side accepts. Anything longer is rejected before decoding,
/// and the peer that sent it is disconnected.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why a message could not be decoded.
#[derive(Debug)]
pub enum DecodeError {
    /// The message is longer than [`MAX_MESSAGE_BYTES`].
    TooLarge(usize),
    /// The bytes are not a valid message.
    Malformed(bincode::error::DecodeError),
    /// A valid message followed by extra bytes.
    TrailingBytes(usize),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(len) => {
                write!(
                    f,
                    "message of {len} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit"
                )
            }
            Self::Malformed(err) => write!(f, "malformed message: {err}"),
            Self::TrailingBytes(n) => write!(f, "{n} unexpected bytes after the message"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// bincode's configuration of the wire format: little-endian varints, at most
/// [`MAX_MESSAGE_BYTES`] decoded.
pub const fn wire_config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_MESSAGE_BYTES>,
> {
    bincode::config::standard().with_limit::<MAX_MESSAGE_BYTES>()
}

/// Encodes a message (or any serde value) in the wire format.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // bincode enforces the limit only when decoding; encoding our serde types into a Vec cannot
    // fail. Senders keep messages under MAX_MESSAGE_BYTES themselves.
    bincode::serde::encode_to_vec(message, wire_config())
        .expect("serde types of the protocol always encode")
}

/// Decodes a message, rejecting oversized input, malformed bytes and trailing garbage.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let (value, read) =
        bincode::serde::decode_from_slice(bytes, wire_config()).map_err(DecodeError::Malformed)?;
    if read != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - read));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_bad_input_is_refused() {
        let value = (7u32, String::from("skirmish"), vec![1u8, 2, 3]);
        let bytes = encode(&value);
        assert_eq!(decode::<(u32, String, Vec<u8>)>(&bytes).unwrap(), value);

        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            decode::<(u32, String, Vec<u8>)>(&trailing),
            Err(DecodeError::TrailingBytes(1))
        ));
        assert!(matches!(
            decode::<Vec<u8>>(&vec![0u8; MAX_MESSAGE_BYTES + 1]),
            Err(DecodeError::TooLarge(_))
        ));
        // A length prefix claiming 4 GiB is refused by the limit, not allocated.
        assert!(matches!(
            decode::<Vec<u8>>(&[0xFC, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(DecodeError::Malformed(_))
        ));
    }
}
