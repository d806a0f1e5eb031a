//! Who must not be invited, and why: the standard exclusions (deceased,
//! National Data Opt-out, S-flag, armed forces, prison), the service's
//! non-contact list, a trial's already-enrolled list and the
//! invitation-frequency cap.
//!
//! Every candidate gets exactly one [`Reason`]: the first that applies in
//! the fixed [`Reason::ORDER`], so an exclusion [`Funnel`] always adds up
//! (`rows_in = Σ reasons`).
//!
//! Token lists arrive as a token CSV with its `<file>.manifest.json` or as
//! a TLBF filter (both in docs/formats.md); [`load_token_list`] reads either
//! and refuses one made under a key other than the expected scope key,
//! naming both fingerprints. A [`TokenSet`] answers membership by binary
//! search over sorted 32-byte tokens, or by the filter (whose false
//! positives only ever err towards not contacting someone).
//!
//! [`objections`] reads a file of objections to contact for the non-contact
//! list; [`filter_rows`] reads token files for TLBF filters and checks them,
//! and [`filter_run`] is a whole `filter build` or `filter check` run.

#![forbid(unsafe_code)]

pub mod clk;
pub mod filter_rows;
pub mod filter_run;
mod lists;
pub mod objections;

pub use clk::{ClkCoder, ClkList};
pub use lists::{
    blake3_file, check_manifest, check_manifest_key, load_token_list, load_token_list_with, ListError,
    ScopeRule, TokenList, SOURCE_ROWS_REJECTED,
};
pub use objections::{
    add_objections, read_objections, source_label, AddError, AddRun, Added, NoncontactAddError,
    ObjectionColumns, Objections,
};

use std::collections::BTreeMap;

/// A token as raw bytes.
pub type TokenBytes = [u8; 32];

/// The outcome for one cohort row, in precedence order: the first that
/// applies is the one counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The row could not be read (bad NHS number, DOB, flag …).
    Rejected,
    /// Outside the study's inclusion criteria.
    NotEligible,
    /// Recorded as deceased.
    Deceased,
    /// Registered a National Data Opt-out.
    NationalDataOptOut,
    /// Restricted (S-flag) record.
    SFlag,
    /// Serving in the armed forces.
    ArmedForces,
    /// In prison.
    Prison,
    /// No contact details for the request's channel.
    NoContactDetails,
    /// On the service's non-contact list (by the NHS number).
    NonContactList,
    /// Matches an objection kept without a usable NHS number (CLK of name,
    /// DOB and postcode at the low suppression threshold).
    NonContactClk,
    /// Already enrolled in the study (trial's list or recorded uptake).
    AlreadyEnrolled,
    /// Already invited to this study.
    AlreadyInvited,
    /// Over the invitation-frequency cap.
    FrequencyCap,
    /// Would have been eligible, but another row of the same person (same
    /// NHS number) carries an exclusion: any exclusion on any row applies
    /// to the person.
    DuplicatePersonExcluded,
    /// Eligible but not chosen (stratum quota met, or stratum not requested).
    NotSelected,
    /// Invited.
    Invited,
}

impl Reason {
    /// Every reason in precedence order.
    pub const ORDER: [Reason; 16] = [
        Reason::Rejected,
        Reason::NotEligible,
        Reason::Deceased,
        Reason::NationalDataOptOut,
        Reason::SFlag,
        Reason::ArmedForces,
        Reason::Prison,
        Reason::NoContactDetails,
        Reason::NonContactList,
        Reason::NonContactClk,
        Reason::AlreadyEnrolled,
        Reason::AlreadyInvited,
        Reason::FrequencyCap,
        Reason::DuplicatePersonExcluded,
        Reason::NotSelected,
        Reason::Invited,
    ];

    /// Whether the reason excludes the person (every row of them), as
    /// opposed to describing one row (rejected, not eligible, no contact
    /// details, not selected, invited).
    pub fn excludes_person(self) -> bool {
        !matches!(
            self,
            Reason::Rejected
                | Reason::NotEligible
                | Reason::NoContactDetails
                | Reason::NotSelected
                | Reason::Invited
        )
    }

    /// A stable code for summaries and reports.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::NotEligible => "not_eligible",
            Reason::Deceased => "deceased",
            Reason::NationalDataOptOut => "national_data_opt_out",
            Reason::SFlag => "s_flag",
            Reason::ArmedForces => "armed_forces",
            Reason::Prison => "prison",
            Reason::NoContactDetails => "no_contact_details",
            Reason::NonContactList => "non_contact_list",
            Reason::NonContactClk => "non_contact_clk",
            Reason::DuplicatePersonExcluded => "duplicate_person_excluded",
            Reason::AlreadyEnrolled => "already_enrolled",
            Reason::AlreadyInvited => "already_invited",
            Reason::FrequencyCap => "frequency_cap",
            Reason::NotSelected => "not_selected",
            Reason::Invited => "invited",
        }
    }
}

/// The standard exclusion flags of a cohort row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// Deceased.
    pub deceased: bool,
    /// National Data Opt-out registered.
    pub national_data_opt_out: bool,
    /// S-flag (restricted record).
    pub s_flag: bool,
    /// Armed forces.
    pub armed_forces: bool,
    /// Prison.
    pub prison: bool,
}

impl Flags {
    /// The first standard exclusion that applies, in precedence order.
    pub fn exclusion(&self) -> Option<Reason> {
        if self.deceased {
            Some(Reason::Deceased)
        } else if self.national_data_opt_out {
            Some(Reason::NationalDataOptOut)
        } else if self.s_flag {
            Some(Reason::SFlag)
        } else if self.armed_forces {
            Some(Reason::ArmedForces)
        } else if self.prison {
            Some(Reason::Prison)
        } else {
            None
        }
    }
}

/// Parse a flag cell: `1/0`, `true/false`, `yes/no`, `y/n` (any case);
/// blank is `false`. `None` for anything else.
pub fn parse_flag(cell: &[u8]) -> Option<bool> {
    let t = cell.trim_ascii();
    if t.is_empty() {
        return Some(false);
    }
    const TRUE: [&[u8]; 4] = [b"1", b"true", b"yes", b"y"];
    const FALSE: [&[u8]; 4] = [b"0", b"false", b"no", b"n"];
    if TRUE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

/// Sorted, deduplicated tokens with a prefix index: tokens are keyed
/// hashes, uniform in their leading bits, so the top `bits` bits of a token
/// point straight at the few tokens that share them (measured: a plain
/// binary search over 1M non-contact and 2.5M invitation tokens for every
/// cohort row made `invite` 45% slower once every row, not only eligible
/// ones, is checked against the lists).
pub struct SortedTokens {
    tokens: Vec<TokenBytes>,
    /// `starts[p]` = index of the first token whose top `bits` bits are ≥ `p`.
    starts: Vec<u32>,
    bits: u32,
}

impl SortedTokens {
    /// From tokens in ascending order without duplicates (sorted and
    /// deduplicated here if they are not).
    pub fn new(mut tokens: Vec<TokenBytes>) -> SortedTokens {
        if !tokens.windows(2).all(|w| w[0] < w[1]) {
            tokens.sort_unstable();
            tokens.dedup();
        }
        // About one token per slot, at most 2^20 slots (4 MiB).
        let bits = (usize::BITS - tokens.len().leading_zeros()).min(20);
        let mut starts = vec![0u32; (1usize << bits) + 1];
        let mut j = 0usize;
        for (p, s) in starts.iter_mut().enumerate() {
            while j < tokens.len() && (Self::prefix(&tokens[j], bits) as usize) < p {
                j += 1;
            }
            *s = j as u32;
        }
        SortedTokens { tokens, starts, bits }
    }

    #[inline]
    fn prefix(t: &TokenBytes, bits: u32) -> u32 {
        if bits == 0 {
            return 0;
        }
        u32::from_be_bytes([t[0], t[1], t[2], t[3]]) >> (32 - bits)
    }

    /// Whether `t` is in the set.
    #[inline]
    pub fn contains(&self, t: &TokenBytes) -> bool {
        let p = Self::prefix(t, self.bits) as usize;
        let (a, b) = (self.starts[p] as usize, self.starts[p + 1] as usize);
        self.tokens[a..b].binary_search(t).is_ok()
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// A set of tokens: sorted and deduplicated (with a prefix index), or a
/// TLBF filter.
pub enum TokenSet {
    /// Sorted, deduplicated tokens.
    Sorted(SortedTokens),
    /// A TLBF filter (false positives possible, never false negatives).
    Filter(Box<bloom::tlbf::Tlbf>),
    /// Several sets: a member of any is a member.
    Union(Vec<TokenSet>),
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSet::Sorted(v) => write!(f, "TokenSet::Sorted({} tokens)", v.len()),
            TokenSet::Filter(t) => write!(f, "TokenSet::Filter(n = {})", t.n()),
            TokenSet::Union(v) => write!(f, "TokenSet::Union({} sets)", v.len()),
        }
    }
}

impl TokenSet {
    /// The empty set.
    pub fn empty() -> TokenSet {
        TokenSet::sorted(Vec::new())
    }

    /// A set from tokens in any order.
    pub fn from_unsorted(mut v: Vec<TokenBytes>) -> TokenSet {
        v.sort_unstable();
        v.dedup();
        TokenSet::Sorted(SortedTokens::new(v))
    }

    /// A set from tokens in ascending order (sorted here if they are not).
    pub fn sorted(v: Vec<TokenBytes>) -> TokenSet {
        TokenSet::Sorted(SortedTokens::new(v))
    }

    /// Whether `t` is (or, for a filter, may be) in the set.
    pub fn contains(&self, t: &TokenBytes) -> bool {
        match self {
            TokenSet::Sorted(v) => v.contains(t),
            TokenSet::Filter(f) => f.contains(t),
            TokenSet::Union(sets) => sets.iter().any(|s| s.contains(t)),
        }
    }

    /// Number of tokens held (for a filter, the number inserted).
    pub fn len(&self) -> u64 {
        match self {
            TokenSet::Sorted(v) => v.len() as u64,
            TokenSet::Filter(f) => f.n(),
            TokenSet::Union(sets) => sets.iter().map(|s| s.len()).sum(),
        }
    }

    /// Whether the set holds no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The invitation-frequency cap: at most `max_invitations` across all
/// studies within `within_days` days before the as-of date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencyCap {
    /// Most invitations allowed in the window (a person with this many
    /// already is not invited again).
    pub max_invitations: u32,
    /// Window length in days, ending at the as-of date.
    pub within_days: u32,
}

impl FrequencyCap {
    /// The first day of the window, `YYYY-MM-DD`.
    pub fn window_start(&self, as_of: pseudonym::Date) -> String {
        let d = pseudonym::Date::from_days_since_epoch(as_of.days_since_epoch() - self.within_days as i64)
            .unwrap_or(as_of);
        let mut iso = [0u8; 10];
        d.write_iso(&mut iso);
        String::from_utf8(iso.to_vec()).expect("ASCII")
    }

    /// The `service:store` tokens over the cap on `as_of`, from the store:
    /// `token_nhs_dob` counting every invitation, and `token_nhs` (the
    /// person) counting invitations that carry it.
    pub fn capped(
        &self,
        store: &store::Store,
        as_of: pseudonym::Date,
    ) -> Result<(TokenSet, TokenSet), store::StoreError> {
        let since = self.window_start(as_of);
        let max = self.max_invitations.max(1);
        Ok((
            TokenSet::sorted(store.capped_tokens(&since, max)?),
            TokenSet::sorted(store.capped_nhs_tokens(&since, max)?),
        ))
    }
}

/// A candidate's tokens, as the suppression stage sees them.
#[derive(Debug, Clone, Copy)]
pub struct PersonTokens<'a> {
    /// `token_nhs` under `service:store`: the person.
    pub service_nhs: &'a TokenBytes,
    /// `token_nhs_dob` under `service:store` (invitations, the cap, legacy
    /// non-contact entries).
    pub service_nhs_dob: &'a TokenBytes,
    /// `token_nhs_dob` under `trial:<study>`.
    pub study_nhs_dob: &'a TokenBytes,
    /// `token_nhs` under `trial:<study>`.
    pub study_nhs: &'a TokenBytes,
}

/// What the suppression stage checks a pseudonymised candidate against.
#[derive(Debug)]
pub struct Suppressor {
    /// Non-contact list (`service:store` `token_nhs`: the NHS number alone).
    pub non_contact: TokenSet,
    /// Non-contact entries from before schema version 5 not yet re-keyed
    /// (`service:store` `token_nhs_dob`).
    pub non_contact_legacy: TokenSet,
    /// Already enrolled (study-scope `token_nhs_dob`).
    pub enrolled: TokenSet,
    /// Already enrolled (study-scope `token_nhs`, from an `nhs_token`
    /// column sent alongside).
    pub enrolled_nhs: TokenSet,
    /// Already invited to this study (study-scope `token_nhs_dob`; every
    /// invitation, including those made before schema version 8).
    pub invited: TokenSet,
    /// Already invited to this study (study-scope `token_nhs`: the person,
    /// whatever their date of birth; invitations since schema version 8).
    pub invited_nhs: TokenSet,
    /// Over the frequency cap (`service:store` `token_nhs_dob`, counting
    /// every invitation).
    pub capped: TokenSet,
    /// Over the frequency cap (`service:store` `token_nhs`: the person,
    /// counting invitations since schema version 8).
    pub capped_nhs: TokenSet,
}

impl Suppressor {
    /// The first list-based exclusion that applies, in precedence order.
    pub fn check(&self, p: PersonTokens<'_>) -> Option<Reason> {
        if self.non_contact.contains(p.service_nhs) || self.non_contact_legacy.contains(p.service_nhs_dob) {
            Some(Reason::NonContactList)
        } else if self.enrolled.contains(p.study_nhs_dob) || self.enrolled_nhs.contains(p.study_nhs) {
            Some(Reason::AlreadyEnrolled)
        } else if self.invited.contains(p.study_nhs_dob) || self.invited_nhs.contains(p.study_nhs) {
            Some(Reason::AlreadyInvited)
        } else if self.capped.contains(p.service_nhs_dob) || self.capped_nhs.contains(p.service_nhs) {
            Some(Reason::FrequencyCap)
        } else {
            None
        }
    }
}

/// Counts by [`Reason`]; always adds up to the rows seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Funnel {
    counts: BTreeMap<Reason, u64>,
}

impl Funnel {
    /// Count one row.
    pub fn add(&mut self, r: Reason) {
        *self.counts.entry(r).or_insert(0) += 1;
    }

    /// Move one row from one reason to another (e.g. eligible → invited).
    pub fn moved(&mut self, from: Reason, to: Reason) {
        if let Some(n) = self.counts.get_mut(&from) {
            if *n > 0 {
                *n -= 1;
                self.add(to);
            }
        }
    }

    /// Rows counted under `r`.
    pub fn get(&self, r: Reason) -> u64 {
        self.counts.get(&r).copied().unwrap_or(0)
    }

    /// All rows counted.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// `(code, count)` in precedence order, every reason listed.
    pub fn rows(&self) -> Vec<(&'static str, u64)> {
        Reason::ORDER.iter().map(|&r| (r.code(), self.get(r))).collect()
    }

    /// Rows still in the pool after each stage: `(stage, excluded, remaining)`.
    pub fn stages(&self) -> Vec<(&'static str, u64, u64)> {
        let mut remaining = self.total();
        Reason::ORDER
            .iter()
            .map(|&r| {
                let n = self.get(r);
                remaining -= n;
                (r.code(), n, remaining)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(i: u8) -> TokenBytes {
        [i; 32]
    }

    #[test]
    fn flags_precedence() {
        let all = Flags {
            deceased: true,
            national_data_opt_out: true,
            s_flag: true,
            armed_forces: true,
            prison: true,
        };
        assert_eq!(all.exclusion(), Some(Reason::Deceased));
        let f = Flags {
            armed_forces: true,
            prison: true,
            ..Flags::default()
        };
        assert_eq!(f.exclusion(), Some(Reason::ArmedForces));
        assert_eq!(Flags::default().exclusion(), None);
    }

    #[test]
    fn flag_cells() {
        for (c, v) in [
            (&b"1"[..], Some(true)),
            (b"TRUE", Some(true)),
            (b" y ", Some(true)),
            (b"0", Some(false)),
            (b"", Some(false)),
            (b"No", Some(false)),
            (b"maybe", None),
            (b"2", None),
        ] {
            assert_eq!(parse_flag(c), v, "{:?}", String::from_utf8_lossy(c));
        }
    }

    #[test]
    fn suppressor_precedence() {
        let s = Suppressor {
            non_contact: TokenSet::from_unsorted(vec![t(1)]),
            non_contact_legacy: TokenSet::from_unsorted(vec![t(21)]),
            enrolled: TokenSet::from_unsorted(vec![t(2), t(11)]),
            enrolled_nhs: TokenSet::from_unsorted(vec![t(22)]),
            invited: TokenSet::from_unsorted(vec![t(3)]),
            invited_nhs: TokenSet::from_unsorted(vec![t(23)]),
            capped: TokenSet::from_unsorted(vec![t(4), t(1)]),
            capped_nhs: TokenSet::from_unsorted(vec![t(24)]),
        };
        // (service nhs, service nhs+dob, study nhs+dob, study nhs)
        let c = |a: u8, b: u8, c: u8, d: u8| {
            s.check(PersonTokens {
                service_nhs: &t(a),
                service_nhs_dob: &t(b),
                study_nhs_dob: &t(c),
                study_nhs: &t(d),
            })
        };
        assert_eq!(c(1, 9, 11, 9), Some(Reason::NonContactList));
        assert_eq!(c(9, 21, 9, 9), Some(Reason::NonContactList));
        assert_eq!(c(9, 9, 2, 9), Some(Reason::AlreadyEnrolled));
        assert_eq!(c(9, 9, 9, 22), Some(Reason::AlreadyEnrolled));
        assert_eq!(c(9, 9, 3, 9), Some(Reason::AlreadyInvited));
        assert_eq!(c(9, 4, 9, 9), Some(Reason::FrequencyCap));
        // the person (NHS number alone), whatever the date of birth
        assert_eq!(c(9, 9, 9, 23), Some(Reason::AlreadyInvited));
        assert_eq!(c(24, 9, 9, 9), Some(Reason::FrequencyCap));
        assert_eq!(c(5, 5, 5, 5), None);
        assert!(Reason::DuplicatePersonExcluded.excludes_person());
        assert!(!Reason::NoContactDetails.excludes_person());
    }

    #[test]
    fn filter_set_has_no_false_negatives() {
        let toks: Vec<TokenBytes> = (0..200u8).map(|i| [i.wrapping_mul(37); 32]).collect();
        let f = bloom::tlbf::Tlbf::build(toks.iter(), 0.01, [0; 8]).unwrap();
        let s = TokenSet::Filter(Box::new(f));
        assert!(toks.iter().all(|x| s.contains(x)));
    }

    #[test]
    fn window_start() {
        let cap = FrequencyCap {
            max_invitations: 2,
            within_days: 365,
        };
        let as_of = pseudonym::Date::new(2026, 11, 21).unwrap();
        assert_eq!(cap.window_start(as_of), "2025-11-21");
    }

    proptest! {
        #[test]
        fn funnel_adds_up(rs in proptest::collection::vec(0usize..16, 0..200), moves in 0usize..50) {
            let mut f = Funnel::default();
            for &r in &rs { f.add(Reason::ORDER[r]); }
            for _ in 0..moves { f.moved(Reason::NotSelected, Reason::Invited); }
            prop_assert_eq!(f.total(), rs.len() as u64);
            prop_assert_eq!(f.rows().iter().map(|r| r.1).sum::<u64>(), rs.len() as u64);
            let st = f.stages();
            prop_assert_eq!(st.last().unwrap().2, 0);
        }

        #[test]
        fn sorted_set_membership(v in proptest::collection::vec(any::<u8>(), 0..50), probe in any::<u8>()) {
            let s = TokenSet::from_unsorted(v.iter().map(|&i| t(i)).collect());
            prop_assert_eq!(s.contains(&t(probe)), v.contains(&probe));
        }

        #[test]
        fn parse_flag_never_panics(b in proptest::collection::vec(any::<u8>(), 0..10)) {
            let _ = parse_flag(&b);
        }
    }
}

#[cfg(test)]
mod sorted_tokens_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The prefix index answers exactly as a plain binary search, for
        /// sets of every size (including the empty set and one token).
        #[test]
        fn prefix_index_agrees_with_binary_search(
            members in proptest::collection::vec(any::<[u8; 32]>(), 0..600),
            probes in proptest::collection::vec(any::<[u8; 32]>(), 0..50),
        ) {
            let mut sorted = members.clone();
            sorted.sort_unstable();
            sorted.dedup();
            let set = SortedTokens::new(members.clone());
            prop_assert_eq!(set.len(), sorted.len());
            for t in members.iter().chain(probes.iter()) {
                prop_assert_eq!(set.contains(t), sorted.binary_search(t).is_ok());
            }
        }
    }
}
