//! The CLI through the real binary: exit codes and messages for bad input, check, doc, list.

use crate::harness::{project_dir, tmp_script, vscript};

#[test]
fn check_accepts_every_shipped_script() {
    let out = vscript(&["check", "scripts/"], &project_dir());
    assert_eq!(out.code, 0, "{}", out.all());
    for s in [
        "minor_upgrade",
        "license_renew",
        "ssl_renew",
        "influxdb_pv_resize",
        "maintenance_status",
    ] {
        assert!(out.stdout.contains(&format!("ok    scripts/{s}.rhai")), "{}", out.all());
    }
}

#[test]
fn check_reports_syntax_errors_with_position_and_source() {
    let (_d, p) = tmp_script("let x = 1;\nstep(\"a\", || {\n    let y = ;\n});\n");
    let out = vscript(&["check", &p], &project_dir());
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("syntax error"), "{}", out.all());
    assert!(out.stderr.contains(&format!("{p}:3:")), "{}", out.all());
    assert!(out.stderr.contains("let y = ;"), "{}", out.all());
}

#[test]
fn check_reports_unknown_functions_inside_steps() {
    let (_d, p) = tmp_script("step(\"a\", || {\n    k8s::scael(\"vantiq\", 1);\n});\n");
    let out = vscript(&["check", &p], &project_dir());
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("unknown function `k8s::scael`"), "{}", out.all());
    assert!(out.stderr.contains(&format!("{p}:2:")), "{}", out.all());
}

#[test]
fn run_refuses_an_unknown_function_before_anything_runs() {
    let (d, p) = tmp_script("file::write(\"marker\", \"x\");\nnot_a_function();\n");
    let out = vscript(&["run", &p, "--tools", &d.path().display().to_string()], &project_dir());
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("unknown function `not_a_function`"), "{}", out.all());
    assert!(!d.path().join("marker").exists(), "the first line must not have run");
}

#[test]
fn bad_set_is_a_usage_error() {
    let out = vscript(&["run", "license_renew", "--set", "novalue"], &project_dir());
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("bad --set `novalue`: expected KEY=VALUE"), "{}", out.all());
}

#[test]
fn missing_tools_dir_is_a_usage_error() {
    let out = vscript(&["run", "mongo_backup", "--tools", "/nonexistent/tools"], &project_dir());
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("tools dir `/nonexistent/tools` does not exist"),
        "{}",
        out.all()
    );
}

#[test]
fn unknown_script_name_lists_the_known_ones() {
    let out = vscript(&["run", "minor_upgrayde"], &project_dir());
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("no script `minor_upgrayde`"), "{}", out.all());
    assert!(out.stderr.contains("minor_upgrade"), "{}", out.all());
}

#[test]
fn unreachable_cluster_fails_with_a_clear_message() {
    let d = tempfile::tempdir().unwrap();
    let kc = d.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n",
    )
    .unwrap();
    // A read-only script reaches its first call, and the error points at it.
    let (_s, p) = tmp_script("//! read-only\nstep(\"1. read\", || {\n    k8s::replicas(\"vantiq\");\n});\n");
    let out = vscript(
        &["run", &p, "--kubeconfig", &kc.display().to_string(), "-n", "acme"],
        &project_dir(),
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("cannot reach the cluster"), "{}", out.all());
    assert!(
        out.stderr.contains(&format!("{p}:3:")),
        "the error points at the call: {}",
        out.all()
    );
    // A maintenance script stops before its first step, when taking the lock.
    let (_s2, p2) = tmp_script("step(\"1. scale\", || {\n    k8s::scale(\"vantiq\", 0);\n});\n");
    let out = vscript(
        &["run", &p2, "--kubeconfig", &kc.display().to_string(), "-n", "acme"],
        &project_dir(),
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("cannot take the maintenance lock on http://127.0.0.1:9/"),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("cannot reach the cluster"), "{}", out.all());
    assert!(!out.stderr.contains("▶ 1. scale"), "no step started: {}", out.all());
}

#[test]
fn missing_parameters_are_reported_before_anything_runs() {
    // Literal names: all missing required parameters at once, before the first line runs.
    let (d, p) = tmp_script(
        "file::write(\"marker\", \"x\");\nlet tag = param(\"tag\");\nlet f = param_file(\"fullchain\");\nlet r = param(\"release\", \"\");\n",
    );
    let out = vscript(&["run", &p, "--tools", &d.path().display().to_string()], &project_dir());
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("needs parameter(s): --set fullchain=… --set tag=…"),
        "{}",
        out.all()
    );
    assert!(
        !out.stderr.contains("release"),
        "optional parameters are not required: {}",
        out.all()
    );
    assert!(!d.path().join("marker").exists());
    // A computed name is only known when reached: the error names it and points at the call.
    let (d, p) = tmp_script("let which = \"tag\";\nlet tag = param(which);\n");
    let out = vscript(&["run", &p, "--tools", &d.path().display().to_string()], &project_dir());
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("missing parameter `tag`: pass it with --set tag=VALUE"),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains(&format!("{p}:2:")), "{}", out.all());
    // `vscript check` lists what a script takes.
    let out = vscript(&["check", "scripts/minor_upgrade.rhai"], &project_dir());
    assert!(out.stdout.contains("(params: tag, release?, timeout?)"), "{}", out.all());
}

#[test]
fn confirmation_without_a_terminal_is_refused_not_hung() {
    let (d, p) = tmp_script("confirm(\"Stop Vantiq?\");\nfile::write(\"targetCluster/after\", \"x\");\n");
    std::fs::create_dir(d.path().join("targetCluster")).unwrap();
    let out = vscript(&["run", &p, "--tools", &d.path().display().to_string()], &project_dir());
    assert_eq!(out.code, 4, "{}", out.all());
    assert!(out.stderr.contains("re-run with --yes"), "{}", out.all());
    assert!(!d.path().join("targetCluster/after").exists());
    let out = vscript(&["run", &p, "--tools", &d.path().display().to_string(), "--yes"], &project_dir());
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(d.path().join("targetCluster/after").exists());
}

#[test]
fn doc_lists_every_module_function() {
    let out = vscript(&["doc"], &project_dir());
    assert_eq!(out.code, 0, "{}", out.all());
    for f in [
        "k8s::scale(",
        "k8s::wait_ready(",
        "k8s::follow_logs(",
        "k8s::create_job_from_cronjob(",
        "gradle::run(",
        "git::pull(",
        "file::replace(",
        "yaml::set(",
        "props::set(",
        "cert::inspect(",
        "http::get(",
        "step(",
        "confirm(",
        "param(",
    ] {
        assert!(out.stdout.contains(f), "`vscript doc` lacks {f}\n{}", out.stdout);
    }
    // Every module function appears, generated from the registrations.
    let mut engine = rhai::Engine::new_raw();
    vscript::script_api::register_modules(&mut engine);
    for sig in engine.gen_fn_signatures(false) {
        let name = sig.split('(').next().unwrap().to_owned();
        if name.contains("::") {
            assert!(out.stdout.contains(&format!("{name}(")), "`vscript doc` lacks {name}");
        }
    }
    let one = vscript(&["doc", "k8s::scale"], &project_dir());
    assert!(one.stdout.contains("kubectl scale"), "{}", one.all());
    let none = vscript(&["doc", "k8s::nope"], &project_dir());
    assert_eq!(none.code, 2);
}

#[test]
fn completions_are_generated() {
    let out = vscript(&["completions", "bash"], &project_dir());
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("vscript") && out.stdout.contains("COMPLETE"), "{}", out.stdout);
}

#[test]
fn version_prints_the_crate_version() {
    let out = vscript(&["--version"], &project_dir());
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")));
}
