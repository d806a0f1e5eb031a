//! `trialink keys` integration tests.

use crate::common;
use common::*;

#[test]
fn generate_is_private_and_never_overwrites() {
    let d = tempfile::tempdir().unwrap();
    let k = d.path().join("m.key");
    let o = run(&[
        "keys",
        "generate",
        "--out",
        k.to_str().unwrap(),
        "--scope",
        "service:master",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fp = stdout(&o).trim().to_string();
    assert_eq!(fp.len(), 16);
    let text = std::fs::read_to_string(&k).unwrap();
    assert!(text.contains("# scope: service:master"));
    assert!(text.contains(&format!("# fingerprint: {fp}")));
    assert!(text.contains("# created: "));
    assert!(!stderr(&o).contains("TRIALINK-KEY"), "key printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&k).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let before = std::fs::read(&k).unwrap();
    let o = run(&["keys", "generate", "--out", k.to_str().unwrap()]);
    assert_error(&o, "refusing to overwrite", &[]);
    assert_eq!(std::fs::read(&k).unwrap(), before);
    // two generated keys differ
    let k2 = d.path().join("m2.key");
    let o2 = run(&["keys", "generate", "--out", k2.to_str().unwrap()]);
    assert_ne!(stdout(&o2).trim(), fp);
}

#[test]
fn derive_matches_vectors() {
    let d = tempfile::tempdir().unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("vectors/keys.json")).unwrap())
            .unwrap();
    let master = master_key(d.path());
    let o = run(&["keys", "fingerprint", master.to_str().unwrap()]);
    assert_eq!(stdout(&o).trim(), json["master_fingerprint"].as_str().unwrap());
    for (i, der) in json["derived"].as_array().unwrap().iter().enumerate() {
        let scope = der["scope"].as_str().unwrap();
        let out = d.path().join(format!("d{i}.key"));
        let o = run(&[
            "keys",
            "derive",
            "--from",
            master.to_str().unwrap(),
            "--scope",
            scope,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o).trim(), der["fingerprint"].as_str().unwrap());
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains(&format!("TRIALINK-KEY-1:{}", der["key_hex"].as_str().unwrap())));
        assert!(text.contains(&format!("# scope: {scope}")));
        let o = run(&["keys", "fingerprint", out.to_str().unwrap()]);
        assert!(stdout(&o).contains(&format!("scope {scope}")));
    }
    for bad in json["invalid_scopes"].as_array().unwrap() {
        let out = d.path().join("bad.key");
        let scope_arg = format!("--scope={}", bad.as_str().unwrap());
        let o = run(&[
            "keys",
            "derive",
            "--from",
            master.to_str().unwrap(),
            &scope_arg,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_error(&o, "invalid scope", &[]);
        assert!(!out.exists());
    }
}

#[cfg(unix)]
#[test]
fn world_readable_key_is_refused_with_a_fix() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let master = master_key(d.path());
    std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(&["keys", "fingerprint", master.to_str().unwrap()]);
    assert_error(&o, "chmod 600", &[]);
}

#[test]
fn bad_key_file_names_the_line_only() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bad.key");
    std::fs::write(
        &p,
        "# comment\nTRIALINK-KEY-1:f0862c4759ca9b15561201f52e295c592b2a985d6459589ae61d3e68eb1378\n",
    )
    .unwrap();
    set_private(&p);
    let o = run(&["keys", "fingerprint", p.to_str().unwrap()]);
    assert_error(&o, "line 2", &["f0862c4759"]);
}
