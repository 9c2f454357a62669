//! The shape of the code, checked: no import circles between the top-level modules of
//! `src/`, `cli` the only top floor, and every registered write primitive going through
//! the one gate (dry run, journal intent before the change).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::harness::{Cluster, cluster_objects, project_dir, tree_with_git};

/// `crate::X` references of each top-level module of `src/` (test modules excluded).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let re = regex::Regex::new(r"crate::([a-z_0-9]+)").unwrap();
    let src = project_dir().join("src");
    let mut stack = vec![src.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") || p.file_name().is_some_and(|n| n == "main.rs") {
                continue;
            }
            let rel = p.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            // Code only: not the tests, not comments (a doc comment may name any module).
            let code: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or("")
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            let code = code.as_str();
            let set = edges.entry(top.clone()).or_default();
            for c in re.captures_iter(code) {
                if c[1] != top {
                    set.insert(c[1].to_owned());
                }
            }
        }
    }
    edges
}

#[test]
fn src_has_no_import_circles_and_cli_is_the_top_floor() {
    let edges = imports();
    assert!(edges.len() >= 15, "the modules were found: {edges:?}");
    // Depth-first search for a cycle, reporting it.
    fn visit(n: &str, edges: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) {
        if let Some(i) = path.iter().position(|p| p == n) {
            panic!("import circle: {} -> {n}", path[i..].join(" -> "));
        }
        if done.contains(n) {
            return;
        }
        path.push(n.to_owned());
        for m in edges.get(n).into_iter().flatten() {
            visit(m, edges, path, done);
        }
        path.pop();
        done.insert(n.to_owned());
    }
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        visit(n, &edges, &mut Vec::new(), &mut done);
    }
    let into_cli: Vec<&String> = edges.iter().filter(|(_, to)| to.contains("cli")).map(|(from, _)| from).collect();
    assert!(into_cli.is_empty(), "cli is the top floor, but {into_cli:?} import it");
    // The run layer is above the engine and the capabilities, below repl and fleet.
    for low in [
        "engine", "k8s", "files", "gradle", "git", "http", "tls", "process", "target", "config",
    ] {
        let up: Vec<&String> = edges[low]
            .iter()
            .filter(|m| ["run", "repl", "fleet", "script_api"].contains(&m.as_str()))
            .collect();
        assert!(up.is_empty(), "{low} imports the layers above it: {up:?}");
    }
    for (from, to) in [("engine", "k8s"), ("k8s", "run"), ("repl", "cli"), ("fleet", "cli")] {
        assert!(!edges[from].contains(to), "{from} must not import {to}");
    }
}

/// The registered functions that change something (all others only read). A new
/// primitive must be added to one of the two lists: then the gate test below covers it.
const CHANGES: &[&str] = &[
    "file::backup",
    "file::copy",
    "file::replace",
    "file::restore",
    "file::write",
    "git::pull",
    "gradle::run",
    "http::post",
    "http::request",
    "k8s::create_job_from_cronjob",
    "k8s::delete",
    "k8s::patch",
    "k8s::pvc_resize",
    "k8s::rollout_restart",
    "k8s::scale",
    "props::set",
    "yaml::set",
];

/// The action each change primitive records.
fn action_of(f: &str) -> &'static str {
    match f {
        "k8s::create_job_from_cronjob" => "k8s.create_job",
        "http::post" => "http.post",
        "http::request" => "http.put",
        other => Box::leak(other.replace("::", ".").into_boxed_str()),
    }
}

#[test]
fn every_registered_function_is_a_read_or_a_change_and_changes_are_known() {
    let registered: BTreeSet<String> = vscript::script_api::functions()
        .into_iter()
        .filter(|(m, ..)| !m.is_empty())
        .map(|(m, n, ..)| format!("{m}::{n}"))
        .collect();
    for c in CHANGES {
        assert!(registered.contains(*c), "{c} is listed as a change but not registered");
    }
    // Reads: by their names, the verbs of looking (a new verb must be classified here).
    let reading = regex::Regex::new(
        r"::(get|has|all|exists|list|read|inspect|check|check_\w+|covers|fingerprint|remote|sha256|backups|latest_backup|head|status|cluster_branch|logs|follow_logs|wait_\w+|replicas|secret|ns|namespace|quantity|server_version|describe|vantiq|vantiq_about|vantiq_login|vantiq_login_ready|format)$",
    )
    .unwrap();
    let unclassified: Vec<&String> = registered
        .iter()
        .filter(|f| !CHANGES.contains(&f.as_str()) && !reading.is_match(f))
        .collect();
    assert!(
        unclassified.is_empty(),
        "registered functions that are neither a known change nor a read: {unclassified:?} — add changes to CHANGES (and to the gate script)"
    );
}

/// One call of every change primitive, for the gate test.
fn gate_script(url: &str) -> String {
    format!(
        r#"
step("1. every change", || {{
    k8s::scale("metrics-collector", 0);
    k8s::rollout_restart("vantiq");
    k8s::create_job_from_cronjob("mongobackup", "gate-test");
    k8s::patch("StatefulSet", "vantiq", #{{ metadata: #{{ annotations: #{{ gate: "test" }} }} }});
    k8s::pvc_resize("influxdb-data-influxdb-0", "60Gi", k8s::ns("shared"));
    k8s::delete("StatefulSet", "vision-analytics");
    gradle::run("generateSecrets");
    git::pull();
    file::write("targetCluster/gate.txt", "x\n");
    file::copy("targetCluster/deploy.yaml", `${{temp_dir()}}/gate-copy.yaml`);
    file::backup("targetCluster/deploy.yaml");
    file::replace("targetCluster/deploy/sensitive/public.pem", param_file("pem"));
    file::restore("targetCluster/cluster.properties", "20200101");
    yaml::set("targetCluster/deploy.yaml", "vantiq.image.tag", "9.9.9");
    props::set("targetCluster/cluster.properties", "vantiq_system_release", "9.9.9");
    http::post("{url}/gate", #{{ a: 1 }});
    http::request("PUT", "{url}/gate", #{{ body: "x" }});
}});
"#,
    )
}

/// A plain-HTTP server that answers 200 to anything (for the http changes).
fn ok_server() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            use std::io::{Read, Write};
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
        }
    });
    format!("http://{addr}")
}

#[test]
fn every_change_goes_through_the_gate() {
    let c = Cluster::start();
    c.settle();
    let url = ok_server();
    std::fs::write(
        c.tools().join("targetCluster/cluster.properties.20200101"),
        c.read("targetCluster/cluster.properties"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("gate.rhai");
    std::fs::write(&script, gate_script(&url)).unwrap();
    let pem = c.incoming("public.pem");
    let script = script.display().to_string();

    // Dry run: every change is recorded as "dry-run" and nothing changes, .git included.
    let objects = cluster_objects(c.store());
    let files = tree_with_git(&c.tools());
    let out = c.run_with(&script, &[("pem", &pem)], &["--yes", "--dry-run", "--output", "json"]);
    out.ok();
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let effects = report["effects"].as_array().unwrap();
    for f in CHANGES {
        let action = action_of(f);
        assert!(
            effects.iter().any(|e| e["action"] == action && e["result"] == "dry-run"),
            "{f} ({action}) did not go through the gate's dry run: {effects:#?}"
        );
    }
    assert!(effects.iter().all(|e| e["result"] == "dry-run"), "{effects:#?}");
    assert_eq!(cluster_objects(c.store()), objects, "a dry run changed the cluster");
    assert_eq!(tree_with_git(&c.tools()), files, "a dry run changed the tools dir");

    // For real: each change's intent is journaled (and flushed) before the change.
    let out = c.run(&script, &[("pem", &pem)]);
    out.ok();
    let id = crate::harness::run_id(&out.stderr);
    let journal = std::fs::read_to_string(c.tools().join(format!(".vscript/runs/{id}.jsonl"))).unwrap();
    let events: Vec<Value> = journal.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut seen = BTreeSet::new();
    for (i, e) in events.iter().enumerate() {
        if e["event"] != "effect" {
            continue;
        }
        let intent = events[..i].iter().rev().find(|x| x["event"] == "effect-start");
        assert_eq!(
            intent.map(|x| &x["data"]["key"]),
            Some(&e["data"]["key"]),
            "change {} was not announced before it was made",
            e["data"]["action"]
        );
        seen.insert(e["data"]["action"].as_str().unwrap_or("").to_owned());
    }
    for f in CHANGES {
        assert!(seen.contains(action_of(f)), "{f} was not journaled: {seen:?}");
    }
}

#[test]
fn a_dry_run_of_every_shipped_procedure_changes_nothing() {
    let c = Cluster::start();
    c.settle();
    let (pem, key, chain, pkey) = (
        c.incoming("public.pem"),
        c.incoming("license.key"),
        c.incoming("fullchain.crt"),
        c.incoming("private.key"),
    );
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("minor_upgrade", vec![("tag", "1.31.0"), ("release", "3.11.0")]),
        ("minor_upgrade_rollback", vec![("tag", "1.29.0")]),
        ("patch_upgrade", vec![("tag", "1.30.11"), ("release", "3.10.1")]),
        ("patch_upgrade_rollback", vec![("tag", "1.30.9")]),
        ("license_renew", vec![("public_pem", &pem), ("license_key", &key)]),
        ("license_renew_rollback", vec![]),
        ("ssl_renew", vec![("fullchain", &chain), ("private_key", &pkey)]),
        ("ssl_renew_rollback", vec![]),
        ("influxdb_pv_resize", vec![("size", "55Gi")]),
        ("mongo_backup", vec![]),
        ("k8s_upgrade_check", vec![("phase", "pre")]),
        ("service_principal_check", vec![]),
        ("maintenance_status", vec![]),
    ];
    let shipped: BTreeSet<&str> = vscript::shipped::SCRIPTS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        shipped,
        cases.iter().map(|(n, _)| *n).collect(),
        "every shipped procedure is dry-run here"
    );
    for (name, sets) in &cases {
        let objects = cluster_objects(c.store());
        let files = tree_with_git(&c.tools());
        let out = c.run_with(name, sets, &["--yes", "--dry-run"]);
        // The rollbacks have nothing to roll back here: they may refuse, but change nothing.
        if !name.ends_with("_rollback") {
            assert_eq!(out.code, 0, "{name}: {}", out.all());
        }
        assert_eq!(cluster_objects(c.store()), objects, "{name}: a dry run changed the cluster");
        let now = tree_with_git(&c.tools());
        let changed: Vec<&String> = now.keys().chain(files.keys()).filter(|k| now.get(*k) != files.get(*k)).collect();
        assert!(changed.is_empty(), "{name}: a dry run changed {changed:?}\n{}", out.all());
    }
    c.assert_no_violation();
}
