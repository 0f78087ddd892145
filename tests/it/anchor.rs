//! The audit trail anchored outside the database: deleting its newest records leaves the
//! hash chain intact, and only the signed checkpoints show it.

use crate::support::{self, TestDb, exec, per_backend, run, run_on};

per_backend!(async fn deleting_the_newest_audit_records_is_caught_by_the_signed_checkpoint);
async fn deleting_the_newest_audit_records_is_caught_by_the_signed_checkpoint(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key").display().to_string();
    let file = dir.path().join("checkpoints.jsonl").display().to_string();
    let r = run(&["audit", "keygen", &key]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.prints("public key ");
    // A second keygen never replaces the key.
    run(&["audit", "keygen", &key]).says("is never overwritten");

    let cfg = support::example_config();
    let anchored = ["--audit-key", &key, "--audit-checkpoints", &file];
    let mut tick = vec!["tick"];
    tick.extend_from_slice(&anchored);
    let r = run_on(
        cfg.to_str().unwrap(),
        &db.url,
        Some("2027-05-01T00:01:00+02:00"),
        &tick,
    );
    assert_eq!(r.code, 0, "[{}] {}", db.backend, r.stderr);
    let mut verify = vec!["audit", "verify"];
    verify.extend_from_slice(&anchored);
    let r = db.run(&verify);
    assert_eq!(r.code, 0, "[{}] {}", db.backend, r.stdout);
    r.prints("anchored: the trail reaches checkpoint #1");

    let store = db.open().await;
    exec(
        &store,
        "DELETE FROM audit_log WHERE seq > (SELECT MAX(seq) - 3 FROM audit_log)",
    )
    .await;
    // The chain alone still holds: that is the attack.
    let r = db.run(&["audit", "verify"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = db.run(&verify);
    assert_eq!(r.code, 1, "[{}] {}", db.backend, r.stdout);
    r.prints("audit trail CUT SHORT");

    // A checkpoint file signed with another key is refused as forged.
    let other = dir.path().join("other.key").display().to_string();
    assert_eq!(run(&["audit", "keygen", &other]).code, 0);
    let forged = dir.path().join("forged.jsonl").display().to_string();
    let r = db.run(&[
        "audit",
        "checkpoint",
        "--audit-key",
        &other,
        "--audit-checkpoints",
        &forged,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = db.run(&[
        "audit",
        "verify",
        "--audit-key",
        &key,
        "--audit-checkpoints",
        &forged,
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    r.prints("is not signed by the trusted key");
}
