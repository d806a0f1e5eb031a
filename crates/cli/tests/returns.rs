//! `trialink returns` integration tests.

use crate::common;
use common::*;

#[test]
fn returns_recorded_unknown_and_qa_counted_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = master_key(d);
    let store = d.join("s.sqlite");
    create_store(&store, &key);
    std::fs::write(
        d.join("req.toml"),
        "study = \"r1\"\nchannel = \"postal\"\ninvitations = 10\nseed = 1\nas_of = \"2026-11-21\"\n[[arms]]\nname = \"A\"\ntemplate = \"t\"\n",
    )
    .unwrap();
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    let o = run(&[
        "invite",
        "--store",
        &p(&store),
        "--key",
        &p(&key),
        "--cohort",
        &p(&fixtures().join("synth/cohort.csv")),
        "--request",
        &p(&d.join("req.toml")),
        "--out",
        &p(&d.join("b")),
        "--qa-seeds",
        &p(&fixtures().join("synth/qa_seeds.csv")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let batch = std::fs::read_to_string(d.join("b/invitations.csv")).unwrap();
    let rows: Vec<Vec<&str>> = batch.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let qa_ref = {
        let st = store::Store::open(&store).unwrap();
        rows.iter()
            .map(|r| r[0])
            .find(|r| st.is_qa_reference(r).unwrap())
            .unwrap()
            .to_string()
    };
    let inv: Vec<&str> = rows
        .iter()
        .map(|r| r[0])
        .filter(|r| *r != qa_ref)
        .take(3)
        .collect();
    let f = d.join("rts.csv");
    std::fs::write(
        &f,
        format!(
            "reference,reason,date\n{},gone_away,2026-11-28\n{},addressee_unknown,2026-11-28\n{qa_ref},gone_away,2026-11-28\n00000000-0000-4000-8000-000000000000,gone_away,2026-11-28\n{},,2026-11-28\n{},refused,28/11/2026\n",
            inv[0], inv[1], inv[2], inv[2]
        ),
    )
    .unwrap();
    let o = run(&["returns", "--store", &p(&store), "--input", &p(&f)]);
    // Two rows rejected (not recorded): the run does not report success.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--allow-rejects"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 of 6 rows were rejected")
            && stderr(&o).contains("line 6, column reason: bad_reason"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains(inv[2]), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("6 rows — recorded 2, already recorded 0, QA seed 1, unknown reference 1, rejected 2"),
        "{out}"
    );
    let notes = std::fs::read_to_string(d.join("rts.csv.returns.csv")).unwrap();
    assert_eq!(notes, "line,column,outcome\n4,reference,qa_seed\n5,reference,unknown_reference\n6,reason,bad_reason\n7,date,bad_date\n");
    // Issue 15 item 7: the earlier run's notes are not replaced without --force.
    let o = run(&["returns", "--store", &p(&store), "--input", &p(&f)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("rts.csv.returns.csv: already exists"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    let o = run(&[
        "returns",
        "--store",
        &p(&store),
        "--input",
        &p(&f),
        "--force",
        "--allow-rejects",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("recorded 0, already recorded 2"),
        "{}",
        stdout(&o)
    );
    let st = store::Store::open(&store).unwrap();
    let figs = st.uptake_detail("r1").unwrap();
    assert_eq!(figs.iter().map(|f| f.returned).sum::<u64>(), 2);
    assert_eq!(figs.iter().map(|f| f.invited).sum::<u64>(), 10);
    assert_eq!(figs.iter().map(|f| f.delivered()).sum::<u64>(), 8);
}
