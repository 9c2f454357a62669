//! One writer at a time: a run that lost its lease stops before its next change; the
//! console takes the lock for a changing command or refuses while a run holds it;
//! `--force-unlock` shows the holder's last renewal and will not remove a fresh lock
//! without the namespace typed; a refusal never prints a panic.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{Cluster, bin, run_id, spawn_until_env};

fn script(text: &str) -> (tempfile::TempDir, String) {
    crate::harness::tmp_script(text)
}

fn put_lease(c: &Cluster, holder: &str, renewed_secs_ago: i64) {
    let t = (chrono::Utc::now() - chrono::Duration::seconds(renewed_secs_ago))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let lease = serde_json::json!({
        "metadata": { "name": "vscript-maintenance" },
        "spec": { "holderIdentity": holder, "leaseDurationSeconds": 60, "acquireTime": t, "renewTime": t },
    });
    c.store().create(vscript_sim::store::res("Lease"), &c.ns(), lease, false).unwrap();
}

#[test]
fn a_run_whose_lock_was_taken_over_stops_before_its_next_change() {
    let c = Cluster::start();
    let (_d, s) =
        script("step(\"1. hold\", || {\n    k8s::replicas(\"vantiq\");\n    sleep(3);\n    k8s::scale(\"metrics-collector\", 0);\n});\n");
    let (child, seen) = spawn_until_env(&c, &[&s], &[("VSCRIPT_LOCK_RENEW_SECS", "1")], "▶ 1. hold");
    let id = run_id(&seen);
    // Another operator removes the lock and takes it while this run sleeps.
    c.store()
        .delete(vscript_sim::store::res("Lease"), &c.ns(), "vscript-maintenance", false)
        .unwrap();
    put_lease(&c, "carol@bastion pid 99 run 20261125-120000-ssl_renew", 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(c.replicas("metrics-collector"), Some(1), "the change was not made");
    let journal = std::fs::read_to_string(c.tools().join(format!(".vscript/runs/{id}.jsonl"))).unwrap();
    assert!(journal.contains("\"event\":\"lease-lost\""), "{journal}");
    assert!(
        !journal.contains("\"event\":\"effect-start\""),
        "no change was even started: {journal}"
    );
    let lease = c.get("Lease", &c.ns(), "vscript-maintenance").expect("carol's lease survives");
    assert_eq!(
        lease["spec"]["holderIdentity"],
        "carol@bastion pid 99 run 20261125-120000-ssl_renew"
    );
}

fn repl(c: &Cluster, input: &str) -> (String, String) {
    let mut p = Command::new(bin())
        .args(["repl", "--tools", &c.tools().display().to_string()])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = p.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn the_console_takes_the_lock_for_a_change_or_refuses_while_a_run_holds_it() {
    let c = Cluster::start();
    // Free: the command takes the lock, changes, releases.
    let (_, err) = repl(&c, "k8s::replicas(\"metrics-collector\")\nk8s::scale(\"metrics-collector\", 0)\n");
    assert!(err.contains("holding the maintenance lock"), "{err}");
    assert!(err.contains("released the maintenance lock"), "{err}");
    assert_eq!(c.replicas("metrics-collector"), Some(0));
    assert!(c.get("Lease", &c.ns(), "vscript-maintenance").is_none());
    // A minor upgrade holds it: the console's change is refused, its reads go on.
    put_lease(&c, "dave@bastion pid 7 run 20261125-010000-minor_upgrade", 0);
    let (out, err) = repl(&c, "k8s::replicas(\"vantiq\")\nk8s::scale(\"metrics-collector\", 1)\n");
    assert!(out.contains('3'), "reads still work: {out}\n{err}");
    assert!(
        err.contains("another maintenance run holds the lock") && err.contains("dave@bastion"),
        "{err}"
    );
    assert!(err.contains("the console changes nothing while it is held"), "{err}");
    assert_eq!(c.replicas("metrics-collector"), Some(0), "not scaled");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn force_unlock_shows_the_last_renewal_and_refuses_a_fresh_lock_without_the_namespace_typed() {
    let c = Cluster::start();
    put_lease(&c, "erin@bastion pid 11 run 20261125-020000-patch_upgrade", 5);
    let out = c.run_with("mongo_backup", &[], &["--force-unlock", "--yes"]);
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(out.stderr.contains("held by erin@bastion pid 11"), "{}", out.all());
    assert!(out.stderr.contains("s ago"), "the last renewal is shown: {}", out.all());
    assert!(out.stderr.contains("it may still be running"), "{}", out.all());
    assert!(!out.stderr.contains("panicked"), "{}", out.all());
    assert!(c.get("Lease", &c.ns(), "vscript-maintenance").is_some(), "erin's lock stays");
    // An old renewal (the holder's machine died): --force-unlock --yes takes it over.
    c.store()
        .delete(vscript_sim::store::res("Lease"), &c.ns(), "vscript-maintenance", false)
        .unwrap();
    put_lease(&c, "erin@bastion pid 11 run 20261125-020000-patch_upgrade", 90);
    c.run_with("mongo_backup", &[], &["--force-unlock", "--yes"]).ok();
    assert!(c.get("Lease", &c.ns(), "vscript-maintenance").is_none());
}

#[test]
fn force_unlock_of_a_fresh_lock_asks_for_the_namespace_at_a_terminal() {
    let c = Cluster::start();
    put_lease(&c, "frank@bastion pid 12 run 20261125-030000-ssl_renew", 3);
    let cmd = format!("{} run mongo_backup --tools {} --force-unlock", bin(), c.tools().display());
    let mut s = expectrl::spawn(cmd).unwrap();
    s.set_expect_timeout(Some(Duration::from_secs(30)));
    s.expect("held by another run? [y/N]").unwrap();
    s.send_line("y").unwrap();
    s.expect("Type the namespace `acme`").unwrap();
    s.send_line("acme").unwrap();
    s.expect("holding the maintenance lock").unwrap();
    s.expect(expectrl::Eof).unwrap();
    assert!(
        c.get("Lease", &c.ns(), "vscript-maintenance").is_none(),
        "taken over, then released"
    );
}

/// `--resume` of a run whose process is still alive is refused: the lock's liveness check
/// (a resumed run takes over only a dead run's lock) keeps two writers apart.
#[test]
fn resuming_a_run_that_is_still_alive_is_refused() {
    let c = Cluster::start();
    let (_d, s) = script("step(\"1. hold\", || {\n    k8s::replicas(\"vantiq\");\n    sleep(6);\n});\n");
    let (mut child, seen) = spawn_until_env(&c, &[&s], &[], "▶ 1. hold");
    let id = run_id(&seen);
    let out = c.run_with(&s, &[], &["--yes", "--resume", &id]);
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(out.stderr.contains("another maintenance run holds the lock"), "{}", out.all());
    assert!(
        out.stderr.contains(&format!("pid {}", child.id())),
        "names the live holder: {}",
        out.all()
    );
    let lease = c.get("Lease", &c.ns(), "vscript-maintenance").expect("the live run keeps its lock");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("pid {}", child.id())),
        "{lease}"
    );
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
