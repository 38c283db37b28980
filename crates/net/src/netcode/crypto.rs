//! The two AEAD constructions netcode uses, on the `chacha20poly1305` crate: ChaCha20-Poly1305
//! (IETF, 12-byte nonce) for packets and challenge tokens, XChaCha20-Poly1305 (24-byte nonce) for
//! the private part of connect tokens. Tags are stored after the data they sign.

use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{AeadInPlace, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag, XChaCha20Poly1305, XNonce};

use super::{KEY_BYTES, MAC_BYTES};

/// The 96-bit nonce of a sequence number: four zero bytes, then the sequence as a little-endian
/// `u64` (the standard's erratum: not the other way round).
fn sequence_nonce(sequence: u64) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&sequence.to_le_bytes());
    Nonce::from(nonce)
}

/// Encrypts `buffer[..len - 16]` in place and writes its tag into the last 16 bytes.
///
/// `buffer` must be at least [`MAC_BYTES`] long (callers size it).
pub(super) fn encrypt(buffer: &mut [u8], sequence: u64, key: &[u8; KEY_BYTES], aad: &[u8]) {
    let (data, tag_bytes) = buffer.split_at_mut(buffer.len() - MAC_BYTES);
    let tag = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt_in_place_detached(&sequence_nonce(sequence), aad, data)
        .expect("netcode packets are far below ChaCha20's length limit");
    tag_bytes.copy_from_slice(&tag);
}

/// Checks the tag in the last 16 bytes and decrypts the rest in place. `false` if the buffer is
/// shorter than a tag or the tag does not match (then the data is left unusable).
pub(super) fn decrypt(buffer: &mut [u8], sequence: u64, key: &[u8; KEY_BYTES], aad: &[u8]) -> bool {
    let Some(split) = buffer.len().checked_sub(MAC_BYTES) else {
        return false;
    };
    let (data, tag) = buffer.split_at_mut(split);
    ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt_in_place_detached(&sequence_nonce(sequence), aad, data, Tag::from_slice(tag))
        .is_ok()
}

/// [`encrypt`] with XChaCha20-Poly1305 and a 24-byte nonce (connect tokens).
pub(super) fn encrypt_x(buffer: &mut [u8], nonce: &[u8; 24], key: &[u8; KEY_BYTES], aad: &[u8]) {
    let (data, tag_bytes) = buffer.split_at_mut(buffer.len() - MAC_BYTES);
    let tag = XChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt_in_place_detached(XNonce::from_slice(nonce), aad, data)
        .expect("connect tokens are far below XChaCha20's length limit");
    tag_bytes.copy_from_slice(&tag);
}

/// [`decrypt`] with XChaCha20-Poly1305 and a 24-byte nonce (connect tokens).
pub(super) fn decrypt_x(
    buffer: &mut [u8],
    nonce: &[u8; 24],
    key: &[u8; KEY_BYTES],
    aad: &[u8],
) -> bool {
    let Some(split) = buffer.len().checked_sub(MAC_BYTES) else {
        return false;
    };
    let (data, tag) = buffer.split_at_mut(split);
    XChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt_in_place_detached(XNonce::from_slice(nonce), aad, data, Tag::from_slice(tag))
        .is_ok()
}

/// `N` bytes from the operating system's secure random source (keys, nonces).
pub fn generate_random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_and_tampering_is_refused() {
        let key = [3u8; 32];
        let mut buffer = b"hello netcode\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec();
        encrypt(&mut buffer, 7, &key, b"aad");
        let sealed = buffer.clone();
        assert!(decrypt(&mut buffer, 7, &key, b"aad"));
        assert_eq!(&buffer[..13], b"hello netcode");

        let mut wrong_sequence = sealed.clone();
        assert!(
            !decrypt(&mut wrong_sequence, 8, &key, b"aad"),
            "the sequence is the nonce"
        );
        let mut wrong_aad = sealed.clone();
        assert!(!decrypt(&mut wrong_aad, 7, &key, b"aaD"));
        let mut flipped = sealed;
        flipped[0] ^= 1;
        assert!(!decrypt(&mut flipped, 7, &key, b"aad"));
        assert!(!decrypt(&mut [0u8; 15], 0, &key, b""), "shorter than a tag");
    }

    #[test]
    fn nonce_is_four_zero_bytes_then_the_little_endian_sequence() {
        let nonce = sequence_nonce(0x0102_0304_0506_0708);
        assert_eq!(nonce.as_slice(), &[0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]);
    }
}
