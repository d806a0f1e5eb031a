//! What a schema is, for manifests: its digest, a description of its
//! features and extensions, and the binding of its features to a header.

use super::*;
use schema::{Comparison, Format, HashType, Part, Schema};

/// SHA-256 (hex) of a schema file's bytes, for manifests: the other party
/// can check they encoded with the same schema.
pub fn schema_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

impl Schema {
    /// What a manifest should record about this schema (no secrets): output
    /// length, folds, features and their hashing, and every trialink
    /// extension in force, with whether the CLKs stay clkhash-compatible.
    pub fn describe(&self) -> serde_json::Value {
        use serde_json::json;
        let features: Vec<serde_json::Value> = self
            .features
            .iter()
            .map(|f| match &f.spec {
                None => json!({ "identifier": f.identifier, "ignored": true }),
                Some(s) => json!({
                    "identifier": f.identifier,
                    "format": match &s.format {
                        Format::String { .. } => "string",
                        Format::Integer { .. } => "integer",
                        Format::Date { .. } => "date",
                        Format::Enum { .. } => "enum",
                    },
                    "comparison": match s.comparison {
                        Comparison::Ngram { n, positional } => json!({ "type": "ngram", "n": n, "positional": positional }),
                        Comparison::Exact => json!({ "type": "exact" }),
                    },
                    "strategy": match s.strategy {
                        schema::Strategy::BitsPerToken(k) => json!({ "bitsPerToken": k }),
                        schema::Strategy::BitsPerFeature(b) => json!({ "bitsPerFeature": b }),
                    },
                    "hash": match s.hash {
                        HashType::Blake => json!({ "type": "blakeHash" }),
                        HashType::Double { prevent_singularity } => json!({ "type": "doubleHash", "prevent_singularity": prevent_singularity }),
                    },
                    "pattern": matches!(&s.format, Format::String { pattern: Some(_), .. }),
                    "missingValue": s.missing.is_some(),
                }),
            })
            .collect();
        let part = |p: &Part| json!({ "identifier": self.features[p.feature].identifier, "transform": p.transform.name() });
        json!({
            "version": 3,
            "l": self.l,
            "xor_folds": self.xor_folds,
            "xorFolds_alias_used": self.xor_folds_alias_used,
            "kdf": {
                "hash": match self.kdf.hash { schema::KdfHash::Sha256 => "SHA256", schema::KdfHash::Sha512 => "SHA512" },
                "salt": self.kdf.salt.is_some(),
                "info": self.kdf.info.is_some(),
                "keySize": self.kdf.key_size,
            },
            "features": features,
            "trialink_extensions": {
                "record_salt": self.hardening.record_salt.as_ref().map(part),
                "randomised_response_epsilon": self.hardening.rr_epsilon,
                "blocking": self.hardening.blocking.iter().map(|b| {
                    let mut o = json!({ "name": b.name, "parts": b.parts.iter().map(part).collect::<Vec<_>>() });
                    if let Some(g) = &b.filter {
                        o["filter"] = json!(g);
                    }
                    if b.sorted {
                        o["sorted"] = json!(true);
                    }
                    o
                }).collect::<Vec<_>>(),
            },
            "clkhash_compatible": !self.hardening.changes_clk(),
        })
    }

    /// For each feature, the CSV column holding it: `Ok` with `None` for
    /// ignored features that are absent, `Err` with the identifiers of
    /// hashed features the header lacks.
    pub fn bind_columns(&self, header: &[String]) -> Result<Vec<Option<usize>>, Vec<String>> {
        let mut missing = Vec::new();
        let cols = self
            .features
            .iter()
            .map(|f| {
                let c = header
                    .iter()
                    .position(|h| *h == f.identifier)
                    .or_else(|| header.iter().position(|h| h.eq_ignore_ascii_case(&f.identifier)));
                if c.is_none() && f.spec.is_some() {
                    missing.push(f.identifier.clone());
                }
                c
            })
            .collect();
        if missing.is_empty() {
            Ok(cols)
        } else {
            Err(missing)
        }
    }
}
