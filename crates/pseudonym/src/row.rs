//! One row's identifiers → tokens, the unit of work of `pseudonymise`.

use crate::date::Date;
use crate::dob::{Dob, DobFormats};
use crate::nhs::NhsNumber;
use crate::token::{Token, TokenKey};

/// Which identifier of a row was at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowField {
    /// The NHS number column.
    Nhs,
    /// The date-of-birth column.
    Dob,
}

/// A rejected row: the field at fault and a stable reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowReject {
    pub field: RowField,
    pub code: &'static str,
}

/// The tokens of one row.
#[derive(Debug, Clone, Copy)]
pub struct RowTokens {
    /// `token_nhs_dob`, the linkage key.
    pub token: Token,
    /// `token_nhs`, when asked for.
    pub nhs_token: Option<Token>,
}

/// Everything needed to pseudonymise rows: a pre-keyed HMAC, the accepted
/// date formats and the as-of date. Cheap to clone for worker threads.
#[derive(Clone, Debug)]
pub struct Pseudonymiser {
    key: TokenKey,
    formats: DobFormats,
    as_of: Date,
    with_nhs_token: bool,
}

impl Pseudonymiser {
    pub fn new(key: TokenKey, formats: DobFormats, as_of: Date, with_nhs_token: bool) -> Pseudonymiser {
        Pseudonymiser {
            key,
            formats,
            as_of,
            with_nhs_token,
        }
    }

    /// Whether `nhs_token` is produced.
    pub fn with_nhs_token(&self) -> bool {
        self.with_nhs_token
    }

    /// Parse and tokenise one row's raw NHS number and date-of-birth fields.
    /// The NHS number is checked first, so a row with both wrong is rejected
    /// for its NHS number.
    pub fn row(&self, nhs: &[u8], dob: &[u8]) -> Result<RowTokens, RowReject> {
        let n = NhsNumber::parse_bytes(nhs).map_err(|e| RowReject {
            field: RowField::Nhs,
            code: e.code(),
        })?;
        let d = Dob::parse_bytes(dob, &self.formats, self.as_of).map_err(|e| RowReject {
            field: RowField::Dob,
            code: e.code(),
        })?;
        Ok(RowTokens {
            token: self.key.token_nhs_dob(&n, &d),
            nhs_token: self.with_nhs_token.then(|| self.key.token_nhs(&n)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;

    #[test]
    fn row_tokens_and_rejects() {
        let p = Pseudonymiser::new(
            TokenKey::new(&Key::from_bytes([3; 32])),
            DobFormats::default(),
            Date::new(2026, 11, 21).unwrap(),
            true,
        );
        let t = p.row(b"9991335056", b"1980-01-05").unwrap();
        assert!(t.nhs_token.is_some());
        assert_eq!(p.row(b"999 133 5056", b"05/01/1980").unwrap().token, t.token);
        assert_eq!(
            p.row(b"9991335055", b"bad").unwrap_err(),
            RowReject {
                field: RowField::Nhs,
                code: "nhs_check_digit"
            }
        );
        assert_eq!(
            p.row(b"9991335056", b"").unwrap_err(),
            RowReject {
                field: RowField::Dob,
                code: "dob_missing"
            }
        );
    }
}
