//! A run's keys and the lists it checks people against: registry
//! volunteers (token list or links), the enrolled (store and trial list),
//! the non-contact list (tokens, legacy tokens, CLKs), the already-invited
//! and the frequency cap. Everything the manifest records about them is
//! collected here.

use super::InviteError;
use pseudonym::{Key, Scope, TokenKey};
use std::collections::BTreeMap;
use std::path::Path;
use store::Store;
use suppression::{ClkList, ScopeRule, Suppressor, TokenSet};

/// The keys a run derives: `service:store`, the study's key, the
/// invitation-reference key, and their manifest records.
pub(crate) struct RunKeys {
    pub service_tk: TokenKey,
    pub study_tk: TokenKey,
    pub ref_key: TokenKey,
    pub trial_key: Key,
    pub trial_scope: Scope,
    pub trial_fp: String,
    pub records: Vec<tabular::KeyRecord>,
}

impl RunKeys {
    pub(crate) fn derive(store: &Store, master: &Key, study: &str) -> Result<RunKeys, InviteError> {
        let service_key = master.derive(&Scope::service_store());
        let store::StudyKey {
            key: trial_key,
            scope: trial_scope,
            ..
        } = store.study_key(master, study)?;
        let ref_key =
            TokenKey::new(&master.derive(&Scope::new(super::REFERENCE_SCOPE).expect("valid scope")));
        let records = vec![
            key_record("master", None, master),
            key_record("service", Some(&Scope::service_store()), &service_key),
            key_record("study", Some(&trial_scope), &trial_key),
        ];
        Ok(RunKeys {
            service_tk: TokenKey::new(&service_key),
            study_tk: TokenKey::new(&trial_key),
            ref_key,
            trial_fp: trial_key.fingerprint().to_string(),
            trial_key,
            trial_scope,
            records,
        })
    }
}

/// What a run reads besides the cohort, and what the manifest says of it.
pub(crate) struct Lists {
    /// Registry volunteers (token set and its key).
    pub registry: Option<(TokenSet, TokenKey)>,
    /// Registry volunteers found by linkage.
    pub links: Option<crate::links::RegistryLinks>,
    pub suppressor: Suppressor,
    pub clk_list: ClkList,
    pub legacy_count: u64,
    /// Input records for the manifest.
    pub inputs: Vec<tabular::FileRecord>,
    /// Extra manifest fields.
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Where the lists come from.
pub(crate) struct ListSources<'a> {
    pub master: &'a Key,
    pub study: &'a str,
    pub registry: Option<&'a Path>,
    /// The request's `[registry] scope`, which binds the registry file.
    pub registry_scope: Option<&'a str>,
    pub registry_links: Option<&'a Path>,
    pub enrolled: Option<&'a Path>,
    /// Suppress people already invited to the study.
    pub already_invited: bool,
    /// People over the frequency cap (`service:store` `token_nhs_dob`).
    pub capped: TokenSet,
    /// People over the frequency cap (`service:store` `token_nhs`).
    pub capped_nhs: TokenSet,
}

impl Lists {
    pub(crate) fn load(
        store: &Store,
        src: ListSources<'_>,
        keys: &mut RunKeys,
    ) -> Result<Lists, InviteError> {
        let mut inputs: Vec<tabular::FileRecord> = Vec::new();
        let mut extra: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let registry = match src.registry {
            Some(p) => {
                // The request's scope binds the file: a file naming another
                // registry is refused, naming both.
                let rule = match src.registry_scope {
                    Some(s) => ScopeRule::Exactly(Scope::new(s).expect("validated")),
                    None => ScopeRule::NamedOr(None),
                };
                let (list, key) = suppression::load_token_list(p, src.master, &rule)?;
                keys.records.push(key_record("registry", Some(&list.scope), &key));
                inputs.push(list_record("registry", p, &list));
                extra.insert("registry_scope".into(), list.scope.to_string().into());
                extra.insert("registry_is_filter".into(), list.is_filter.into());
                Some((list.set, TokenKey::new(&key)))
            }
            None => None,
        };
        let links = match src.registry_links {
            Some(p) => {
                let l = crate::links::load(p)?;
                inputs.push(tabular::FileRecord {
                    role: "registry_links".into(),
                    path: p.display().to_string(),
                    blake3: l.blake3.clone(),
                    bytes: l.bytes,
                    rows: Some(l.exact + l.fuzzy),
                    format: None,
                });
                extra.insert(
                    "registry_links".into(),
                    serde_json::json!({"exact": l.exact, "fuzzy": l.fuzzy, "cohort_rows": l.rows.len()}),
                );
                Some(l)
            }
            None => None,
        };
        let mut enrolled_sets = vec![TokenSet::sorted(store.enrolled_tokens(src.study)?)];
        let mut enrolled_nhs_sets = Vec::new();
        if let Some(p) = src.enrolled {
            let (list, _) = suppression::load_token_list_with(
                p,
                &|s: &Scope| {
                    if *s == keys.trial_scope {
                        Key::from_bytes(*keys.trial_key.expose_secret())
                    } else {
                        src.master.derive(s)
                    }
                },
                &ScopeRule::Exactly(keys.trial_scope.clone()),
                false,
            )?;
            inputs.push(list_record("enrolled", p, &list));
            extra.insert("enrolled_nhs_tokens".into(), list.nhs_set.len().into());
            // A filter does not say whether it holds NHS number + DOB or NHS
            // number tokens: it is probed with both.
            let nhs_set = match &list.set {
                TokenSet::Filter(f) => TokenSet::Filter(f.clone()),
                _ => list.nhs_set,
            };
            enrolled_sets.push(list.set);
            enrolled_nhs_sets.push(nhs_set);
        }
        let legacy = store.noncontact_legacy_tokens()?;
        let legacy_count = legacy.len() as u64;
        let suppressor = Suppressor {
            non_contact: TokenSet::sorted(store.noncontact_tokens()?),
            non_contact_legacy: TokenSet::sorted(legacy),
            enrolled: TokenSet::Union(enrolled_sets),
            enrolled_nhs: TokenSet::Union(enrolled_nhs_sets),
            invited: if src.already_invited {
                TokenSet::sorted(store.invited_study_tokens(src.study)?)
            } else {
                TokenSet::empty()
            },
            invited_nhs: if src.already_invited {
                TokenSet::sorted(store.invited_study_nhs_tokens(src.study)?)
            } else {
                TokenSet::empty()
            },
            capped: src.capped,
            capped_nhs: src.capped_nhs,
        };
        let clk_list = ClkList::new(&store.noncontact_clks()?);
        extra.insert("non_contact_tokens".into(), suppressor.non_contact.len().into());
        extra.insert("non_contact_legacy_entries".into(), legacy_count.into());
        extra.insert("non_contact_clks".into(), (clk_list.len() as u64).into());
        Ok(Lists {
            registry,
            links,
            suppressor,
            clk_list,
            legacy_count,
            inputs,
            extra,
        })
    }
}

pub(crate) fn key_record(role: &str, scope: Option<&Scope>, k: &Key) -> tabular::KeyRecord {
    tabular::KeyRecord {
        role: role.into(),
        scope: scope.map(|s| s.to_string()),
        fingerprint: k.fingerprint().to_string(),
    }
}

fn list_record(role: &str, p: &Path, l: &suppression::TokenList) -> tabular::FileRecord {
    tabular::FileRecord {
        role: role.into(),
        path: p.display().to_string(),
        blake3: l.blake3.clone(),
        bytes: l.bytes,
        rows: Some(l.rows),
        format: None,
    }
}
