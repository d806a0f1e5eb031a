//! The service store: SQLite schema, migrations, invitations, outcomes, non-contact list, releases

#![forbid(unsafe_code)]
