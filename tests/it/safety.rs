//! Safety under faults, bad input and human error: the lock, resume after a kill, retries,
//! secrets, refusals. Each test asserts cluster state, files and the journal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Cluster, bin, cluster_objects, project_dir, tree, vscript};

fn post_faults(c: &Cluster, body: &str) {
    let url = format!("{}/__sim/faults", c.sim().info.admin);
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let status =
        c.rt.block_on(async { reqwest::Client::new().post(&url).json(&body).send().await.map(|r| r.status()) })
            .unwrap();
    assert!(status.is_success(), "POST {url}: {status}");
}

/// Starts `vscript run` in the background and waits until its stderr shows `marker`.
fn spawn_until(c: &Cluster, args: &[&str], marker: &str) -> (std::process::Child, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("run")
        .args(args)
        .args(["--tools", &c.tools().display().to_string(), "--yes"]);
    let mut child = cmd
        .current_dir(project_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let started = Instant::now();
    let mut line = String::new();
    while started.elapsed() < Duration::from_secs(60) {
        line.clear();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
        if line.contains(marker) {
            // Keep draining stderr so the child never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while err.read_line(&mut sink).unwrap_or(0) > 0 {
                    sink.clear();
                }
            });
            return (child, seen);
        }
    }
    panic!("never saw `{marker}` in:\n{seen}");
}

fn d_script(text: &str) -> String {
    let p = std::env::temp_dir().join(format!("vscript-bad-{}-{}.rhai", std::process::id(), uuid::Uuid::new_v4()));
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A one-step maintenance script ("1. hold") that takes the lock, then runs `body`.
fn hold_script(body: &str) -> String {
    d_script(&format!("step(\"1. hold\", || {{\n    k8s::replicas(\"vantiq\");\n{body}\n}});\n"))
}

fn run_id(stderr: &str) -> String {
    let l = stderr.lines().find(|l| l.starts_with("vscript: run ")).expect("a run line");
    l.trim_start_matches("vscript: run ").split(' ').next().unwrap().to_owned()
}

#[test]
fn two_maintenance_runs_at_once_one_refuses() {
    let c = Cluster::start();
    let slow = hold_script("    sleep(4);");
    let (mut first, _) = spawn_until(&c, &[&slow], "▶ 1. hold");
    let second = c.run(
        "license_renew",
        &[
            ("public_pem", &c.incoming("public.pem")),
            ("license_key", &c.incoming("license.key")),
        ],
    );
    assert_eq!(second.code, 4, "{}", second.all());
    assert!(second.stderr.contains("another maintenance run holds the lock"), "{}", second.all());
    assert!(
        second.stderr.contains(&format!("pid {}", first.id())),
        "names the holder: {}",
        second.all()
    );
    assert!(c.tree_unchanged_by_refusal(), "the refused run touched nothing");
    assert_eq!(first.wait().unwrap().code(), Some(0));
    // Released at the end: the next run gets the lock.
    assert!(c.get("Lease", &c.ns(), "vscript-maintenance").is_none(), "the lease is released");
    c.run("mongo_backup", &[]).ok();
}

impl Cluster {
    /// No license file was replaced by a refused renewal.
    fn tree_unchanged_by_refusal(&self) -> bool {
        let today = chrono::Local::now().format("%Y%m%d").to_string();
        !self
            .tools()
            .join(format!("targetCluster/deploy/sensitive/license.key.{today}"))
            .exists()
    }
}

#[test]
fn a_run_killed_mid_upgrade_resumes_to_the_right_state() {
    let c = Cluster::start();
    let (mut child, seen) = spawn_until(&c, &["minor_upgrade", "--set", "tag=1.31.0"], "▶ 7. Back up MongoDB");
    let id = run_id(&seen);
    child.kill().unwrap(); // SIGKILL: no cleanup at all
    child.wait().unwrap();
    // The lease of the dead run is still there; its resumption takes it over.
    assert!(c.get("Lease", &c.ns(), "vscript-maintenance").is_some());
    let out = c.run_with("minor_upgrade", &[], &["--yes", "--resume", &id]);
    out.ok();
    assert!(out.stderr.contains(&format!("resuming run {id}")), "{}", out.all());
    assert!(
        out.stderr
            .contains("6. Stop Vantiq (downtime starts) (completed in the resumed run, skipped)"),
        "{}",
        out.all()
    );
    assert!(c.image("vantiq").ends_with(":1.31.0"));
    assert_eq!(c.schema(), "1.31");
    assert_eq!(c.component_replicas(), (Some(3), Some(1), Some(2)));
    assert!(out.stdout.contains("replicas"), "{}", out.all());
    let before_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("version before"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        before_line.ends_with("1.30.10"),
        "the report remembers the version from the first attempt: {}",
        out.all()
    );
    // The rollback finds what to restore although the newest run is the resumed one.
    c.run("minor_upgrade_rollback", &[]).ok();
    assert!(c.image("vantiq").ends_with(":1.30.10"));
    assert_eq!(c.schema(), "1.30");
    // No temp files left by atomic writes.
    let leftovers: Vec<String> = tree(&c.tools())
        .into_keys()
        .filter(|k| k.contains(".tmp") || k.contains(".vscript-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    c.assert_no_violation();
}

#[test]
fn transient_api_errors_are_retried() {
    let c = Cluster::start();
    post_faults(
        &c,
        r#"{"api": [
            {"method": "GET", "path_contains": "statefulsets/vantiq", "times": 2, "action": "status:500"},
            {"method": "PATCH", "path_contains": "/scale", "times": 1, "action": "status:503"},
            {"method": "PATCH", "path_contains": "/scale", "after": 2, "times": 1, "action": "status:409"},
            {"method": "PATCH", "path_contains": "statefulsets/vantiq?", "times": 1, "action": "status:409"},
            {"method": "POST", "path_contains": "/jobs", "times": 1, "action": "status:500"},
            {"method": "GET", "path_contains": "watch=true", "after": 3, "times": 2, "action": "reset"}
        ]}"#,
    );
    let out = c.run("minor_upgrade", &[("tag", "1.31.0")]);
    out.ok();
    assert_eq!(c.schema(), "1.31");
    assert_eq!(c.replicas("vantiq"), Some(3));
    c.assert_no_violation();
}

#[test]
fn a_failing_gradle_task_stops_cleanly_and_resume_finishes() {
    let c = Cluster::start();
    std::fs::write(c.sim().dir.join("faults.json"), r#"{"gradle": {"deployVantiq": "fail"}}"#).unwrap();
    let out = c.run("patch_upgrade", &[("tag", "1.30.11")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("gradle task `deployVantiq` failed"), "{}", out.all());
    assert!(out.stderr.contains("BUILD FAILED"), "the output tail is shown: {}", out.all());
    let id = run_id(&out.stderr);
    assert!(
        out.stderr.contains(&format!("--resume {id}")),
        "the failure report says how to continue: {}",
        out.all()
    );
    let runs = vscript(&["runs", "--tools", &c.tools().display().to_string()], &project_dir());
    assert!(
        runs.stdout.contains(&id) && runs.stdout.contains("failed (1) at \"5. Deploy (deployVantiq)\""),
        "{}",
        runs.all()
    );
    // Resumed while the cause is still there: it fails again at the same step, reports the
    // first attempt's changes (not "nothing changed"), and can itself be resumed.
    let out = c.run_with("patch_upgrade", &[], &["--yes", "--resume", &id]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr
            .contains("0. Check the installation and the target version (completed in the resumed run, skipped)"),
        "{}",
        out.all()
    );
    assert!(!out.stderr.contains("stopped before changing anything"), "{}", out.all());
    let id2 = run_id(&out.stderr);
    assert_ne!(id, id2);
    assert!(out.stderr.contains(&format!("--resume {id2}")), "{}", out.all());
    std::fs::write(c.sim().dir.join("faults.json"), "{}").unwrap();
    let out = c.run_with("patch_upgrade", &[], &["--yes", "--resume", &id2]);
    out.ok();
    assert!(
        out.stderr
            .contains("2. Set vantiq.image.tag in deploy.yaml (completed in the resumed run, skipped)"),
        "{}",
        out.all()
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("version before") && l.ends_with("1.30.10")),
        "{}",
        out.all()
    );
    assert!(c.image("vantiq").ends_with(":1.30.11"));
    c.assert_no_violation();
}

#[test]
fn secrets_never_appear_in_any_output() {
    let c = Cluster::start();
    let key = std::fs::read_to_string(c.incoming("private.key")).unwrap();
    let license = std::fs::read_to_string(c.incoming("license.key")).unwrap();
    let old_key = c.read("targetCluster/deploy/sensitive/private.key");
    let token = std::fs::read_to_string(&c.sim().info.token_file).unwrap();
    let mut outputs = Vec::new();
    outputs.push(c.run_with(
        "ssl_renew",
        &[
            ("fullchain", &c.incoming("fullchain.crt")),
            ("private_key", &c.incoming("private.key")),
        ],
        &["--yes", "--output", "json"],
    ));
    outputs.push(c.run_with(
        "license_renew",
        &[
            ("public_pem", &c.incoming("public.pem")),
            ("license_key", &c.incoming("license.key")),
        ],
        &["--yes", "--output", "json"],
    ));
    outputs.push(c.run("ssl_renew_rollback", &[]));
    let probe = std::env::temp_dir().join(format!("vscript-probe-{}.rhai", std::process::id()));
    std::fs::write(&probe, "//! read-only\nprint(k8s::secret(\"vantiq-license\"));\nprint(file::read(\"targetCluster/deploy/sensitive/private.key\"));\nprint(http::vantiq(\"/api/v1/about\").status);\n").unwrap();
    outputs.push(c.run(&probe.display().to_string(), &[]));
    for o in &outputs {
        assert_eq!(o.code, 0, "{}", o.all());
    }
    let mut channels: Vec<(String, String)> = outputs.iter().enumerate().map(|(i, o)| (format!("run {i}"), o.all())).collect();
    for f in std::fs::read_dir(c.tools().join(".vscript/runs")).unwrap().flatten() {
        channels.push((f.path().display().to_string(), std::fs::read_to_string(f.path()).unwrap()));
    }
    let secret_lines: Vec<&str> = key
        .lines()
        .chain(old_key.lines())
        .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
        .collect();
    assert!(!secret_lines.is_empty());
    for (name, text) in &channels {
        for l in &secret_lines {
            assert!(!text.contains(l), "{name} leaks a private key line");
        }
        assert!(!text.contains(license.trim()), "{name} leaks the license");
        let sig = license.trim().rsplit('.').next().unwrap();
        assert!(!text.contains(sig), "{name} leaks the license signature");
        assert!(!text.contains(token.trim()), "{name} leaks the Vantiq token");
    }
    assert!(
        outputs[3].stdout.contains("***"),
        "printed secrets are redacted: {}",
        outputs[3].all()
    );
}

#[test]
fn bad_inputs_get_clear_errors_and_change_nothing() {
    let c = Cluster::start();
    c.settle();
    let files = tree(&c.tools());
    let objects = cluster_objects(c.store());
    // A malformed deploy.yaml.
    let yaml = c.tools().join("targetCluster/deploy.yaml");
    let good = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(&yaml, good.replacen("vantiq:\n", "vantiq:\n  - broken: [\n", 1)).unwrap();
    let out = c.run("minor_upgrade", &[("tag", "1.31.0")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("deploy.yaml") && out.stderr.contains("malformed YAML at"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("0. Check the installation"),
        "refused in the check step: {}",
        out.all()
    );
    std::fs::write(&yaml, &good).unwrap();
    // A malformed cluster.properties.
    let props = c.tools().join("targetCluster/cluster.properties");
    let good_props = std::fs::read_to_string(&props).unwrap();
    std::fs::write(&props, format!("{good_props}azure.note=caf\\u00zz\n")).unwrap();
    let out = c.run("minor_upgrade", &[("tag", "1.31.0")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("cluster.properties") && out.stderr.contains("malformed \\uxxxx escape at line"),
        "{}",
        out.all()
    );
    std::fs::write(&props, &good_props).unwrap();
    // A script that does not compile.
    let bad_script = d_script("step(\"1. x\", || {\n    let = 3;\n});\n");
    let out = c.run(&bad_script, &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("syntax error") && out.stderr.contains(":2:"), "{}", out.all());
    // An unknown option of a primitive, a bad argument value.
    let out = c.run("influxdb_pv_resize", &[("size", "lots")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("`lots` is not a storage size"), "{}", out.all());
    // A certificate that is not a certificate.
    let d = tempfile::tempdir().unwrap();
    let junk = d.path().join("fullchain.crt");
    std::fs::write(&junk, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n").unwrap();
    let out = c.run(
        "ssl_renew",
        &[
            ("fullchain", &junk.display().to_string()),
            ("private_key", &c.incoming("private.key")),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("fullchain.crt"), "names the file: {}", out.all());
    // A parameter file that does not exist.
    let out = c.run(
        "license_renew",
        &[
            ("public_pem", "/nonexistent/public.pem"),
            ("license_key", &c.incoming("license.key")),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr
            .contains("parameter `public_pem`: file `/nonexistent/public.pem` does not exist"),
        "{}",
        out.all()
    );
    // A version that is not a version.
    let out = c.run("minor_upgrade", &[("tag", "latest")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("\"latest\" is not a Vantiq version"), "{}", out.all());
    // A malformed vscript.toml.
    std::fs::write(c.tools().join("vscript.toml"), "[vantiq]\nurl = \"https://x\"\nproxy = 3\n").unwrap();
    let out = c.run("mongo_backup", &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("vscript.toml") && out.stderr.contains("line 3") && out.stderr.contains("proxy"),
        "{}",
        out.all()
    );
    std::fs::remove_file(c.tools().join("vscript.toml")).unwrap();
    // Nothing changed (journals of the refused runs aside).
    let strip = |mut t: std::collections::BTreeMap<String, Vec<u8>>| {
        t.retain(|k, _| !k.starts_with(".vscript/runs"));
        t
    };
    let (now, then) = (strip(tree(&c.tools())), strip(files));
    let changed: Vec<&String> = now.keys().chain(then.keys()).filter(|k| now.get(*k) != then.get(*k)).collect();
    assert!(changed.is_empty(), "the tools dir changed: {changed:?}");
    assert_eq!(cluster_objects(c.store()), objects, "the cluster changed");
    c.assert_no_violation();
}

#[test]
fn a_context_not_in_the_allow_list_is_refused() {
    let c = Cluster::start();
    std::fs::write(c.tools().join("vscript.toml"), "allowed_contexts = [\"acme-staging\"]\n").unwrap();
    let out = c.run("mongo_backup", &[]);
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(
        out.stderr.contains("kube context `acme-prod` is not in allowed_contexts"),
        "{}",
        out.all()
    );
    std::fs::write(c.tools().join("vscript.toml"), "allowed_contexts = [\"acme-prod\"]\n").unwrap();
    c.run("mongo_backup", &[]).ok();
}

#[test]
fn sigterm_stops_cleanly_and_the_journal_says_where() {
    let c = Cluster::start();
    let (child, seen) = spawn_until(&c, &["minor_upgrade", "--set", "tag=1.31.0"], "▶ 9. Follow the schema migration");
    let id = run_id(&seen);
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let mut child = child;
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    let journal = std::fs::read_to_string(c.tools().join(format!(".vscript/runs/{id}.jsonl"))).unwrap();
    let last: Vec<&str> = journal.lines().rev().take(3).collect();
    let events: Vec<serde_json::Value> = journal.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let failed_at = events
        .iter()
        .find(|e| e["event"] == "step-end" && e["data"]["ok"] == false)
        .map(|e| e["data"]["title"].clone());
    assert_eq!(
        failed_at,
        Some(serde_json::json!("9. Follow the schema migration (load-model)")),
        "{journal}"
    );
    assert!(
        last[0].contains("\"event\":\"end\"") && last[0].contains("\"exit_code\":3"),
        "{last:?}"
    );
    assert!(c.get("Lease", &c.ns(), "vscript-maintenance").is_none(), "the lock was released");
    // And it can be resumed from there.
    c.run_with("minor_upgrade", &[], &["--yes", "--resume", &id]).ok();
    assert_eq!(c.schema(), "1.31");
    c.assert_no_violation();
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
fn a_stale_lock_expires_and_force_unlock_needs_confirmation() {
    let c = Cluster::start();
    // A holder that died two minutes ago: its lease has expired and is taken over.
    put_lease(&c, "alice@bastion pid 4242 run 20261101-010101-minor_upgrade", 120);
    c.run("mongo_backup", &[]).ok();
    assert!(c.get("Lease", &c.ns(), "vscript-maintenance").is_none(), "released after the run");
    // A live holder: refused, with who and since when.
    put_lease(&c, "bob@bastion pid 4343 run 20261125-090000-patch_upgrade", 5);
    let out = c.run("mongo_backup", &[]);
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(out.stderr.contains("bob@bastion pid 4343"), "{}", out.all());
    // --force-unlock without a terminal and without --yes: refused.
    let out = c.run_with("mongo_backup", &[], &["--force-unlock"]);
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(out.stderr.contains("--force-unlock needs confirmation"), "{}", out.all());
    // With --yes it takes the lock over and runs.
    let out = c.run_with("mongo_backup", &[], &["--force-unlock", "--yes"]);
    out.ok();
    assert!(c.get("Lease", &c.ns(), "vscript-maintenance").is_none());
}

/// Runs `body` as a one-step script with a 1 s lock renewal and checks that the lease's
/// renewTime moves on while the step lasts, and that the lease is released at the end.
fn assert_lock_renewed_during(body: &str) {
    let c = Cluster::start();
    let slow = hold_script(body);
    let mut cmd = Command::new(bin());
    cmd.args(["run", &slow, "--tools", &c.tools().display().to_string()]);
    let mut child = cmd
        .env("VSCRIPT_LOCK_RENEW_SECS", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let renew_time = || {
        c.get("Lease", &c.ns(), "vscript-maintenance")
            .and_then(|l| l["spec"]["renewTime"].as_str().map(str::to_owned))
    };
    let started = Instant::now();
    let mut first = None;
    while first.is_none() && started.elapsed() < Duration::from_secs(10) {
        first = renew_time();
        std::thread::sleep(Duration::from_millis(100));
    }
    let first = first.expect("the lease was taken");
    std::thread::sleep(Duration::from_millis(2200));
    let later = renew_time().expect("still held");
    assert!(later > first, "renewTime moved on: {first} -> {later}");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(renew_time().is_none(), "released at the end");
}

#[test]
fn the_lock_is_renewed_while_a_run_lasts() {
    assert_lock_renewed_during("    sleep(3.5);");
}

/// The script thread drives the script's own requests only while it waits for one; the
/// renewal must not depend on that (a long computation, a confirmation prompt).
#[test]
fn the_lock_is_renewed_while_the_script_thread_is_busy() {
    assert_lock_renewed_during("    let t = timestamp();\n    while t.elapsed < 3.5 { let s = \"\"; s.pad(20000, \"y\"); }");
}

#[test]
fn a_run_never_releases_a_lock_someone_else_took_over() {
    let c = Cluster::start();
    let slow = hold_script("    sleep(2);");
    let (mut child, _) = spawn_until(&c, &[&slow], "▶ 1. hold");
    // Another operator force-unlocks and takes the lock while this run still works.
    c.store()
        .delete(vscript_sim::store::res("Lease"), &c.ns(), "vscript-maintenance", false)
        .unwrap();
    put_lease(&c, "carol@bastion pid 99 run 20261125-120000-ssl_renew", 0);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let lease = c.get("Lease", &c.ns(), "vscript-maintenance").expect("carol's lease survives");
    assert_eq!(
        lease["spec"]["holderIdentity"],
        "carol@bastion pid 99 run 20261125-120000-ssl_renew"
    );
}

#[test]
fn slow_readiness_is_waited_for_and_a_short_wait_says_what_it_saw() {
    let c = Cluster::start();
    std::fs::write(c.sim().dir.join("faults.json"), r#"{"readiness": {"vantiq": 300}}"#).unwrap();
    // A wait shorter than the slow pods stops cleanly and says what it saw last.
    let (_d, p) = crate::harness::tmp_script("k8s::rollout_restart(\"vantiq\");\nk8s::wait_rollout(\"vantiq\", 1);\n");
    let out = c.run(&p, &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr
            .contains("timed out after 1s while waiting for the rollout of StatefulSet `acme/vantiq`"),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("(last seen: replicas"), "{}", out.all());
    // The shipped procedure, with its realistic timeouts, waits the slow pods out.
    let started = Instant::now();
    c.run(
        "license_renew",
        &[
            ("public_pem", &c.incoming("public.pem")),
            ("license_key", &c.incoming("license.key")),
        ],
    )
    .ok();
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "the slow readiness was really waited for"
    );
    c.settle();
    let sts = c.get("StatefulSet", &c.ns(), "vantiq").unwrap();
    assert_eq!(sts["status"]["readyReplicas"], 3);
    c.assert_no_violation();
}
