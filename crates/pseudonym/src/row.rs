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

    /// The accepted date-of-birth formats.
    pub fn formats(&self) -> &DobFormats {
        &self.formats
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

/// A non-contact objection's identifiers, read leniently (see
/// [`Pseudonymiser::objection`]).
#[derive(Debug)]
pub struct Objection {
    /// `token_nhs` of the NHS number, or why it could not be read.
    pub nhs_token: Result<Token, crate::NhsError>,
    /// The date of birth, when given and usable.
    pub dob: Option<Dob>,
    /// `token_nhs_dob`, when both are usable and it was asked for.
    pub nhs_dob_token: Option<Token>,
}

impl Pseudonymiser {
    /// Read an objection to contact: the NHS number normalised first
    /// (Unicode spaces and digits, a leading `'`), the DOB (`None`: no DOB
    /// column) in this pseudonymiser's formats. An objection is keyed on the
    /// NHS number alone: an unusable DOB never loses it. The NHS+DOB token
    /// is made only when `with_dob_token`.
    pub fn objection(&self, nhs: &[u8], dob: Option<&[u8]>, with_dob_token: bool) -> Objection {
        let dob = dob.and_then(|d| Dob::parse_bytes(d, &self.formats, self.as_of).ok());
        match NhsNumber::parse_normalised(nhs) {
            Ok(n) => Objection {
                nhs_token: Ok(self.key.token_nhs(&n)),
                nhs_dob_token: dob
                    .as_ref()
                    .filter(|_| with_dob_token)
                    .map(|d| self.key.token_nhs_dob(&n, d)),
                dob,
            },
            Err(e) => Objection {
                nhs_token: Err(e),
                dob,
                nhs_dob_token: None,
            },
        }
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
        let o = p.objection("\u{a0}999 133 5056".as_bytes(), Some(b"05.01.1980"), true);
        assert_eq!(o.nhs_token.unwrap(), t.nhs_token.unwrap());
        assert!(o.dob.is_none(), "not one of this pseudonymiser's formats");
        assert!(o.nhs_dob_token.is_none());
        let o = p.objection(b"9991335056", Some(b"1980-01-05"), true);
        assert_eq!(o.nhs_dob_token, Some(t.token));
        assert!(p
            .objection(b"9991335056", Some(b"1980-01-05"), false)
            .nhs_dob_token
            .is_none());
        let o = p.objection(b"9.99E+09", Some(b"1980-01-05"), true);
        assert!(o.nhs_token.is_err() && o.dob.is_some());
        assert_eq!(
            p.row(b"9991335056", b"").unwrap_err(),
            RowReject {
                field: RowField::Dob,
                code: "dob_missing"
            }
        );
    }
}
