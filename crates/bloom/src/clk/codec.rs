//! CLK serialisation: bytes and base64 out, base64 in.

use base64::Engine;

/// The serialised bytes of a CLK of `l` bits (bit 0 = MSB of byte 0).
pub fn to_bytes(words: &[u64], l: usize) -> Vec<u8> {
    let mut out: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
    out.truncate(l.div_ceil(8));
    out
}

/// Standard base64 (with padding) of a CLK of `l` bits, as clkhash writes it.
pub fn to_base64(words: &[u64], l: usize) -> String {
    let mut out = Vec::with_capacity(l.div_ceil(8).div_ceil(3) * 4);
    push_base64(words, l, &mut out);
    String::from_utf8(out).expect("base64 is ASCII")
}

/// Append the standard base64 (with padding) of a CLK of `l` bits to `out`
/// without allocating (for `l` up to 4096 bits; longer CLKs go through a
/// temporary buffer).
pub fn push_base64(words: &[u64], l: usize, out: &mut Vec<u8>) {
    use base64::Engine;
    let nbytes = l.div_ceil(8);
    let mut stack = [0u8; 512];
    let mut heap = Vec::new();
    let bytes: &mut [u8] = if nbytes <= stack.len() {
        &mut stack[..nbytes]
    } else {
        heap.resize(nbytes, 0);
        &mut heap
    };
    for (chunk, w) in bytes.chunks_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes()[..chunk.len()]);
    }
    let start = out.len();
    out.resize(start + nbytes.div_ceil(3) * 4, 0);
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(&*bytes, &mut out[start..])
        .expect("the buffer is sized for the encoding");
    out.truncate(start + n);
}

/// Why a serialised CLK could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClkDecodeError {
    /// Not standard base64.
    #[error("not standard base64")]
    NotBase64,
    /// Wrong number of bytes for the expected length.
    #[error("decodes to {found} bytes, expected {expected}")]
    WrongLength {
        /// Bytes found.
        found: usize,
        /// Bytes expected.
        expected: usize,
    },
}

/// Decode a base64 CLK into words (bit layout as in this module).
/// With `expected_bytes = None` any length is accepted.
pub fn from_base64(s: &str, expected_bytes: Option<usize>) -> Result<Vec<u64>, ClkDecodeError> {
    let b = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| ClkDecodeError::NotBase64)?;
    if let Some(e) = expected_bytes {
        if b.len() != e {
            return Err(ClkDecodeError::WrongLength {
                found: b.len(),
                expected: e,
            });
        }
    }
    Ok(bytes_to_words(&b))
}

/// Pack serialised CLK bytes into words (zero-padded).
pub fn bytes_to_words(b: &[u8]) -> Vec<u64> {
    b.chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_be_bytes(w)
        })
        .collect()
}
