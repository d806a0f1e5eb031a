//! Key scopes (docs/formats.md (key file)): `^[a-z0-9][a-z0-9:._-]{0,63}$`.

use std::fmt;

/// A validated scope label such as `trial:galleri-2`, `registry:bpor` or
/// `service:store`. Scopes are not secret and display as themselves.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Scope(String);

/// Why a scope label was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Empty, or longer than 64 characters.
    #[error("scope must be 1 to 64 characters long")]
    Length,
    /// A character outside `a-z 0-9 : . _ -`, or a first character that is
    /// not `a-z 0-9`.
    #[error("scope must match ^[a-z0-9][a-z0-9:._-]{{0,63}}$ (lowercase, e.g. trial:galleri-2)")]
    Characters,
}

impl Scope {
    /// Validate a scope label.
    pub fn new(s: &str) -> Result<Scope, ScopeError> {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > 64 {
            return Err(ScopeError::Length);
        }
        if !(b[0].is_ascii_lowercase() || b[0].is_ascii_digit()) {
            return Err(ScopeError::Characters);
        }
        if !b[1..]
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b':' | b'.' | b'_' | b'-'))
        {
            return Err(ScopeError::Characters);
        }
        Ok(Scope(s.to_string()))
    }

    /// The scope for a study: `trial:<study>`.
    pub fn trial(study: &str) -> Result<Scope, ScopeError> {
        Scope::new(&format!("trial:{study}"))
    }

    /// The service store's scope, `service:store`.
    pub fn service_store() -> Scope {
        Scope("service:store".to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grammar() {
        for ok in [
            "a",
            "trial:galleri-2",
            "registry:bpor",
            "service:store",
            "trial:x.y_z-9",
            "0",
        ] {
            assert!(Scope::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Trial:X", "-x", "trial x", "trial/x", ":a", &"x".repeat(65)] {
            assert!(Scope::new(bad).is_err(), "{bad}");
        }
        assert!(Scope::new(&"x".repeat(64)).is_ok());
    }

    proptest! {
        #[test]
        fn matches_regex(s in "[a-z0-9][a-z0-9:._-]{0,63}") {
            prop_assert!(Scope::new(&s).is_ok());
        }
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = Scope::new(&s);
        }
    }
}
