//! Linkage schema v3 (anonlink/clkhash) parsing, with trialink's opt-in
//! extensions under the top-level key `"trialink"`.
//!
//! Every error names the JSON path of the offending item (`$.features[2].hashing.strategy`)
//! and what was expected. Schema content is configuration, not personal data,
//! but errors still avoid echoing values.

use super::datefmt::DateFormat;
use base64::Engine;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Largest CLK length `l` (bits, after XOR folding). clkhash schemas use
/// 1024 or 2048; each is one Dice comparison's worth of memory per row.
pub const MAX_L: usize = 8192;
/// Largest pre-fold length `l · 2^xor_folds` (bits the hash functions
/// address; the encoder's per-token bitmaps have this many bits).
pub const MAX_HASH_L: usize = 1 << 16;
/// Largest `bitsPerToken` (bits set per token).
pub const MAX_BITS_PER_TOKEN: usize = 1024;
/// Largest `bitsPerFeature` (bits shared among a value's tokens): at most
/// the largest CLK.
pub const MAX_BITS_PER_FEATURE: usize = MAX_L;
/// Most features (columns) a schema may have.
pub const MAX_FEATURES: usize = 64;
/// Largest n-gram size.
pub const MAX_NGRAM: usize = 64;
/// Most keyed blocking passes (`trialink.blocking`); the linker refuses rows
/// with more (`linkage::MAX_PASSES`).
pub const MAX_BLOCKING_PASSES: usize = 32;
/// Longest feature value, in bytes (UTF-8), the encoder hashes; a longer
/// value makes its row a counted reject (`value_too_long`). With the caps
/// above one row costs at most about 64 features × 1,088 tokens × 1,024 bits.
pub const MAX_VALUE_BYTES: usize = 1024;

/// Why a schema was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The file is not valid JSON.
    #[error("schema is not valid JSON: {0}")]
    Json(String),
    /// A required item is absent.
    #[error("{path}: missing (expected {expected})")]
    Missing {
        /// JSON path of the absent item.
        path: String,
        /// What should be there.
        expected: String,
    },
    /// An item is present but wrong.
    #[error("{path}: invalid (expected {expected})")]
    Invalid {
        /// JSON path of the item.
        path: String,
        /// What would have been accepted.
        expected: String,
    },
    /// An object has a key the linkage schema does not define there (often
    /// a key at the wrong level, such as `missingValue` outside `hashing`).
    #[error("{path}: unknown key (allowed here: {allowed})")]
    UnknownKey {
        /// JSON path of the unknown key.
        path: String,
        /// The keys allowed in that object.
        allowed: String,
    },
}

/// The JSON path of `key` inside the object at `path`: `$.a.b`, or
/// `$.a["odd key"]` (shortened) for keys that are not plain names.
fn key_path(path: &str, key: &str) -> String {
    if !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$')
    {
        format!("{path}.{key}")
    } else {
        let short: String = key.chars().take(32).collect();
        let quoted = serde_json::to_string(&short).unwrap_or_else(|_| "\"?\"".into());
        format!(
            "{path}[{quoted}{}]",
            if short.len() < key.len() { "…" } else { "" }
        )
    }
}

/// Refuse any key of `o` (at `path`) not in `allowed` (clkhash's linkage
/// schema v3 closes its objects with `additionalProperties: false`;
/// trialink does so everywhere, so that a misplaced key is an error rather
/// than silently ignored).
fn only(o: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), SchemaError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(SchemaError::UnknownKey {
            path: key_path(path, k),
            allowed: allowed.join(", "),
        }),
    }
}

fn missing(path: &str, expected: impl Into<String>) -> SchemaError {
    SchemaError::Missing {
        path: path.to_string(),
        expected: expected.into(),
    }
}
fn invalid(path: &str, expected: impl Into<String>) -> SchemaError {
    SchemaError::Invalid {
        path: path.to_string(),
        expected: expected.into(),
    }
}

/// Hash function used by HKDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfHash {
    /// HKDF-SHA256 (the default).
    Sha256,
    /// HKDF-SHA512.
    Sha512,
}

/// `clkConfig.kdf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kdf {
    /// HKDF hash.
    pub hash: KdfHash,
    /// Decoded salt (absent = the RFC 5869 all-zero salt).
    pub salt: Option<Vec<u8>>,
    /// Decoded info (absent = empty).
    pub info: Option<Vec<u8>>,
    /// Bytes per derived key (default 64).
    pub key_size: usize,
}

/// Character encoding used to turn tokens into bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-8 (default).
    Utf8,
    /// ASCII; values with other characters are invalid.
    Ascii,
    /// ISO-8859-1; values with characters above U+00FF are invalid.
    Latin1,
}

/// Letter case a string value must have (validation only, no folding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Any case.
    Mixed,
    /// Must equal its upper-case form.
    Upper,
    /// Must equal its lower-case form.
    Lower,
}

/// `features[i].format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Free text.
    String {
        /// Required case.
        case: Case,
        /// Minimum length in characters.
        min_length: Option<usize>,
        /// Maximum length in characters.
        max_length: Option<usize>,
        /// A regular expression every value must match in full (clkhash's
        /// `re.fullmatch`).
        pattern: Option<Pattern>,
    },
    /// Base-10 integer, written back as its canonical decimal string.
    Integer {
        /// Smallest permitted value.
        minimum: Option<i128>,
        /// Largest permitted value.
        maximum: Option<i128>,
    },
    /// A date parsed with a strptime format and rewritten `%Y%m%d`.
    Date {
        /// The parsed format.
        format: DateFormat,
    },
    /// One of a fixed set of values.
    Enum {
        /// Permitted values.
        values: BTreeSet<String>,
    },
}

/// A string format's `pattern`: a regular expression a value must match in
/// full, as clkhash's `re.fullmatch` requires. Compiled with the `regex`
/// crate: Python syntax without look-around or backreferences (which a
/// schema using them is refused for); `\d`, `\w` and `\s` are Unicode-aware,
/// as in Python 3.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    full: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for Pattern {}

impl Pattern {
    /// Compile `source`; `None` if it is not a regular expression this
    /// engine accepts (or compiles too large).
    pub fn new(source: &str) -> Option<Self> {
        const LIMIT: usize = 1 << 20;
        // Compile the source alone first, so that it is balanced on its own
        // and cannot escape the anchoring group below.
        regex::RegexBuilder::new(source).size_limit(LIMIT).build().ok()?;
        let full = regex::RegexBuilder::new(&format!(r"\A(?:{source})\z"))
            .size_limit(LIMIT)
            .build()
            .ok()?;
        Some(Pattern {
            source: source.to_string(),
            full,
        })
    }

    /// The pattern as written in the schema.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `s` matches.
    pub fn full_match(&self, s: &str) -> bool {
        self.full.is_match(s)
    }
}

/// `hashing.comparison`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// n-grams over characters (padded with n−1 spaces when n > 1).
    Ngram {
        /// n.
        n: usize,
        /// Prefix each n-gram with its 1-based position.
        positional: bool,
    },
    /// The whole value as one token.
    Exact,
}

/// `hashing.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// k bits for every token.
    BitsPerToken(usize),
    /// B bits shared among the value's tokens.
    BitsPerFeature(usize),
}

impl Strategy {
    /// Bits for token `i` of `t` tokens.
    #[inline]
    pub fn k_for(&self, i: usize, t: usize) -> usize {
        match *self {
            Strategy::BitsPerToken(k) => k,
            Strategy::BitsPerFeature(b) => b / t + usize::from(i < b % t),
        }
    }

    /// The largest k any token can get.
    pub fn max_k(&self) -> usize {
        match *self {
            Strategy::BitsPerToken(k) | Strategy::BitsPerFeature(k) => k,
        }
    }
}

/// `hashing.hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashType {
    /// Keyed BLAKE2b (the default).
    Blake,
    /// HMAC-SHA1 + HMAC-MD5 double hashing.
    Double {
        /// Re-hash while the step is 0 mod L'.
        prevent_singularity: bool,
    },
}

/// `hashing.missingValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingValue {
    /// The value that means "missing".
    pub sentinel: String,
    /// What to hash instead (defaults to the sentinel itself).
    pub replace_with: String,
}

/// How a non-ignored feature is validated, tokenised and hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSpec {
    /// Value format.
    pub format: Format,
    /// Token encoding.
    pub encoding: TextEncoding,
    /// Tokenisation.
    pub comparison: Comparison,
    /// Bits per token.
    pub strategy: Strategy,
    /// Hash function.
    pub hash: HashType,
    /// Missing-value handling.
    pub missing: Option<MissingValue>,
}

/// One schema feature (a CSV column, by `identifier`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// Column name.
    pub identifier: String,
    /// `None` for `"ignored": true` features (which still count for key derivation).
    pub spec: Option<FeatureSpec>,
}

/// What part of a feature's formatted value a hardening option or blocking
/// key uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// The formatted value as is.
    Value,
    /// Upper-cased, spaces removed.
    Upper,
    /// The year of a date feature (first 4 characters of `%Y%m%d`).
    Year,
    /// Month and day of a date feature (`MMDD`).
    MonthDay,
    /// Year and month of a date feature (`YYYYMM`): agrees when only the day
    /// differs (a DOB one day out within the month).
    YearMonth,
    /// Day and month of a date feature as a set: the two 2-digit numbers in
    /// ascending order, so it agrees when day and month are swapped.
    DayMonthSet,
    /// American Soundex of the letters (accents folded to ASCII first).
    Soundex,
    /// First letter, upper case.
    Initial,
    /// UK postcode outward code (district): spaces removed, upper case,
    /// the last three characters dropped.
    PostcodeDistrict,
    /// UK postcode sector (district and the inward code's digit): spaces
    /// removed, upper case, the last two characters dropped.
    PostcodeSector,
    /// A date's day number (days since 1970-01-01) halved, rounded down:
    /// two dates one day apart agree on this or on [`Transform::DayPairOdd`].
    DayPairEven,
    /// A date's day number plus one, halved, rounded down.
    DayPairOdd,
}

impl Transform {
    fn parse(s: &str, path: &str) -> Result<Self, SchemaError> {
        Ok(match s {
            "value" => Transform::Value,
            "upper" => Transform::Upper,
            "year" => Transform::Year,
            "month_day" => Transform::MonthDay,
            "year_month" => Transform::YearMonth,
            "day_month_set" => Transform::DayMonthSet,
            "soundex" => Transform::Soundex,
            "initial" => Transform::Initial,
            "postcode_district" => Transform::PostcodeDistrict,
            "postcode_sector" => Transform::PostcodeSector,
            "day_pair_even" => Transform::DayPairEven,
            "day_pair_odd" => Transform::DayPairOdd,
            _ => {
                return Err(invalid(
                    path,
                    "one of value, upper, year, month_day, year_month, day_month_set, soundex, initial, postcode_district, postcode_sector, day_pair_even, day_pair_odd",
                ))
            }
        })
    }

    /// The name used in schemas and manifests.
    pub fn name(&self) -> &'static str {
        match self {
            Transform::Value => "value",
            Transform::Upper => "upper",
            Transform::Year => "year",
            Transform::MonthDay => "month_day",
            Transform::YearMonth => "year_month",
            Transform::DayMonthSet => "day_month_set",
            Transform::Soundex => "soundex",
            Transform::Initial => "initial",
            Transform::PostcodeDistrict => "postcode_district",
            Transform::PostcodeSector => "postcode_sector",
            Transform::DayPairEven => "day_pair_even",
            Transform::DayPairOdd => "day_pair_odd",
        }
    }
}

/// A reference to a feature's value through a transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Index into [`Schema::features`].
    pub feature: usize,
    /// Transform applied to the formatted value.
    pub transform: Transform,
}

/// One keyed blocking pass: records agreeing on every part share a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingPass {
    /// Pass name (`[a-z0-9_]+`), written into the `blocking` column.
    pub name: String,
    /// Parts concatenated into the key.
    pub parts: Vec<Part>,
    /// `"sorted": true`: the parts' values are sorted before they are
    /// keyed, so the key ignores their order — a match key that agrees when
    /// given and family names are swapped. Off by default (keys unchanged).
    pub sorted: bool,
    /// `"filter": "group"`: instead of a keyed hash, the item is a 64-bit
    /// keyed Bloom filter of the value's padded bigrams (a field-level
    /// encoding the linker compares by Dice, not by equality). Passes with
    /// the same group share bit positions, so their filters can be compared
    /// with each other (given against family name, for swaps).
    pub filter: Option<String>,
}

/// trialink's hardening extensions (all off by default).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hardening {
    /// Record-level salt: every token is prefixed by this part's value, so
    /// records are only comparable when they agree on it (e.g. year of birth).
    pub record_salt: Option<Part>,
    /// Randomised response: every output bit is flipped with probability
    /// `1/(1+e^ε)`, deterministically from the key and the record.
    pub rr_epsilon: Option<f64>,
    /// Keyed blocking passes, written as a `blocking` column beside `clk`.
    pub blocking: Vec<BlockingPass>,
}

impl Hardening {
    /// Whether any extension changes the CLK bits (and so breaks clkhash
    /// compatibility).
    pub fn changes_clk(&self) -> bool {
        self.record_salt.is_some() || self.rr_epsilon.is_some()
    }
}

/// A parsed linkage schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Output length in bits.
    pub l: usize,
    /// XOR folds.
    pub xor_folds: u32,
    /// The schema spelt `xorFolds` (accepted alias, noted in manifests).
    pub xor_folds_alias_used: bool,
    /// Key derivation.
    pub kdf: Kdf,
    /// Features in schema order.
    pub features: Vec<Feature>,
    /// trialink extensions.
    pub hardening: Hardening,
}

/// Why a schema file could not be used: it names the file, and for a
/// parse error the JSON path, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SchemaFileError {
    /// The file could not be read (or is over the size limit).
    #[error("schema {path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error("schema {path}: not UTF-8")]
    Utf8 {
        /// The file.
        path: String,
    },
    /// The schema is not a linkage schema v3 trialink accepts.
    #[error("schema {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Where and why.
        source: SchemaError,
    },
}

impl SchemaFileError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            SchemaFileError::Parse { .. } => Some("the schema must be an anonlink/clkhash linkage schema v3; see fixtures/vectors/clk_schema_blake.json"),
            _ => None,
        }
    }
}

impl Schema {
    /// Bits the hash functions address: `l · 2^xor_folds`.
    pub fn hash_l(&self) -> usize {
        self.l << self.xor_folds
    }

    /// Index of the feature with this identifier.
    pub fn feature_index(&self, identifier: &str) -> Option<usize> {
        self.features.iter().position(|f| f.identifier == identifier)
    }

    /// Read and parse a schema file (size-limited), returning the schema
    /// and the SHA-256 of its bytes (hex), as manifests record it.
    pub fn read_file(path: &std::path::Path) -> Result<(Schema, String), SchemaFileError> {
        let shown = path.display().to_string();
        let bytes = tabular::limited::read(path, tabular::limited::SCHEMA).map_err(|source| {
            SchemaFileError::Read {
                path: shown.clone(),
                source,
            }
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| SchemaFileError::Utf8 { path: shown.clone() })?;
        let schema =
            Schema::from_json(text).map_err(|source| SchemaFileError::Parse { path: shown, source })?;
        Ok((schema, super::describe::schema_digest(&bytes)))
    }

    /// Parse schema JSON text.
    pub fn from_json(text: &str) -> Result<Self, SchemaError> {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            SchemaError::Json(format!(
                "line {} column {}: {}",
                e.line(),
                e.column(),
                classify(&e)
            ))
        })?;
        Self::from_value(&v)
    }

    /// Parse an already-decoded JSON value.
    pub fn from_value(v: &Value) -> Result<Self, SchemaError> {
        let root = obj(v, "$")?;
        only(
            root,
            "$",
            &[
                "version",
                "clkConfig",
                "features",
                "trialink",
                "description",
                "$schema",
            ],
        )?;
        match root.get("version") {
            Some(Value::Number(n)) if n.as_u64() == Some(3) => {}
            Some(_) => return Err(invalid("$.version", "3 (linkage schema v3)")),
            None => return Err(missing("$.version", "3 (linkage schema v3)")),
        }
        let cfg = obj(
            root.get("clkConfig")
                .ok_or_else(|| missing("$.clkConfig", "an object"))?,
            "$.clkConfig",
        )?;
        only(
            cfg,
            "$.clkConfig",
            &["l", "kdf", "xor_folds", "xorFolds", "description"],
        )?;
        let l = uint(
            cfg.get("l")
                .ok_or_else(|| missing("$.clkConfig.l", "a positive integer"))?,
            "$.clkConfig.l",
        )? as usize;
        if l == 0 || l > MAX_L {
            return Err(invalid(
                "$.clkConfig.l",
                format!("a positive integer at most {MAX_L}"),
            ));
        }
        let (xor_folds, alias) = match (cfg.get("xor_folds"), cfg.get("xorFolds")) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "$.clkConfig.xorFolds",
                    "only one of xor_folds and xorFolds",
                ))
            }
            (Some(x), None) => (uint(x, "$.clkConfig.xor_folds")?, false),
            (None, Some(x)) => (uint(x, "$.clkConfig.xorFolds")?, true),
            (None, None) => (0, false),
        };
        if xor_folds > 8 {
            return Err(invalid("$.clkConfig.xor_folds", "at most 8 folds"));
        }
        let xor_folds = xor_folds as u32;
        if l << xor_folds > MAX_HASH_L {
            return Err(invalid(
                if alias {
                    "$.clkConfig.xorFolds"
                } else {
                    "$.clkConfig.xor_folds"
                },
                format!("fewer folds: l·2^xor_folds must be at most {MAX_HASH_L} bits"),
            ));
        }
        let kdf = parse_kdf(
            cfg.get("kdf")
                .ok_or_else(|| missing("$.clkConfig.kdf", "an object with type HKDF"))?,
        )?;
        let feats = root
            .get("features")
            .ok_or_else(|| missing("$.features", "an array of features"))?;
        let feats = feats
            .as_array()
            .ok_or_else(|| invalid("$.features", "an array of features"))?;
        if feats.is_empty() {
            return Err(invalid("$.features", "at least one feature"));
        }
        if feats.len() > MAX_FEATURES {
            return Err(invalid("$.features", format!("at most {MAX_FEATURES} features")));
        }
        let hash_l = l << xor_folds;
        let mut features = Vec::with_capacity(feats.len());
        let mut seen = BTreeSet::new();
        for (i, f) in feats.iter().enumerate() {
            let path = format!("$.features[{i}]");
            let feat = parse_feature(f, &path, hash_l)?;
            if !seen.insert(feat.identifier.clone()) {
                return Err(invalid(
                    &format!("{path}.identifier"),
                    "an identifier not used by an earlier feature",
                ));
            }
            features.push(feat);
        }
        let hardening = match root.get("trialink") {
            None => Hardening::default(),
            Some(t) => parse_hardening(t, &features)?,
        };
        Ok(Schema {
            l,
            xor_folds,
            xor_folds_alias_used: alias,
            kdf,
            features,
            hardening,
        })
    }
}

fn classify(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io => "I/O error",
        Category::Syntax => "syntax error",
        Category::Data => "unexpected data",
        Category::Eof => "unexpected end of file",
    }
}

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, SchemaError> {
    v.as_object().ok_or_else(|| invalid(path, "an object"))
}

fn uint(v: &Value, path: &str) -> Result<u64, SchemaError> {
    v.as_u64().ok_or_else(|| invalid(path, "a non-negative integer"))
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, SchemaError> {
    v.as_str().ok_or_else(|| invalid(path, "a string"))
}

fn boolean(v: &Value, path: &str) -> Result<bool, SchemaError> {
    v.as_bool().ok_or_else(|| invalid(path, "true or false"))
}

fn b64(v: &Value, path: &str) -> Result<Vec<u8>, SchemaError> {
    base64::engine::general_purpose::STANDARD
        .decode(string(v, path)?)
        .map_err(|_| invalid(path, "standard base64"))
}

fn parse_kdf(v: &Value) -> Result<Kdf, SchemaError> {
    let p = "$.clkConfig.kdf";
    let o = obj(v, p)?;
    only(o, p, &["type", "hash", "salt", "info", "keySize", "description"])?;
    match o.get("type") {
        Some(Value::String(s)) if s == "HKDF" => {}
        Some(_) => return Err(invalid(&format!("{p}.type"), "\"HKDF\"")),
        None => return Err(missing(&format!("{p}.type"), "\"HKDF\"")),
    }
    let hash = match o.get("hash") {
        None => KdfHash::Sha256,
        Some(h) => match string(h, &format!("{p}.hash"))? {
            "SHA256" => KdfHash::Sha256,
            "SHA512" => KdfHash::Sha512,
            _ => return Err(invalid(&format!("{p}.hash"), "\"SHA256\" or \"SHA512\"")),
        },
    };
    let salt = o.get("salt").map(|s| b64(s, &format!("{p}.salt"))).transpose()?;
    let info = o.get("info").map(|s| b64(s, &format!("{p}.info"))).transpose()?;
    let key_size = match o.get("keySize") {
        None => 64,
        Some(k) => uint(k, &format!("{p}.keySize"))? as usize,
    };
    if key_size == 0 || key_size > 64 {
        // BLAKE2b keys are at most 64 bytes.
        return Err(invalid(&format!("{p}.keySize"), "an integer from 1 to 64"));
    }
    Ok(Kdf {
        hash,
        salt,
        info,
        key_size,
    })
}

fn parse_feature(v: &Value, path: &str, hash_l: usize) -> Result<Feature, SchemaError> {
    let o = obj(v, path)?;
    let identifier = string(
        o.get("identifier")
            .ok_or_else(|| missing(&format!("{path}.identifier"), "a column name"))?,
        &format!("{path}.identifier"),
    )?
    .to_string();
    if identifier.is_empty() {
        return Err(invalid(&format!("{path}.identifier"), "a non-empty column name"));
    }
    if let Some(ig) = o.get("ignored") {
        if boolean(ig, &format!("{path}.ignored"))? {
            only(o, path, &["identifier", "ignored", "description"])?;
            return Ok(Feature {
                identifier,
                spec: None,
            });
        }
    }
    only(
        o,
        path,
        &["identifier", "ignored", "description", "format", "hashing"],
    )?;
    let (format, encoding) = parse_format(o, path)?;
    let hpath = format!("{path}.hashing");
    let ho = obj(
        o.get("hashing")
            .ok_or_else(|| missing(&hpath, "an object (or \"ignored\": true)"))?,
        &hpath,
    )?;
    only(ho, &hpath, &["comparison", "strategy", "hash", "missingValue"])?;
    let comparison = parse_comparison(ho, &hpath)?;
    let strategy = parse_strategy(ho, &hpath)?;
    let hash = parse_hash(ho, &hpath, hash_l)?;
    let missing_v = parse_missing(ho, &hpath)?;
    Ok(Feature {
        identifier,
        spec: Some(FeatureSpec {
            format,
            encoding,
            comparison,
            strategy,
            hash,
            missing: missing_v,
        }),
    })
}

/// A feature's `format` object: the format and the text encoding.
fn parse_format(o: &Map<String, Value>, path: &str) -> Result<(Format, TextEncoding), SchemaError> {
    let fpath = format!("{path}.format");
    let fo = obj(
        o.get("format")
            .ok_or_else(|| missing(&fpath, "an object with a type"))?,
        &fpath,
    )?;
    let tpath = format!("{fpath}.type");
    let ftype = string(
        fo.get("type")
            .ok_or_else(|| missing(&tpath, "one of string, integer, date, enum"))?,
        &tpath,
    )?;
    let mut encoding = TextEncoding::Utf8;
    let format = match ftype {
        "string" => {
            let (format, enc) = parse_string_format(fo, &fpath)?;
            encoding = enc;
            format
        }
        "integer" => {
            only(fo, &fpath, &["type", "minimum", "maximum", "description"])?;
            let mm = |k: &str| -> Result<Option<i128>, SchemaError> {
                fo.get(k)
                    .map(|m| {
                        m.as_i64()
                            .map(i128::from)
                            .ok_or_else(|| invalid(&format!("{fpath}.{k}"), "an integer"))
                    })
                    .transpose()
            };
            Format::Integer {
                minimum: mm("minimum")?,
                maximum: mm("maximum")?,
            }
        }
        "date" => {
            only(fo, &fpath, &["type", "format", "description"])?;
            let dpath = format!("{fpath}.format");
            let f = string(
                fo.get("format")
                    .ok_or_else(|| missing(&dpath, "a strptime format such as %Y-%m-%d"))?,
                &dpath,
            )?;
            let format = DateFormat::parse(f).map_err(|e| invalid(&dpath, e.to_string()))?;
            Format::Date { format }
        }
        "enum" => {
            only(fo, &fpath, &["type", "values", "description"])?;
            let vpath = format!("{fpath}.values");
            let arr = fo
                .get("values")
                .ok_or_else(|| missing(&vpath, "an array of strings"))?
                .as_array()
                .ok_or_else(|| invalid(&vpath, "an array of strings"))?;
            let mut values = BTreeSet::new();
            for (j, x) in arr.iter().enumerate() {
                values.insert(string(x, &format!("{vpath}[{j}]"))?.to_string());
            }
            if values.is_empty() {
                return Err(invalid(&vpath, "at least one value"));
            }
            Format::Enum { values }
        }
        _ => return Err(invalid(&tpath, "one of string, integer, date, enum")),
    };
    Ok((format, encoding))
}

/// A `string` format object (its `type` already read): the format and the
/// text encoding.
fn parse_string_format(fo: &Map<String, Value>, fpath: &str) -> Result<(Format, TextEncoding), SchemaError> {
    let mut encoding = TextEncoding::Utf8;
    only(
        fo,
        fpath,
        &[
            "type",
            "encoding",
            "case",
            "minLength",
            "maxLength",
            "pattern",
            "description",
        ],
    )?;
    if let Some(e) = fo.get("encoding") {
        let epath = format!("{fpath}.encoding");
        let norm: String = string(e, &epath)?
            .to_ascii_lowercase()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect();
        encoding = match norm.as_str() {
            "utf8" => TextEncoding::Utf8,
            "ascii" | "usascii" => TextEncoding::Ascii,
            "latin1" | "iso88591" | "l1" => TextEncoding::Latin1,
            _ => return Err(invalid(&epath, "one of utf-8, ascii, latin-1")),
        };
    }
    let case = match fo.get("case") {
        None => Case::Mixed,
        Some(c) => match string(c, &format!("{fpath}.case"))? {
            "mixed" => Case::Mixed,
            "upper" => Case::Upper,
            "lower" => Case::Lower,
            _ => return Err(invalid(&format!("{fpath}.case"), "one of mixed, upper, lower")),
        },
    };
    let min_length = fo
        .get("minLength")
        .map(|m| uint(m, &format!("{fpath}.minLength")).map(|x| x as usize))
        .transpose()?;
    let max_length = fo
        .get("maxLength")
        .map(|m| uint(m, &format!("{fpath}.maxLength")).map(|x| x as usize))
        .transpose()?;
    if max_length == Some(0) {
        return Err(invalid(&format!("{fpath}.maxLength"), "a positive integer"));
    }
    let pattern = fo
        .get("pattern")
        .map(|p| {
            let ppath = format!("{fpath}.pattern");
            Pattern::new(string(p, &ppath)?).ok_or_else(|| {
                invalid(
                    &ppath,
                    "a regular expression without look-around or backreferences",
                )
            })
        })
        .transpose()?;
    Ok((
        Format::String {
            case,
            min_length,
            max_length,
            pattern,
        },
        encoding,
    ))
}

/// A feature's `hashing.comparison` object.
fn parse_comparison(ho: &Map<String, Value>, hpath: &str) -> Result<Comparison, SchemaError> {
    let cpath = format!("{hpath}.comparison");
    let co = obj(
        ho.get("comparison")
            .ok_or_else(|| missing(&cpath, "an object with type ngram or exact"))?,
        &cpath,
    )?;
    let ctpath = format!("{cpath}.type");
    Ok(
        match string(
            co.get("type").ok_or_else(|| missing(&ctpath, "ngram or exact"))?,
            &ctpath,
        )? {
            "ngram" => {
                only(co, &cpath, &["type", "n", "positional"])?;
                let n = uint(
                    co.get("n")
                        .ok_or_else(|| missing(&format!("{cpath}.n"), "a non-negative integer"))?,
                    &format!("{cpath}.n"),
                )? as usize;
                if n > MAX_NGRAM {
                    return Err(invalid(
                        &format!("{cpath}.n"),
                        format!("an integer from 0 to {MAX_NGRAM}"),
                    ));
                }
                let positional = co
                    .get("positional")
                    .map(|p| boolean(p, &format!("{cpath}.positional")))
                    .transpose()?
                    .unwrap_or(false);
                Comparison::Ngram { n, positional }
            }
            "exact" => {
                only(co, &cpath, &["type"])?;
                Comparison::Exact
            }
            _ => return Err(invalid(&ctpath, "ngram or exact")),
        },
    )
}

/// A feature's `hashing.strategy` object, within the caps.
fn parse_strategy(ho: &Map<String, Value>, hpath: &str) -> Result<Strategy, SchemaError> {
    let spath = format!("{hpath}.strategy");
    let so = obj(
        ho.get("strategy")
            .ok_or_else(|| missing(&spath, "an object with bitsPerToken or bitsPerFeature"))?,
        &spath,
    )?;
    only(so, &spath, &["bitsPerToken", "bitsPerFeature"])?;
    let strategy = match (so.get("bitsPerToken"), so.get("bitsPerFeature")) {
        (Some(k), None) => Strategy::BitsPerToken(uint(k, &format!("{spath}.bitsPerToken"))? as usize),
        (None, Some(b)) => Strategy::BitsPerFeature(uint(b, &format!("{spath}.bitsPerFeature"))? as usize),
        _ => return Err(invalid(&spath, "exactly one of bitsPerToken, bitsPerFeature")),
    };
    match strategy {
        Strategy::BitsPerToken(k) if k > MAX_BITS_PER_TOKEN => {
            return Err(invalid(
                &format!("{spath}.bitsPerToken"),
                format!("an integer from 0 to {MAX_BITS_PER_TOKEN}"),
            ))
        }
        Strategy::BitsPerFeature(b) if b > MAX_BITS_PER_FEATURE => {
            return Err(invalid(
                &format!("{spath}.bitsPerFeature"),
                format!("an integer from 0 to {MAX_BITS_PER_FEATURE}"),
            ))
        }
        _ => {}
    }
    Ok(strategy)
}

/// A feature's `hashing.hash` object, checked against the hashed length.
fn parse_hash(ho: &Map<String, Value>, hpath: &str, hash_l: usize) -> Result<HashType, SchemaError> {
    let hashpath = format!("{hpath}.hash");
    let hash = match ho.get("hash") {
        None => HashType::Blake,
        Some(h) => {
            let hobj = obj(h, &hashpath)?;
            only(hobj, &hashpath, &["type", "prevent_singularity"])?;
            let t = string(
                hobj.get("type")
                    .ok_or_else(|| missing(&format!("{hashpath}.type"), "blakeHash or doubleHash"))?,
                &format!("{hashpath}.type"),
            )?;
            match t {
                "blakeHash" => {
                    if hobj.contains_key("prevent_singularity") {
                        return Err(invalid(
                            &format!("{hashpath}.prevent_singularity"),
                            "prevent_singularity only with doubleHash",
                        ));
                    }
                    HashType::Blake
                }
                "doubleHash" => {
                    let ps = hobj
                        .get("prevent_singularity")
                        .map(|p| boolean(p, &format!("{hashpath}.prevent_singularity")))
                        .transpose()?
                        .unwrap_or(false);
                    HashType::Double {
                        prevent_singularity: ps,
                    }
                }
                _ => return Err(invalid(&format!("{hashpath}.type"), "blakeHash or doubleHash")),
            }
        }
    };
    if hash
        == (HashType::Double {
            prevent_singularity: true,
        })
        && hash_l < 2
    {
        return Err(invalid(
            &hashpath,
            "prevent_singularity only when l·2^xor_folds is at least 2",
        ));
    }
    if hash == HashType::Blake && !hash_l.is_power_of_two() {
        return Err(invalid(
            &hashpath,
            "doubleHash when l·2^xor_folds is not a power of two (blakeHash needs a power of two)",
        ));
    }
    Ok(hash)
}

/// A feature's `hashing.missingValue` object.
fn parse_missing(ho: &Map<String, Value>, hpath: &str) -> Result<Option<MissingValue>, SchemaError> {
    Ok(match ho.get("missingValue") {
        None => None,
        Some(m) => {
            let mpath = format!("{hpath}.missingValue");
            let mo = obj(m, &mpath)?;
            only(mo, &mpath, &["sentinel", "replaceWith"])?;
            let sentinel = string(
                mo.get("sentinel")
                    .ok_or_else(|| missing(&format!("{mpath}.sentinel"), "a string"))?,
                &format!("{mpath}.sentinel"),
            )?
            .to_string();
            let replace_with = match mo.get("replaceWith") {
                None | Some(Value::Null) => sentinel.clone(),
                Some(r) => string(r, &format!("{mpath}.replaceWith"))?.to_string(),
            };
            Some(MissingValue {
                sentinel,
                replace_with,
            })
        }
    })
}

fn parse_part(v: &Value, path: &str, features: &[Feature]) -> Result<Part, SchemaError> {
    let o = obj(v, path)?;
    only(o, path, &["identifier", "transform"])?;
    let ipath = format!("{path}.identifier");
    let ident = string(
        o.get("identifier")
            .ok_or_else(|| missing(&ipath, "a feature identifier"))?,
        &ipath,
    )?;
    let feature = features
        .iter()
        .position(|f| f.identifier == ident)
        .ok_or_else(|| invalid(&ipath, "the identifier of a schema feature"))?;
    if features[feature].spec.is_none() {
        return Err(invalid(
            &ipath,
            "a feature that is not ignored (its format is needed)",
        ));
    }
    let transform = match o.get("transform") {
        None => Transform::Value,
        Some(t) => Transform::parse(
            string(t, &format!("{path}.transform"))?,
            &format!("{path}.transform"),
        )?,
    };
    if matches!(
        transform,
        Transform::Year
            | Transform::MonthDay
            | Transform::YearMonth
            | Transform::DayMonthSet
            | Transform::DayPairEven
            | Transform::DayPairOdd
    ) && !matches!(
        features[feature].spec.as_ref().map(|s| &s.format),
        Some(Format::Date { .. })
    ) {
        return Err(invalid(
            &format!("{path}.transform"),
            "a date transform (year, month_day, year_month, day_month_set, day_pair_even, day_pair_odd) only on a date feature",
        ));
    }
    Ok(Part { feature, transform })
}

fn parse_hardening(v: &Value, features: &[Feature]) -> Result<Hardening, SchemaError> {
    let p = "$.trialink";
    let o = obj(v, p)?;
    only(o, p, &["recordSalt", "randomisedResponse", "blocking"])?;
    let record_salt = o
        .get("recordSalt")
        .map(|s| parse_part(s, &format!("{p}.recordSalt"), features))
        .transpose()?;
    let rr_epsilon = match o.get("randomisedResponse") {
        None => None,
        Some(r) => {
            let rp = format!("{p}.randomisedResponse");
            let ro = obj(r, &rp)?;
            only(ro, &rp, &["epsilon"])?;
            let e = ro
                .get("epsilon")
                .ok_or_else(|| missing(&format!("{rp}.epsilon"), "a positive number"))?;
            let e = e
                .as_f64()
                .filter(|e| e.is_finite() && *e > 0.0)
                .ok_or_else(|| invalid(&format!("{rp}.epsilon"), "a positive number"))?;
            Some(e)
        }
    };
    let mut blocking = Vec::new();
    if let Some(b) = o.get("blocking") {
        let bp = format!("{p}.blocking");
        let arr = b
            .as_array()
            .ok_or_else(|| invalid(&bp, "an array of blocking passes"))?;
        if arr.len() > MAX_BLOCKING_PASSES {
            return Err(invalid(
                &bp,
                format!("at most {MAX_BLOCKING_PASSES} blocking passes"),
            ));
        }
        let mut names = BTreeSet::new();
        for (i, pass) in arr.iter().enumerate() {
            let pp = format!("{bp}[{i}]");
            let po = obj(pass, &pp)?;
            only(po, &pp, &["name", "parts", "sorted", "filter"])?;
            let filter = match po.get("filter") {
                None => None,
                Some(v) => Some(
                    v.as_str()
                        .filter(|g| !g.is_empty() && g.len() <= 32)
                        .ok_or_else(|| invalid(&format!("{pp}.filter"), "a group name of 1-32 characters"))?
                        .to_string(),
                ),
            };
            let sorted = match po.get("sorted") {
                None => false,
                Some(v) => v
                    .as_bool()
                    .ok_or_else(|| invalid(&format!("{pp}.sorted"), "true or false"))?,
            };
            let name = string(
                po.get("name")
                    .ok_or_else(|| missing(&format!("{pp}.name"), "a name of [a-z0-9_]"))?,
                &format!("{pp}.name"),
            )?;
            if name.is_empty()
                || name.len() > 32
                || !name
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
            {
                return Err(invalid(&format!("{pp}.name"), "1-32 characters of [a-z0-9_]"));
            }
            if !names.insert(name.to_string()) {
                return Err(invalid(&format!("{pp}.name"), "a name not used by another pass"));
            }
            let parts_v = po
                .get("parts")
                .ok_or_else(|| missing(&format!("{pp}.parts"), "an array of parts"))?;
            let parts_a = parts_v
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| invalid(&format!("{pp}.parts"), "a non-empty array of parts"))?;
            let parts = parts_a
                .iter()
                .enumerate()
                .map(|(j, x)| parse_part(x, &format!("{pp}.parts[{j}]"), features))
                .collect::<Result<Vec<_>, _>>()?;
            if filter.is_some() && (parts.len() != 1 || sorted) {
                return Err(invalid(
                    &format!("{pp}.filter"),
                    "a filter pass with exactly one part and no `sorted`",
                ));
            }
            blocking.push(BlockingPass {
                name: name.to_string(),
                parts,
                sorted,
                filter,
            });
        }
    }
    Ok(Hardening {
        record_salt,
        rr_epsilon,
        blocking,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINIMAL: &str = r#"{"version":3,"clkConfig":{"l":1024,"kdf":{"type":"HKDF"}},
      "features":[{"identifier":"id","ignored":true},
       {"identifier":"name","format":{"type":"string"},"hashing":{"comparison":{"type":"ngram","n":2},"strategy":{"bitsPerToken":20}}}]}"#;

    #[test]
    fn minimal_defaults() {
        let s = Schema::from_json(MINIMAL).unwrap();
        assert_eq!(s.l, 1024);
        assert_eq!(
            s.kdf,
            Kdf {
                hash: KdfHash::Sha256,
                salt: None,
                info: None,
                key_size: 64
            }
        );
        let spec = s.features[1].spec.as_ref().unwrap();
        assert_eq!(spec.hash, HashType::Blake);
        assert_eq!(
            spec.comparison,
            Comparison::Ngram {
                n: 2,
                positional: false
            }
        );
        assert!(s.features[0].spec.is_none());
        assert_eq!(s.hardening, Hardening::default());
    }

    /// A schema with `l`, `folds`, `n` features, and the name feature's
    /// n-gram size and strategy.
    fn capped(l: usize, folds: u32, features: usize, n: usize, strategy: &str) -> String {
        let mut f: Vec<String> = vec![format!(
            r#"{{"identifier":"name","format":{{"type":"string"}},"hashing":{{"comparison":{{"type":"ngram","n":{n}}},"strategy":{strategy},"hash":{{"type":"doubleHash"}}}}}}"#
        )];
        for i in 1..features {
            f.push(format!(r#"{{"identifier":"x{i}","ignored":true}}"#));
        }
        format!(
            r#"{{"version":3,"clkConfig":{{"l":{l},"xor_folds":{folds},"kdf":{{"type":"HKDF"}}}},"features":[{}]}}"#,
            f.join(",")
        )
    }

    fn refused_at(text: &str) -> String {
        match Schema::from_json(text).unwrap_err() {
            SchemaError::Invalid { path, .. } => path,
            e => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn parameter_caps_at_the_cap_accepted_one_over_refused_by_path() {
        let bpt = |k: usize| format!(r#"{{"bitsPerToken":{k}}}"#);
        let bpf = |b: usize| format!(r#"{{"bitsPerFeature":{b}}}"#);
        // l
        assert!(Schema::from_json(&capped(MAX_L, 0, 1, 2, &bpt(20))).is_ok());
        assert_eq!(refused_at(&capped(MAX_L + 1, 0, 1, 2, &bpt(20))), "$.clkConfig.l");
        // pre-fold length
        assert!(Schema::from_json(&capped(MAX_HASH_L >> 3, 3, 1, 2, &bpt(20))).is_ok());
        assert_eq!(
            refused_at(&capped(MAX_HASH_L >> 3, 4, 1, 2, &bpt(20))),
            "$.clkConfig.xor_folds"
        );
        // bitsPerToken
        assert!(Schema::from_json(&capped(1024, 0, 1, 2, &bpt(MAX_BITS_PER_TOKEN))).is_ok());
        assert_eq!(
            refused_at(&capped(1024, 0, 1, 2, &bpt(MAX_BITS_PER_TOKEN + 1))),
            "$.features[0].hashing.strategy.bitsPerToken"
        );
        let e = Schema::from_json(&capped(1024, 0, 1, 2, &bpt(65536))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "$.features[0].hashing.strategy.bitsPerToken: invalid (expected an integer from 0 to 1024)"
        );
        // bitsPerFeature
        assert!(Schema::from_json(&capped(1024, 0, 1, 2, &bpf(MAX_BITS_PER_FEATURE))).is_ok());
        assert_eq!(
            refused_at(&capped(1024, 0, 1, 2, &bpf(MAX_BITS_PER_FEATURE + 1))),
            "$.features[0].hashing.strategy.bitsPerFeature"
        );
        // features
        assert!(Schema::from_json(&capped(1024, 0, MAX_FEATURES, 2, &bpt(20))).is_ok());
        assert_eq!(
            refused_at(&capped(1024, 0, MAX_FEATURES + 1, 2, &bpt(20))),
            "$.features"
        );
        // blocking passes
        let passes = |n: usize| {
            let p: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"name":"p{i}","parts":[{{"identifier":"name"}}]}}"#))
                .collect();
            let t = capped(1024, 0, 1, 2, &bpt(20));
            format!(
                r#"{},"trialink":{{"blocking":[{}]}}}}"#,
                &t[..t.len() - 1],
                p.join(",")
            )
        };
        assert!(Schema::from_json(&passes(MAX_BLOCKING_PASSES)).is_ok());
        assert_eq!(
            refused_at(&passes(MAX_BLOCKING_PASSES + 1)),
            "$.trialink.blocking"
        );
        // n-gram size
        assert!(Schema::from_json(&capped(1024, 0, 1, MAX_NGRAM, &bpt(20))).is_ok());
        assert_eq!(
            refused_at(&capped(1024, 0, 1, MAX_NGRAM + 1, &bpt(20))),
            "$.features[0].hashing.comparison.n"
        );
    }

    #[test]
    fn errors_name_the_json_path() {
        let bad = MINIMAL.replace(r#""type":"string""#, r#""type":"blob""#);
        let e = Schema::from_json(&bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "$.features[1].format.type: invalid (expected one of string, integer, date, enum)"
        );
        let bad = MINIMAL.replace(r#""bitsPerToken":20"#, r#""bitsPerToken":"x""#);
        assert!(Schema::from_json(&bad)
            .unwrap_err()
            .to_string()
            .starts_with("$.features[1].hashing.strategy.bitsPerToken"));
        let bad = MINIMAL.replace(r#""version":3"#, r#""version":2"#);
        assert!(Schema::from_json(&bad)
            .unwrap_err()
            .to_string()
            .starts_with("$.version"));
        let bad = MINIMAL.replace(r#""l":1024"#, r#""l":1000"#);
        assert!(Schema::from_json(&bad)
            .unwrap_err()
            .to_string()
            .starts_with("$.features[1].hashing.hash"));
        assert!(matches!(Schema::from_json("{"), Err(SchemaError::Json(_))));
        let bad = MINIMAL.replace(r#""type":"HKDF""#, r#""type":"PBKDF2""#);
        assert!(Schema::from_json(&bad)
            .unwrap_err()
            .to_string()
            .starts_with("$.clkConfig.kdf.type"));
    }

    #[test]
    fn alias_and_hardening() {
        let s = MINIMAL.replace(r#""l":1024"#, r#""l":512,"xorFolds":1"#);
        let s = Schema::from_json(&s).unwrap();
        assert!(s.xor_folds_alias_used);
        assert_eq!(s.hash_l(), 1024);
        let h = MINIMAL.replacen('{', r#"{"trialink":{"randomisedResponse":{"epsilon":3},"blocking":[{"name":"nm","parts":[{"identifier":"name","transform":"soundex"}]}]},"#, 1);
        let s = Schema::from_json(&h).unwrap();
        assert_eq!(s.hardening.rr_epsilon, Some(3.0));
        assert_eq!(
            s.hardening.blocking[0].parts[0],
            Part {
                feature: 1,
                transform: Transform::Soundex
            }
        );
        let bad = MINIMAL.replacen(
            '{',
            r#"{"trialink":{"blocking":[{"name":"x","parts":[{"identifier":"id"}]}]},"#,
            1,
        );
        assert!(Schema::from_json(&bad)
            .unwrap_err()
            .to_string()
            .starts_with("$.trialink.blocking[0].parts[0].identifier"));
    }

    fn unknown_key_path(text: &str) -> String {
        match Schema::from_json(text) {
            Err(SchemaError::UnknownKey { path, .. }) => path,
            other => panic!("expected an unknown-key error, got {other:?}"),
        }
    }

    #[test]
    fn misplaced_and_unknown_keys_name_their_path() {
        // missingValue belongs under hashing, not beside it.
        let bad = MINIMAL.replace(
            r#""format":{"type":"string"}"#,
            r#""format":{"type":"string"},"missingValue":{"sentinel":""}"#,
        );
        assert_eq!(unknown_key_path(&bad), "$.features[1].missingValue");
        let e = Schema::from_json(&bad).unwrap_err().to_string();
        assert!(
            e.starts_with("$.features[1].missingValue: unknown key (allowed here: "),
            "{e}"
        );
        for (from, to, path) in [
            (r#""version":3"#, r#""version":3,"xor_folds":1"#, "$.xor_folds"),
            (r#""l":1024"#, r#""l":1024,"k":20"#, "$.clkConfig.k"),
            (
                r#""type":"HKDF""#,
                r#""type":"HKDF","hashType":"SHA1""#,
                "$.clkConfig.kdf.hashType",
            ),
            (
                r#""type":"string""#,
                r#""type":"string","minlength":2"#,
                "$.features[1].format.minlength",
            ),
            (
                r#""n":2"#,
                r#""n":2,"positonal":true"#,
                "$.features[1].hashing.comparison.positonal",
            ),
            (
                r#""bitsPerToken":20"#,
                r#""bitsPerToken":20,"k":3"#,
                "$.features[1].hashing.strategy.k",
            ),
            (
                r#""strategy":{"bitsPerToken":20}"#,
                r#""strategy":{"bitsPerToken":20},"description":"x""#,
                "$.features[1].hashing.description",
            ),
            (
                r#""ignored":true"#,
                r#""ignored":true,"format":{"type":"string"}"#,
                "$.features[0].format",
            ),
            (
                r#""ignored":true"#,
                r#""ignored":true,"odd key!":1"#,
                r#"$.features[0]["odd key!"]"#,
            ),
        ] {
            assert!(MINIMAL.contains(from), "{from}");
            assert_eq!(unknown_key_path(&MINIMAL.replacen(from, to, 1)), path, "{to}");
        }
        let bad = MINIMAL.replace(
            r#""strategy":{"bitsPerToken":20}"#,
            r#""strategy":{"bitsPerToken":20},"hash":{"type":"doubleHash","prevent_singularity":true,"salt":"x"}"#,
        );
        assert_eq!(unknown_key_path(&bad), "$.features[1].hashing.hash.salt");
        let bad = MINIMAL.replace(
            r#""strategy":{"bitsPerToken":20}"#,
            r#""strategy":{"bitsPerToken":20},"missingValue":{"sentinel":"","replace":"x"}"#,
        );
        assert_eq!(
            unknown_key_path(&bad),
            "$.features[1].hashing.missingValue.replace"
        );
        let bad = MINIMAL.replacen(
            '{',
            r#"{"trialink":{"blocking":[{"name":"x","parts":[{"identifier":"name","transfrom":"soundex"}]}]},"#,
            1,
        );
        assert_eq!(
            unknown_key_path(&bad),
            "$.trialink.blocking[0].parts[0].transfrom"
        );
        let bad = MINIMAL.replacen('{', r#"{"trialink":{"recordsalt":{}},"#, 1);
        assert_eq!(unknown_key_path(&bad), "$.trialink.recordsalt");
    }

    #[test]
    fn documentation_keys_clkhash_allows_still_parse() {
        let ok = MINIMAL
            .replace(
                r#""type":"string""#,
                r#""type":"string","description":"given name""#,
            )
            .replace(r#""ignored":true"#, r#""ignored":true,"description":"row id""#)
            .replace(
                r#""identifier":"name","#,
                r#""identifier":"name","description":"n","#,
            )
            .replacen('{', r#"{"description":"test schema","#, 1);
        Schema::from_json(&ok).unwrap();
        let dated = MINIMAL.replace(
            r#""format":{"type":"string"}"#,
            r#""format":{"type":"date","format":"%Y","description":"d"}"#,
        );
        Schema::from_json(&dated).unwrap();
    }

    #[test]
    fn patterns_are_compiled_anchored_and_refused_when_unsupported() {
        let with = |p: &str| {
            MINIMAL.replace(
                r#""format":{"type":"string"}"#,
                &format!(
                    r#""format":{{"type":"string","pattern":{}}}"#,
                    serde_json::to_string(p).unwrap()
                ),
            )
        };
        let s = Schema::from_json(&with("[A-Z]{2}[0-9]")).unwrap();
        let Some(FeatureSpec {
            format: Format::String { pattern: Some(p), .. },
            ..
        }) = &s.features[1].spec
        else {
            panic!("pattern not parsed")
        };
        assert_eq!(p.as_str(), "[A-Z]{2}[0-9]");
        assert!(p.full_match("AB1"));
        for no in ["AB12", "xAB1", "AB", "", "AB1\n"] {
            assert!(!p.full_match(no), "{no:?}");
        }
        // Alternation is anchored as a whole, as re.fullmatch does.
        let alt = Pattern::new("a|bc").unwrap();
        assert!(alt.full_match("a") && alt.full_match("bc"));
        assert!(!alt.full_match("abc") && !alt.full_match("ab"));
        for bad in ["[5-9", "(?=a)a", r"(a)\1", "a)|(b", "a)(b"] {
            let e = Schema::from_json(&with(bad)).unwrap_err();
            assert!(
                e.to_string().starts_with("$.features[1].format.pattern: invalid"),
                "{bad}: {e}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_unknown_feature_key_is_refused_with_its_path(key in "[a-zA-Z_]{1,12}") {
            prop_assume!(!["identifier", "ignored", "description", "format", "hashing"].contains(&key.as_str()));
            let bad = MINIMAL.replacen(
                r#""identifier":"name","#,
                &format!(r#""identifier":"name","{key}":0,"#),
                1,
            );
            prop_assert_eq!(unknown_key_path(&bad), format!("$.features[1].{key}"));
        }

        #[test]
        fn pattern_full_match_agrees_with_a_direct_check(s in "[ab]{0,12}") {
            // `[ab]*a` matches in full exactly the non-empty a/b strings ending in a.
            let p = Pattern::new("[ab]*a").unwrap();
            prop_assert_eq!(p.full_match(&s), s.ends_with('a'));
            let q = Pattern::new("b+").unwrap();
            prop_assert_eq!(q.full_match(&s), !s.is_empty() && s.chars().all(|c| c == 'b'));
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,200}") {
            let _ = Schema::from_json(&s);
        }

        #[test]
        fn mutated_schema_never_panics(pos in 0usize..400, c in any::<char>()) {
            let mut s: Vec<char> = MINIMAL.chars().collect();
            let p = pos % s.len();
            s[p] = c;
            let s: String = s.into_iter().collect();
            let _ = Schema::from_json(&s);
        }
    }
}
