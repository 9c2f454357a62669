//! Beyond one laptop: `vscript fleet run` over several simulated installations (one with
//! an injected fault), and the in-cluster deployment: the RBAC and CronJob manifests of
//! `docs/deploy/` applied with real kubectl, and the verbs the shipped procedures use
//! recorded at the wire and checked against the Role.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use serde_json::Value;
use vscript_sim::SeedOptions;

use crate::harness::{Cluster, project_dir, vscript};

fn seed(cluster: &str, ns: &str) -> SeedOptions {
    SeedOptions {
        cluster: cluster.into(),
        namespace: ns.into(),
        vantiq_host: format!("vantiq.{ns}.example.com"),
        issued_to: format!("{ns} customer"),
        ..SeedOptions::default()
    }
}

/// Replaces the simulator's API faults (`POST /__sim/faults`).
fn inject_api_faults(c: &Cluster, body: &str) {
    let addr = c.sim().info.admin.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /__sim/faults HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

fn journal(tools: &Path, run_id: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(tools.join(format!(".vscript/runs/{run_id}.jsonl"))).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn runs_in(tools: &Path) -> usize {
    std::fs::read_dir(tools.join(".vscript/runs")).map(|rd| rd.count()).unwrap_or(0)
}

#[test]
fn fleet_runs_every_installation_and_isolates_the_faulty_one() {
    let clusters = [
        Cluster::with(seed("acme-prod", "acme"), None),
        Cluster::with(seed("beta-prod", "beta"), None),
        Cluster::with(seed("gamma-dev", "gamma"), None),
    ];
    // gamma's API server answers every StatefulSet read with a 500.
    inject_api_faults(
        &clusters[2],
        r#"{"api": [{"verb": "get", "path_contains": "/statefulsets", "times": 100000, "action": "status:500"}]}"#,
    );
    let tools: Vec<String> = clusters.iter().map(|c| c.tools().display().to_string()).collect();
    let out = vscript(
        &[
            "fleet",
            "run",
            "maintenance_status",
            "--target",
            &tools[0],
            "--target",
            &tools[1],
            "--target",
            &tools[2],
            "--parallel",
            "3",
            "--output",
            "json",
        ],
        &project_dir(),
    );
    assert_eq!(out.code, 1, "one installation failed: {}", out.all());
    let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.all()));
    crate::reports::assert_valid_fleet(&doc);
    let cl = doc["clusters"].as_array().unwrap();
    let names: Vec<&str> = cl.iter().map(|c| c["cluster"].as_str().unwrap()).collect();
    assert_eq!(names, ["acme-prod", "beta-prod", "gamma-dev"], "in target order");

    for (i, c) in cl.iter().enumerate().take(2) {
        assert_eq!(c["result"], "ok", "{c:#}");
        let r = &c["report"];
        assert_eq!(r["target"]["namespace"], ["acme", "beta"][i]);
        assert_eq!(r["findings"]["license"]["status"], "unknown", "license files are opaque by default");
        assert_eq!(r["findings"]["version"], "1.30.10");
        assert_eq!(r["steps"].as_array().unwrap().len(), 6, "{r:#}");
        assert!(c["summary"].as_str().unwrap().contains("license unknown"), "{c:#}");
        // Its own journal, in its own tools dir, says the same.
        let events = journal(&clusters[i].tools(), r["run_id"].as_str().unwrap());
        assert_eq!(events.last().unwrap()["event"], "end");
        assert_eq!(events.last().unwrap()["data"]["exit_code"], 0);
        assert_eq!(runs_in(&clusters[i].tools()), 1);
    }
    let g = &cl[2];
    assert_eq!(g["result"], "failed", "{g:#}");
    assert_eq!(g["exit_code"], 1);
    let failed_step = g["report"]["steps"].as_array().unwrap().iter().find(|s| s["ok"] == false).unwrap();
    assert_eq!(failed_step["title"], "3. Versions and replicas", "{g:#}");
    assert!(
        g["error"].as_str().unwrap().contains("500") || g["error"].as_str().unwrap().contains("nternal"),
        "{g:#}"
    );
    let events = journal(&clusters[2].tools(), g["report"]["run_id"].as_str().unwrap());
    assert_eq!(events.last().unwrap()["data"]["exit_code"], 1);

    // Progress: whole lines, each with its cluster's prefix, each cluster's steps in order.
    let mut table = false;
    for line in out.stderr.lines() {
        if line.starts_with("CLUSTER ") {
            table = true;
        }
        let prefixed = names.iter().any(|n| line.starts_with(&format!("[{n}")));
        assert!(
            prefixed || table || line.starts_with("vscript: fleet:"),
            "stray line {line:?} in\n{}",
            out.stderr
        );
    }
    for n in &names {
        let mine: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with(&format!("[{n}] "))).collect();
        let pos = |s: &str| mine.iter().position(|l| l.contains(s));
        assert!(pos("▶ 1. License") < pos("▶ 2. SSL certificate"), "{mine:#?}");
        assert!(pos("▶ 2. SSL certificate") < pos("▶ 3. Versions and replicas"), "{mine:#?}");
    }
    // The summary table (on stderr with --output json).
    let row = |n: &str| {
        out.stderr
            .lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .unwrap_or_else(|| panic!("no row {n}"))
    };
    assert!(
        row("acme-prod").contains(" ok ") && row("acme-prod").contains("license unknown"),
        "{}",
        out.stderr
    );
    assert!(row("gamma-dev").contains(" failed "), "{}", out.stderr);
    assert!(out.stderr.contains("3 installation(s): 1 failed, 2 ok"), "{}", out.stderr);
    for c in &clusters {
        c.assert_no_violation();
    }
}

#[test]
fn fleet_file_sets_per_installation_and_fail_fast_skips_the_rest() {
    let a = Cluster::with(seed("acme-prod", "acme"), None);
    let b = Cluster::with(seed("beta-prod", "beta"), None);
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.toml");
    // acme's SSL certificate (60 days left) is due against a 90-day lead time, and
    // fail_when_due turns that into a failure, as in the nightly CronJob.
    std::fs::write(
        &fleet,
        format!(
            "[[target]]\nname = \"acme\"\ntools = \"{}\"\nset = {{ ssl_lead_days = 90, fail_when_due = true }}\n\n[[target]]\nname = \"beta\"\ntools = \"{}\"\n",
            a.tools().display(),
            b.tools().display()
        ),
    )
    .unwrap();
    let out = vscript(
        &[
            "fleet",
            "run",
            "maintenance_status",
            "--targets",
            &fleet.display().to_string(),
            "--parallel",
            "1",
            "--fail-fast",
        ],
        &project_dir(),
    );
    assert_eq!(out.code, 1, "{}", out.all());
    let row = |n: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .unwrap_or_else(|| panic!("no row {n}: {}", out.all()))
    };
    assert!(row("acme").contains("failed"), "{}", out.all());
    assert!(row("acme").contains("ssl DUE"), "key findings in the summary: {}", out.all());
    assert!(row("beta").contains("skipped"), "{}", out.all());
    assert!(out.stderr.contains("[acme] "), "{}", out.all());
    assert!(!out.stderr.contains("[beta]"), "beta never started: {}", out.all());
    assert_eq!(runs_in(&b.tools()), 0, "no journal for a skipped installation");
    assert_eq!(runs_in(&a.tools()), 1);

    // Without --fail-fast both run; beta passes (its own, default lead times).
    let out = vscript(
        &["fleet", "run", "maintenance_status", "--targets", &fleet.display().to_string()],
        &project_dir(),
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("2 installation(s): 1 failed, 1 ok"), "{}", out.all());
}

#[test]
fn fleet_file_with_an_unknown_key_is_a_usage_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.toml");
    std::fs::write(&fleet, "[[target]]\nname = \"acme\"\ntools = \".\"\nparams = { a = 1 }\n").unwrap();
    let out = vscript(
        &["fleet", "run", "maintenance_status", "--targets", &fleet.display().to_string()],
        &project_dir(),
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("line 4") && out.stderr.contains("params"), "{}", out.all());
    let out = vscript(&["fleet", "run", "maintenance_status"], &project_dir());
    assert_eq!(out.code, 2, "{}", out.all());
}

#[test]
fn fleet_rehearses_each_installation_on_its_own_simulator() {
    let a = Cluster::with(seed("acme-prod", "acme"), None);
    let tools = a.tools().display().to_string();
    let out = vscript(
        &[
            "fleet",
            "run",
            "maintenance_status",
            "--rehearse",
            "--speed",
            "150",
            "--target",
            &tools,
            "--target",
            &tools,
            "--output",
            "json",
        ],
        &project_dir(),
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let cl = doc["clusters"].as_array().unwrap();
    assert_eq!(cl[1]["cluster"], "acme-prod-2", "names stay unique");
    for c in cl {
        assert_eq!(c["report"]["rehearsal"], true);
        assert_eq!(c["report"]["violations"], serde_json::json!([]));
        assert_ne!(
            c["report"]["target"]["tools_dir"].as_str(),
            Some(tools.as_str()),
            "a copy, not the original"
        );
    }
    assert_eq!(runs_in(&a.tools()), 0, "the original tools dir is untouched");
}

// ---- in-cluster deployment ----------------------------------------------------------------

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(project_dir().join("docs/deploy").join(name)).unwrap()
}

#[test]
fn deploy_manifests_apply_with_kubectl() {
    let c = Cluster::with(seed("acme-prod", "vantiq"), None);
    let cache = tempfile::tempdir().unwrap();
    for f in ["rbac.yaml", "cronjob.yaml"] {
        let out = std::process::Command::new("kubectl")
            .args([
                "--kubeconfig",
                &c.sim().info.kubeconfig,
                "--cache-dir",
                &cache.path().display().to_string(),
            ])
            // The simulator serves no OpenAPI document for kubectl's client-side validation.
            .args([
                "apply",
                "--validate=false",
                "-f",
                &project_dir().join("docs/deploy").join(f).display().to_string(),
            ])
            .output()
            .expect("kubectl");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "kubectl apply -f {f}:\n{text}");
    }
    assert!(c.get("ServiceAccount", "vantiq", "vscript").is_some());
    assert!(c.get("Role", "vantiq", "vscript").is_some());
    assert!(c.get("Role", "shared", "vscript").is_some());
    assert!(c.get("RoleBinding", "shared", "vscript").is_some());
    assert!(c.get("RoleBinding", "vantiq", "vscript").is_some());
    assert!(c.get("ClusterRoleBinding", "", "vscript-storageclasses").is_some());
    let cj = c.get("CronJob", "vantiq", "vscript-maintenance-status").expect("cronjob");
    let pod = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "vscript");
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for a in ["maintenance_status", "--output", "json", "fail_when_due=true"] {
        assert!(args.contains(&a), "{args:?}");
    }
}

/// `(verb, resource[/subresource], namespace)`: one Kubernetes API request, as RBAC sees it.
type Access = (String, String, String);

/// The requests vscript made, read from the simulator's API audit log (one JSON line per
/// request; the API is HTTPS, so a proxy could not read them). The gradlew shim's own
/// requests (user agent `ureq`) are not vscript's and are left out.
struct Recorder {
    audit: std::path::PathBuf,
}

impl Recorder {
    /// A cluster whose API server writes its audit log to `audit`.
    fn cluster(seed: SeedOptions, audit: &Path) -> Cluster {
        let audit = audit.to_owned();
        Cluster::with_options(seed, None, move |o| o.audit_log = Some(audit))
    }

    /// How many requests the log holds (vscript's and others').
    fn len(&self) -> usize {
        std::fs::read_to_string(&self.audit).unwrap_or_default().lines().count()
    }

    /// `(method, path?query)` of every request after the first `skip` lines of the log.
    fn seen(&self, skip: usize) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.audit).unwrap_or_default();
        text.lines()
            .skip(skip)
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| !l["user_agent"].as_str().unwrap_or("").starts_with("ureq"))
            .map(|l| {
                let (path, query) = (l["path"].as_str().unwrap(), l["query"].as_str().unwrap());
                let target = if query.is_empty() {
                    path.to_owned()
                } else {
                    format!("{path}?{query}")
                };
                (l["method"].as_str().unwrap().to_owned(), target)
            })
            .collect()
    }

    /// What RBAC would check for every recorded request (discovery excluded: every
    /// authenticated user may read it through the `system:discovery` ClusterRole).
    fn accesses(&self) -> BTreeSet<Access> {
        self.accesses_since(0)
    }

    /// The accesses of the requests after the first `skip` lines of the log.
    fn accesses_since(&self, skip: usize) -> BTreeSet<Access> {
        let mut out = BTreeSet::new();
        for (method, target) in self.seen(skip).iter() {
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let rest = match segs.as_slice() {
                ["api", _v, rest @ ..] | ["apis", _, _v, rest @ ..] if !rest.is_empty() => rest,
                _ => continue,
            };
            let (ns, rest) = match rest {
                ["namespaces", ns, r @ ..] if !r.is_empty() => (ns.to_string(), r),
                _ => (String::new(), rest),
            };
            let (resource, named) = match rest {
                [plural] => (plural.to_string(), false),
                [plural, _name] => (plural.to_string(), true),
                [plural, _name, sub] => (format!("{plural}/{sub}"), true),
                _ => continue,
            };
            let watch = query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
            let verb = match (method.as_str(), named) {
                ("GET" | "HEAD", _) if watch => "watch",
                ("GET" | "HEAD", true) => "get",
                ("GET" | "HEAD", false) => "list",
                ("POST", _) => "create",
                ("PUT", _) => "update",
                ("PATCH", _) => "patch",
                ("DELETE", true) => "delete",
                ("DELETE", false) => "deletecollection",
                _ => "unknown",
            };
            out.insert((verb.to_owned(), resource, ns));
        }
        out
    }
}

/// A Role's namespace ("" for a ClusterRole) and its rules as `(verbs, resources)` pairs.
type RoleRules = (String, Vec<(Vec<String>, Vec<String>)>);

/// The rules of each Role and ClusterRole in `rbac.yaml`.
fn roles(rbac: &str) -> Vec<RoleRules> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(rbac).expect("rbac.yaml parses");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    docs.iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
        .map(|d| {
            let rules = d["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (strings(&r["verbs"]), strings(&r["resources"])))
                .collect();
            // A ClusterRole's rules are checked as cluster-scoped (namespace "").
            (d["metadata"]["namespace"].as_str().unwrap_or("").to_owned(), rules)
        })
        .collect()
}

fn allowed(roles: &[RoleRules], (verb, resource, ns): &Access) -> bool {
    roles.iter().any(|(rns, rules)| {
        rns == ns
            && rules
                .iter()
                .any(|(verbs, resources)| verbs.contains(verb) && resources.contains(resource))
    })
}

#[test]
fn shipped_procedures_use_no_verb_outside_the_role() {
    let rbac = deploy_file("rbac.yaml");
    let roles = roles(&rbac);
    assert_eq!(
        roles.len(),
        4,
        "a Role in the Vantiq namespace, one in shared, ClusterRoles for StorageClasses and the namespace"
    );
    let tmp = tempfile::tempdir().unwrap();
    let rec = Recorder {
        audit: tmp.path().join("audit.jsonl"),
    };
    let c = Recorder::cluster(seed("acme-prod", "vantiq"), &rec.audit);
    // Only vscript's requests count: none before the first run.
    std::fs::write(&rec.audit, "").unwrap();
    // Each run's requests are also within what `vscript preflight` checks for that
    // procedure: the permissions it reads from the script's calls.
    let run = |script: &str, sets: &[(&str, &str)]| {
        let from = rec.len();
        c.run_with(script, sets, &["--yes"]).ok();
        let used = rec.accesses_since(from);
        let checked: BTreeSet<Access> = vscript::run::preflight::shipped_accesses(script)
            .unwrap()
            .into_iter()
            .map(|(v, r, ns)| (v, r, if ns == "target" { c.ns() } else { ns }))
            .collect();
        // The lock's Lease is checked apart (when the procedure takes the lock).
        let unchecked: Vec<&Access> = used.iter().filter(|a| a.1 != "leases" && !checked.contains(*a)).collect();
        assert!(
            unchecked.is_empty(),
            "{script}: preflight does not check {unchecked:#?}\nit checks {checked:#?}"
        );
    };
    let (pem, key, chain, pkey) = (
        c.incoming("public.pem"),
        c.incoming("license.key"),
        c.incoming("fullchain.crt"),
        c.incoming("private.key"),
    );
    run("maintenance_status", &[]);
    let status_only = rec.accesses();
    run("service_principal_check", &[]);
    run("k8s_upgrade_check", &[("phase", "pre")]);
    run("mongo_backup", &[]);
    run("license_renew", &[("public_pem", &pem), ("license_key", &key)]);
    run("license_renew_rollback", &[]);
    run("ssl_renew", &[("fullchain", &chain), ("private_key", &pkey)]);
    run("ssl_renew_rollback", &[]);
    run("patch_upgrade", &[("tag", "1.30.11")]);
    run("patch_upgrade_rollback", &[]);
    run("minor_upgrade", &[("tag", "1.31.0"), ("release", "3.11.0")]);
    run("minor_upgrade_rollback", &[]);
    run("influxdb_pv_resize", &[("size", "55Gi")]);
    let all = rec.accesses();
    eprintln!("maintenance_status: {status_only:#?}\nall procedures: {all:#?}");
    assert!(!status_only.is_empty(), "the recorder saw maintenance_status's reads");
    assert!(
        status_only.iter().all(|(v, ..)| ["get", "list", "watch"].contains(&v.as_str())),
        "maintenance_status only reads: {status_only:#?}"
    );
    let outside: Vec<&Access> = all.iter().filter(|a| !allowed(&roles, a)).collect();
    assert!(outside.is_empty(), "requests the Role does not allow: {outside:#?}");
    assert!(all.len() > status_only.len(), "the recorder saw the procedures' writes: {all:#?}");
    // Exactly: every grant was used, but the Lease renewal and takeover (a get and a patch,
    // every few seconds of a long run or when the lock is contended).
    let renewal: Vec<Access> = ["get", "patch"]
        .iter()
        .map(|v| ((*v).into(), "leases".into(), "vantiq".into()))
        .collect();
    let mut unused = Vec::new();
    for (ns, rules) in &roles {
        for (verbs, resources) in rules {
            for v in verbs {
                for r in resources {
                    let a: Access = (v.clone(), r.clone(), ns.clone());
                    if !all.contains(&a) && !renewal.contains(&a) {
                        unused.push(a);
                    }
                }
            }
        }
    }
    assert!(unused.is_empty(), "rbac.yaml grants what no shipped procedure uses: {unused:#?}");
    c.assert_no_violation();
}

#[test]
fn fail_fast_interrupts_the_runs_still_going() {
    let a = Cluster::with(seed("acme-prod", "acme"), None);
    let b = Cluster::with(seed("beta-prod", "beta"), None);
    // beta's API server holds every StatefulSet read for 30 s: its run is still going when acme fails.
    inject_api_faults(
        &b,
        r#"{"api": [{"verb": "get", "path_contains": "/statefulsets", "times": 100000, "action": "timeout"}]}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.toml");
    std::fs::write(
        &fleet,
        format!(
            "[[target]]\nname = \"acme\"\ntools = \"{}\"\nset = {{ ssl_lead_days = 90, fail_when_due = true }}\n\n[[target]]\nname = \"beta\"\ntools = \"{}\"\n",
            a.tools().display(),
            b.tools().display()
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = vscript(
        &[
            "fleet",
            "run",
            "maintenance_status",
            "--targets",
            &fleet.display().to_string(),
            "--fail-fast",
            "--output",
            "json",
        ],
        &project_dir(),
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "beta was interrupted, not waited for"
    );
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    crate::reports::assert_valid_fleet(&doc);
    assert_eq!(doc["clusters"][0]["result"], "failed", "{doc:#}");
    assert_eq!(doc["clusters"][1]["result"], "cancelled", "{doc:#}");
}

#[test]
fn sigterm_to_the_fleet_interrupts_its_runs_and_exits_3() {
    let a = Cluster::with(seed("acme-prod", "acme"), None);
    // The StatefulSet read hangs for 30 s, so the run is in its step 3 when the signal comes.
    inject_api_faults(
        &a,
        r#"{"api": [{"verb": "get", "path_contains": "/statefulsets", "times": 100000, "action": "timeout"}]}"#,
    );
    let tools = a.tools().display().to_string();
    let child = std::process::Command::new(crate::harness::bin())
        .args(["fleet", "run", "maintenance_status", "--target", &tools, "--output", "json"])
        .current_dir(project_dir())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while runs_in(&a.tools()) == 0 && started.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "interrupted, not waited for"
    );
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["clusters"][0]["result"], "cancelled", "{doc:#}");
    // The run journaled its end, as after a Ctrl-C.
    let run_id = doc["clusters"][0]["report"]["run_id"]
        .as_str()
        .expect("the interrupted run still reported");
    let events = journal(&a.tools(), run_id);
    assert_eq!(events.last().unwrap()["event"], "end", "{events:#?}");
    assert_eq!(events.last().unwrap()["data"]["exit_code"], 3);
}
