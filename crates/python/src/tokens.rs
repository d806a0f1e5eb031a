//! Keyed tokens over Arrow arrays (`trialink.pseudonymise`).

use crate::arrays::{same_length, to_py, Text};
use crate::errors;
use crate::keys::Key;
use arrow_array::builder::StringBuilder;
use pseudonym::{Date, DobFormat, DobFormats, Pseudonymiser, RowTokens, TokenKey};
use pyo3::prelude::*;
use rayon::prelude::*;

/// Rows per parallel work item.
const CHUNK: usize = 4096;

/// Parse `dob_formats` (strftime-like patterns) and `as_of` (YYYY-MM-DD,
/// default today UTC) as `pseudonymise --dob-format/--as-of` do.
pub fn formats_and_date(
    dob_formats: Option<Vec<String>>,
    as_of: Option<&str>,
) -> PyResult<(DobFormats, Date)> {
    let formats = match dob_formats {
        None => DobFormats::default(),
        Some(ps) => {
            let mut v = Vec::with_capacity(ps.len());
            for p in &ps {
                v.push(DobFormat::new(p).map_err(|e| errors::argument(format!("dob_formats: {e}")))?);
            }
            DobFormats::custom(v)
        }
    };
    let as_of = match as_of {
        None => Date::today_utc(),
        Some(s) => Date::parse_iso(s)
            .ok_or_else(|| errors::argument("as_of is not a date; write it as YYYY-MM-DD"))?,
    };
    Ok((formats, as_of))
}

/// Tokens for each row of `nhs` and `dob` under `key`.
///
/// Returns ``(token, nhs_token, reject)``: hex tokens (null for a rejected
/// row), hex NHS-only tokens when ``with_nhs_token`` (else ``None``), and the
/// reason code of each rejected row (null when accepted) — the same codes
/// ``trialink pseudonymise`` writes to its rejects file. With ``allow_blank``
/// a row whose two identifiers are both empty is neither tokenised nor
/// rejected (both nulls).
#[pyfunction]
#[pyo3(signature = (nhs, dob, key, *, dob_formats=None, as_of=None, with_nhs_token=false, allow_blank=false))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn pseudonymise_arrays<'py>(
    py: Python<'py>,
    nhs: &Bound<'py, PyAny>,
    dob: &Bound<'py, PyAny>,
    key: &Key,
    dob_formats: Option<Vec<String>>,
    as_of: Option<&str>,
    with_nhs_token: bool,
    allow_blank: bool,
) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>, Bound<'py, PyAny>)> {
    let nhs = Text::from_py(nhs, "nhs")?;
    let dob = Text::from_py(dob, "dob")?;
    same_length(nhs.len(), &dob, "dob")?;
    let (formats, as_of) = formats_and_date(dob_formats, as_of)?;
    let worker = Pseudonymiser::new(TokenKey::new(&key.key), formats, as_of, with_nhs_token);
    let n = nhs.len();
    let results: Vec<Vec<Option<Result<RowTokens, &'static str>>>> = py.detach(|| {
        (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                (c * CHUNK..((c + 1) * CHUNK).min(n))
                    .map(|i| {
                        let (a, b) = (nhs.get(i), dob.get(i));
                        if allow_blank
                            && a.iter().all(u8::is_ascii_whitespace)
                            && b.iter().all(u8::is_ascii_whitespace)
                        {
                            return None;
                        }
                        Some(worker.row(a, b).map_err(|r| r.code))
                    })
                    .collect()
            })
            .collect()
    });
    let mut tok = StringBuilder::with_capacity(n, n * 64);
    let mut ntok = StringBuilder::with_capacity(
        if with_nhs_token { n } else { 0 },
        if with_nhs_token { n * 64 } else { 0 },
    );
    let mut rej = StringBuilder::new();
    for r in results.iter().flatten() {
        match r {
            Some(Ok(t)) => {
                tok.append_value(hex(&t.token.to_hex()));
                if let Some(nt) = &t.nhs_token {
                    ntok.append_value(hex(&nt.to_hex()));
                } else if with_nhs_token {
                    ntok.append_null();
                }
                rej.append_null();
            }
            Some(Err(code)) => {
                tok.append_null();
                if with_nhs_token {
                    ntok.append_null();
                }
                rej.append_value(code);
            }
            None => {
                tok.append_null();
                if with_nhs_token {
                    ntok.append_null();
                }
                rej.append_null();
            }
        }
    }
    let nhs_out = if with_nhs_token {
        Some(to_py(py, &ntok.finish())?)
    } else {
        None
    };
    Ok((to_py(py, &tok.finish())?, nhs_out, to_py(py, &rej.finish())?))
}

/// 64 lowercase hex characters as `&str`.
fn hex(h: &[u8; 64]) -> &str {
    std::str::from_utf8(h).unwrap_or_default()
}
