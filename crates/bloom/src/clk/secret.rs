//! The CLK secret: read from a file or derived from a trialink key, and the
//! HKDF that derives per-feature and per-purpose keys from it.

use zeroize::{Zeroize, Zeroizing};

/// Why a secret file cannot be used. Messages name the file, never its
/// content.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The file could not be read.
    #[error("secret file {}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no secret.
    #[error("secret file {}: is empty", path.display())]
    Empty {
        /// The file.
        path: std::path::PathBuf,
    },
}

impl SecretFileError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            SecretFileError::Empty { .. } => Some("put the shared CLK secret in the file"),
            SecretFileError::Read { .. } => None,
        }
    }
}

/// The secret CLKs are keyed with. Zeroized on drop, `Debug` redacted, no
/// `Display`.
pub struct ClkSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for ClkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClkSecret(<redacted>)")
    }
}

impl ClkSecret {
    /// The secret as given (clkhash takes the UTF-8 bytes of its secret string).
    pub fn from_bytes(b: &[u8]) -> Self {
        ClkSecret(Zeroizing::new(b.to_vec()))
    }

    /// The content of a secret file, less one trailing newline (`\n` or `\r\n`).
    pub fn from_file_content(b: &[u8]) -> Self {
        let b = b
            .strip_suffix(b"\n")
            .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
            .unwrap_or(b);
        Self::from_bytes(b)
    }

    /// Read a secret file (its content less one trailing newline); the
    /// buffer read is zeroized.
    pub fn read_file(path: &std::path::Path) -> std::io::Result<Self> {
        let bytes = Zeroizing::new(tabular::limited::read(path, tabular::limited::KEY)?);
        Ok(Self::from_file_content(&bytes))
    }

    /// Read a secret file ([`ClkSecret::read_file`]), refusing an empty
    /// secret.
    pub fn read_nonempty(path: &std::path::Path) -> Result<Self, SecretFileError> {
        let s = Self::read_file(path).map_err(|source| SecretFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if s.expose().is_empty() {
            return Err(SecretFileError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(s)
    }

    /// The secret derived from a trialink key (its scope key file): the 64 lowercase
    /// hex characters of `HKDF-SHA256(salt = "trialink-v1", ikm = key,
    /// info = "clk-secret")`, 32 bytes.
    pub fn from_trialink_key(key: &[u8]) -> Self {
        let mut okm = hkdf(
            ring::hkdf::HKDF_SHA256,
            Some(b"trialink-v1"),
            key,
            b"clk-secret",
            32,
        )
        .expect("32 bytes is within HKDF's limit");
        let secret = hex::encode(&*okm);
        okm.zeroize();
        ClkSecret(Zeroizing::new(secret.into_bytes()))
    }

    /// The single accessor to the secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

pub(crate) struct Len(usize);
impl ring::hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

pub(crate) fn hkdf(
    alg: ring::hkdf::Algorithm,
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
    n: usize,
) -> Result<Zeroizing<Vec<u8>>, ()> {
    let prk = ring::hkdf::Salt::new(alg, salt.unwrap_or(&[])).extract(ikm);
    let info = [info];
    let okm = prk.expand(&info, Len(n)).map_err(|_| ())?;
    let mut out = Zeroizing::new(vec![0u8; n]);
    okm.fill(&mut out).map_err(|_| ())?;
    Ok(out)
}
