//! The column names trialink recognises for each identifying field, one
//! list per field for every command: a column is found by its explicit name
//! (`--nhs-column`) or, failing that, by the first of these names the header
//! has, compared case-insensitively (see [`crate::Source::column`]).

/// NHS number.
pub const NHS_NUMBER: &[&str] = &["nhs_number", "nhs_no", "nhsnumber", "nhs"];
/// Date of birth.
pub const DATE_OF_BIRTH: &[&str] = &["date_of_birth", "dob", "birth_date", "dateofbirth"];
/// Given (first) name.
pub const GIVEN_NAME: &[&str] = &["given_name", "first_name", "forename"];
/// Family name (surname).
pub const FAMILY_NAME: &[&str] = &["family_name", "surname", "last_name"];
/// Postcode.
pub const POSTCODE: &[&str] = &["postcode", "post_code"];

/// Whether a header name is one of the NHS-number or date-of-birth names:
/// such a column never leaves its input (never a `--keep` column).
pub fn is_identifier(name: &str) -> bool {
    NHS_NUMBER
        .iter()
        .chain(DATE_OF_BIRTH)
        .any(|c| name.eq_ignore_ascii_case(c))
}

/// Every name of the lists above.
pub fn all_aliases() -> impl Iterator<Item = &'static str> {
    [NHS_NUMBER, DATE_OF_BIRTH, GIVEN_NAME, FAMILY_NAME, POSTCODE]
        .into_iter()
        .flatten()
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_case_insensitive() {
        assert!(is_identifier("NHS"));
        assert!(is_identifier("DateOfBirth"));
        assert!(!is_identifier("surname"));
        assert!(!is_identifier("nhs_token"));
    }

    #[test]
    fn lists_are_disjoint_and_lower_case() {
        let all: Vec<&str> = all_aliases().collect();
        for (i, a) in all.iter().enumerate() {
            assert_eq!(*a, a.to_ascii_lowercase());
            assert!(!all[i + 1..].contains(a), "{a} is in two lists");
        }
    }
}
