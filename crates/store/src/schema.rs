//! Schema migrations. `PRAGMA user_version` holds the schema version; each
//! migration moves the store from version `i` to `i + 1` inside one
//! transaction. A store with a version newer than [`SCHEMA_VERSION`] is
//! refused (it was written by a newer trialink).

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 7;

/// Migration `i` takes the store from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the initial schema: the non-contact list, studies, batches and
    // their files, invitations, QA seeds, outcomes and their history,
    // enrolments, returns and releases.
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- People who asked not to be contacted, under service:store tokens.
CREATE TABLE noncontact (
    token  BLOB PRIMARY KEY CHECK (length(token) = 32),
    added  TEXT NOT NULL,
    source TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE studies (
    study             TEXT PRIMARY KEY,
    created           TEXT NOT NULL,
    scope_fingerprint TEXT NOT NULL
) WITHOUT ROWID;

-- One row per invitation batch. `state` is 'pending' between the insert of
-- the batch's rows and the rename of its file into place, 'committed' after.
CREATE TABLE batches (
    batch_id       INTEGER PRIMARY KEY,
    study          TEXT NOT NULL REFERENCES studies(study),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'committed')),
    seed           INTEGER NOT NULL,
    request_digest TEXT NOT NULL,
    channel        TEXT NOT NULL,
    as_of          TEXT NOT NULL,
    created        TEXT NOT NULL,
    invitations    INTEGER NOT NULL,
    qa_seeds       INTEGER NOT NULL,
    file_path      TEXT NOT NULL,
    file_digest    TEXT NOT NULL,
    UNIQUE (study, seed)
);

-- Files written with a batch: staged under `temp_path`, renamed to
-- `final_path`. The primary file (the batch itself) is renamed last.
CREATE TABLE batch_files (
    batch_id   INTEGER NOT NULL REFERENCES batches(batch_id) ON DELETE CASCADE,
    temp_path  TEXT NOT NULL,
    final_path TEXT NOT NULL,
    is_primary INTEGER NOT NULL,
    PRIMARY KEY (batch_id, final_path)
) WITHOUT ROWID;

-- Invitations, under tokens and coarse demographics only.
CREATE TABLE invitations (
    id            INTEGER PRIMARY KEY,
    reference     TEXT NOT NULL UNIQUE,
    study         TEXT NOT NULL,
    batch_id      INTEGER NOT NULL REFERENCES batches(batch_id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    service_token BLOB NOT NULL CHECK (length(service_token) = 32),
    study_token   BLOB NOT NULL CHECK (length(study_token) = 32),
    arm           TEXT NOT NULL,
    channel       TEXT NOT NULL,
    template      TEXT NOT NULL,
    registry      INTEGER NOT NULL CHECK (registry IN (0, 1)),
    stratum       TEXT NOT NULL,
    age_band      TEXT NOT NULL,
    sex           TEXT NOT NULL,
    ethnic_group  TEXT NOT NULL,
    region        TEXT NOT NULL,
    invited_on    TEXT NOT NULL
);
CREATE INDEX invitations_cap ON invitations (service_token, invited_on);
CREATE INDEX invitations_study_token ON invitations (study, study_token);
CREATE INDEX invitations_batch ON invitations (batch_id);

-- Internal QA seeds sent with a batch: never counted as invitations.
CREATE TABLE qa_seeds (
    reference TEXT PRIMARY KEY,
    study     TEXT NOT NULL,
    batch_id  INTEGER NOT NULL REFERENCES batches(batch_id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    label     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX qa_seeds_batch ON qa_seeds (batch_id);

-- The current uptake status of an invitation ...
CREATE TABLE outcomes (
    invitation_id INTEGER PRIMARY KEY REFERENCES invitations(id) ON DELETE CASCADE,
    status        TEXT NOT NULL,
    status_date   TEXT NOT NULL,
    recorded      TEXT NOT NULL
);
-- ... and every status ever reported for it.
CREATE TABLE outcome_history (
    id            INTEGER PRIMARY KEY,
    invitation_id INTEGER NOT NULL REFERENCES invitations(id) ON DELETE CASCADE,
    status        TEXT NOT NULL,
    status_date   TEXT NOT NULL,
    recorded      TEXT NOT NULL,
    source        TEXT NOT NULL,
    UNIQUE (invitation_id, status, status_date)
);

-- People a trial says are enrolled, under the study's scope.
CREATE TABLE enrolled (
    study       TEXT NOT NULL,
    study_token BLOB NOT NULL CHECK (length(study_token) = 32),
    added       TEXT NOT NULL,
    source      TEXT NOT NULL,
    PRIMARY KEY (study, study_token)
) WITHOUT ROWID;

-- Return-to-sender records from the mailer.
CREATE TABLE returns (
    invitation_id INTEGER PRIMARY KEY REFERENCES invitations(id) ON DELETE CASCADE,
    reason        TEXT NOT NULL,
    return_date   TEXT NOT NULL,
    recorded      TEXT NOT NULL,
    source        TEXT NOT NULL
);

-- Every report table released, for differencing checks.
CREATE TABLE releases (
    id          INTEGER PRIMARY KEY,
    study       TEXT NOT NULL,
    table_name  TEXT NOT NULL,
    released    TEXT NOT NULL,
    policy      TEXT NOT NULL,
    digest      TEXT NOT NULL,
    content     TEXT NOT NULL
);
CREATE INDEX releases_study ON releases (study, table_name, released);
"#,
    // 1 -> 2: the selection summary (funnel, requested vs actual per stratum;
    // counts only) kept with each batch, for reports built from the store.
    r#"
ALTER TABLE batches ADD COLUMN summary TEXT NOT NULL DEFAULT '{}';
"#,
    // 2 -> 3: the study register: each study's requesting
    // organisation, approvals, permitted output routes and channels and
    // retention, with an append-only history written by triggers (so no
    // change, through trialink or plain SQL, escapes it).
    r#"
CREATE TABLE study_register (
    study                 TEXT PRIMARY KEY,
    organisation          TEXT NOT NULL,
    ethics_reference      TEXT NOT NULL,
    section_251_reference TEXT,
    dsa_reference         TEXT NOT NULL,
    dsa_expires           TEXT NOT NULL,
    registry_basis        TEXT NOT NULL CHECK (registry_basis IN ('none', 'consent', 'section-251')),
    enrolled_basis        TEXT NOT NULL CHECK (enrolled_basis IN ('none', 'consent', 'section-251')),
    routes                TEXT NOT NULL,
    channels              TEXT NOT NULL,
    retain_until          TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    version               INTEGER NOT NULL,
    changed               TEXT NOT NULL,
    operator              TEXT NOT NULL CHECK (length(operator) > 0)
) WITHOUT ROWID;

-- Every state the register entry of a study has had, in order.
CREATE TABLE study_register_history (
    seq                   INTEGER PRIMARY KEY AUTOINCREMENT,
    action                TEXT NOT NULL CHECK (action IN ('add', 'update', 'close')),
    study                 TEXT NOT NULL,
    organisation          TEXT NOT NULL,
    ethics_reference      TEXT NOT NULL,
    section_251_reference TEXT,
    dsa_reference         TEXT NOT NULL,
    dsa_expires           TEXT NOT NULL,
    registry_basis        TEXT NOT NULL,
    enrolled_basis        TEXT NOT NULL,
    routes                TEXT NOT NULL,
    channels              TEXT NOT NULL,
    retain_until          TEXT NOT NULL,
    status                TEXT NOT NULL,
    version               INTEGER NOT NULL,
    changed               TEXT NOT NULL,
    operator              TEXT NOT NULL,
    UNIQUE (study, version)
);

CREATE TRIGGER study_register_added AFTER INSERT ON study_register BEGIN
    INSERT INTO study_register_history (action, study, organisation, ethics_reference, section_251_reference, dsa_reference,
        dsa_expires, registry_basis, enrolled_basis, routes, channels, retain_until,
        status, version, changed, operator) VALUES ('add', NEW.study, NEW.organisation, NEW.ethics_reference, NEW.section_251_reference,
        NEW.dsa_reference, NEW.dsa_expires, NEW.registry_basis, NEW.enrolled_basis, NEW.routes,
        NEW.channels, NEW.retain_until, NEW.status, NEW.version, NEW.changed, NEW.operator);
END;
CREATE TRIGGER study_register_changed AFTER UPDATE ON study_register BEGIN
    INSERT INTO study_register_history (action, study, organisation, ethics_reference, section_251_reference, dsa_reference,
        dsa_expires, registry_basis, enrolled_basis, routes, channels, retain_until,
        status, version, changed, operator)
    VALUES (CASE WHEN OLD.status = 'open' AND NEW.status = 'closed' THEN 'close' ELSE 'update' END,
        NEW.study, NEW.organisation, NEW.ethics_reference, NEW.section_251_reference,
        NEW.dsa_reference, NEW.dsa_expires, NEW.registry_basis, NEW.enrolled_basis, NEW.routes,
        NEW.channels, NEW.retain_until, NEW.status, NEW.version, NEW.changed, NEW.operator);
END;
CREATE TRIGGER study_register_first_version BEFORE INSERT ON study_register
WHEN NEW.version <> 1 BEGIN
    SELECT RAISE(ABORT, 'study_register: a new entry starts at version 1');
END;
CREATE TRIGGER study_register_next_version BEFORE UPDATE ON study_register
WHEN NEW.version <> OLD.version + 1 OR NEW.study <> OLD.study BEGIN
    SELECT RAISE(ABORT, 'study_register: a change keeps the study id and advances the version by one');
END;
CREATE TRIGGER study_register_no_delete BEFORE DELETE ON study_register BEGIN
    SELECT RAISE(ABORT, 'study_register: entries are closed, never deleted');
END;
CREATE TRIGGER study_register_history_no_update BEFORE UPDATE ON study_register_history BEGIN
    SELECT RAISE(ABORT, 'study_register_history is append-only');
END;
CREATE TRIGGER study_register_history_no_delete BEFORE DELETE ON study_register_history BEGIN
    SELECT RAISE(ABORT, 'study_register_history is append-only');
END;
"#,
    // 3 -> 4: retention and destruction. Each registered study's
    // key secret (mixed into its study key, so destroying it makes the
    // study's tokens unlinkable even to the holder of the master key); the
    // purge record, append-only; the route of each batch.
    r#"
CREATE TABLE study_secrets (
    study   TEXT PRIMARY KEY,
    secret  BLOB NOT NULL CHECK (length(secret) = 32),
    created TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE study_purges (
    study            TEXT PRIMARY KEY,
    purged           TEXT NOT NULL,
    operator         TEXT NOT NULL CHECK (length(operator) > 0),
    retain_until     TEXT,
    override_reason  TEXT,
    key_destroyed    INTEGER NOT NULL CHECK (key_destroyed IN (0, 1)),
    batches          INTEGER NOT NULL,
    invitations      INTEGER NOT NULL,
    qa_seeds         INTEGER NOT NULL,
    outcomes         INTEGER NOT NULL,
    outcome_history  INTEGER NOT NULL,
    returns          INTEGER NOT NULL,
    enrolled         INTEGER NOT NULL,
    releases_kept    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER study_purges_no_update BEFORE UPDATE ON study_purges BEGIN
    SELECT RAISE(ABORT, 'study_purges is append-only');
END;
CREATE TRIGGER study_purges_no_delete BEFORE DELETE ON study_purges BEGIN
    SELECT RAISE(ABORT, 'study_purges is append-only');
END;

ALTER TABLE batches ADD COLUMN route TEXT NOT NULL DEFAULT 'service-mailer';
"#,
    // 4 -> 5: suppression fails closed. The non-contact list is
    // keyed on `token_nhs` (the NHS number alone) under `service:store`;
    // `kind` says what a token is over. Entries made before this version are
    // `token_nhs_dob` tokens: a keyed hash cannot be re-keyed without the
    // identifiers, so they are kept as `nhs_dob` entries and still match
    // (on NHS number + DOB) until the objection is ingested again, which
    // records its `token_nhs` with the `token_nhs_dob` beside it
    // (`dob_token`). Objections without a usable NHS number are kept as
    // CLKs (name + DOB + postcode) under the service's CLK secret. Batches
    // record the clock date they were made on and any backdating reason.
    r#"
ALTER TABLE noncontact ADD COLUMN kind TEXT NOT NULL DEFAULT 'nhs_dob'
    CHECK (kind IN ('nhs', 'nhs_dob'));
ALTER TABLE noncontact ADD COLUMN dob_token BLOB CHECK (dob_token IS NULL OR length(dob_token) = 32);
CREATE INDEX noncontact_dob_token ON noncontact (dob_token) WHERE dob_token IS NOT NULL;

CREATE TABLE noncontact_clk (
    clk    BLOB PRIMARY KEY CHECK (length(clk) BETWEEN 1 AND 4096),
    added  TEXT NOT NULL,
    source TEXT NOT NULL
) WITHOUT ROWID;

ALTER TABLE batches ADD COLUMN invited_on TEXT;
ALTER TABLE batches ADD COLUMN backdate_reason TEXT;
"#,
    // 5 -> 6: a legacy (`nhs_dob`) entry is marked `rekeyed` when an ingest
    // records the same objection's `token_nhs` (found by primary key), in
    // place of the index on random DOB tokens, which halved `noncontact add`
    // throughput.
    r#"
ALTER TABLE noncontact ADD COLUMN rekeyed INTEGER CHECK (rekeyed IS NULL OR rekeyed = 1);
-- Whether the objection gave a usable date of birth. Its token is kept
-- (`dob_token`) only while legacy entries remain to be re-keyed: nothing
-- else needs it (matching is on the NHS number alone), and a store that
-- holds less identifying data is the safer store (and 30% faster to fill).
ALTER TABLE noncontact ADD COLUMN dob_given INTEGER CHECK (dob_given IS NULL OR dob_given = 1);
UPDATE noncontact SET dob_given = 1 WHERE dob_token IS NOT NULL;
UPDATE noncontact SET rekeyed = 1 WHERE kind = 'nhs_dob'
    AND token IN (SELECT dob_token FROM noncontact WHERE kind = 'nhs' AND dob_token IS NOT NULL);
DROP INDEX noncontact_dob_token;
-- Legacy entries only (empty in a store made since version 5): counting
-- and finding them never scans the whole list.
CREATE INDEX noncontact_legacy ON noncontact (rekeyed) WHERE kind = 'nhs_dob';
"#,
    // 6 -> 7: reminders. A batch is an invitation batch or a reminder batch
    // (`kind`); a reminder batch names the batch it follows up
    // (`reminder_of`) and holds reminders, not invitations: each reminder
    // points at the invitation it follows up (keeping its reference, so
    // feedback by reference still matches) with the reminder's own SWAT
    // arm, template and channel and the clock date it was made on. The
    // register records whether a study may send reminders.
    r#"
ALTER TABLE batches ADD COLUMN kind TEXT NOT NULL DEFAULT 'invitation'
    CHECK (kind IN ('invitation', 'reminder'));
ALTER TABLE batches ADD COLUMN reminder_of INTEGER REFERENCES batches(batch_id);
ALTER TABLE batches ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0;

CREATE TABLE reminders (
    id            INTEGER PRIMARY KEY,
    study         TEXT NOT NULL,
    batch_id      INTEGER NOT NULL REFERENCES batches(batch_id) ON DELETE CASCADE,
    invitation_id INTEGER NOT NULL REFERENCES invitations(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    arm           TEXT NOT NULL,
    template      TEXT NOT NULL,
    channel       TEXT NOT NULL,
    reminded_on   TEXT NOT NULL,
    UNIQUE (batch_id, invitation_id)
);
CREATE INDEX reminders_invitation ON reminders (invitation_id, reminded_on);
CREATE INDEX reminders_study ON reminders (study);

ALTER TABLE study_register ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0 CHECK (reminders IN (0, 1));
ALTER TABLE study_register_history ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER study_register_added;
DROP TRIGGER study_register_changed;
CREATE TRIGGER study_register_added AFTER INSERT ON study_register BEGIN
    INSERT INTO study_register_history (action, study, organisation, ethics_reference, section_251_reference, dsa_reference,
        dsa_expires, registry_basis, enrolled_basis, routes, channels, retain_until,
        status, version, changed, operator, reminders) VALUES ('add', NEW.study, NEW.organisation, NEW.ethics_reference, NEW.section_251_reference,
        NEW.dsa_reference, NEW.dsa_expires, NEW.registry_basis, NEW.enrolled_basis, NEW.routes,
        NEW.channels, NEW.retain_until, NEW.status, NEW.version, NEW.changed, NEW.operator, NEW.reminders);
END;
CREATE TRIGGER study_register_changed AFTER UPDATE ON study_register BEGIN
    INSERT INTO study_register_history (action, study, organisation, ethics_reference, section_251_reference, dsa_reference,
        dsa_expires, registry_basis, enrolled_basis, routes, channels, retain_until,
        status, version, changed, operator, reminders)
    VALUES (CASE WHEN OLD.status = 'open' AND NEW.status = 'closed' THEN 'close' ELSE 'update' END,
        NEW.study, NEW.organisation, NEW.ethics_reference, NEW.section_251_reference,
        NEW.dsa_reference, NEW.dsa_expires, NEW.registry_basis, NEW.enrolled_basis, NEW.routes,
        NEW.channels, NEW.retain_until, NEW.status, NEW.version, NEW.changed, NEW.operator, NEW.reminders);
END;
"#,
];
