//! Per-customer customisation: embedded scripts, local copies taking precedence, origin
//! tracking and upstream changes, vscript.toml validation, stdlib overrides.

use crate::harness::{Cluster, bin, project_dir, vscript};

#[test]
fn an_installed_binary_runs_a_shipped_procedure_from_an_empty_directory() {
    // "Installed": the binary alone, copied away from the checkout, run from an empty dir.
    let install = tempfile::tempdir().unwrap();
    let exe = install.path().join("vscript");
    std::fs::copy(bin(), &exe).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&exe)
        .args(["run", "mongo_backup", "--rehearse", "--yes", "--speed", "150"])
        .current_dir(empty.path())
        .env("NO_COLOR", "1")
        .env_remove("VSCRIPT_TOOLS")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("mongo_backup (shipped)"), "{err}");
    assert!(err.contains("the simulator recorded no invariant violation"), "{err}");
    assert!(
        std::fs::read_dir(empty.path()).unwrap().next().is_none(),
        "nothing written to the working directory"
    );
}

#[test]
fn a_customised_copy_takes_precedence_and_list_says_so() {
    let c = Cluster::start();
    let tools = c.tools().display().to_string();
    let out = vscript(&["customize", "mongo_backup", "--tools", &tools], &project_dir());
    assert_eq!(out.code, 0, "{}", out.all());
    let copy = c.tools().join("scripts/mongo_backup.rhai");
    let text = std::fs::read_to_string(&copy).unwrap();
    assert!(text.starts_with("// vscript-origin: scripts/mongo_backup.rhai vscript "), "{text}");
    std::fs::write(
        &copy,
        text.replace(
            "step(\"1. Back up MongoDB\"",
            "info(\"acme: customised backup\");\nstep(\"1. Back up MongoDB\"",
        ),
    )
    .unwrap();
    let list = vscript(&["list", "--tools", &tools], &project_dir());
    let line = list.stdout.lines().find(|l| l.starts_with("mongo_backup")).unwrap().to_owned();
    assert!(line.contains("tools dir (scripts/mongo_backup.rhai)"), "{}", list.stdout);
    let other = list.stdout.lines().find(|l| l.starts_with("license_renew")).unwrap();
    assert!(other.contains("shipped"), "{}", list.stdout);
    let run = c.run("mongo_backup", &[]);
    run.ok();
    assert!(
        run.stderr.contains("acme: customised backup"),
        "the customer's copy ran: {}",
        run.all()
    );
    // Customising twice is refused, nothing overwritten.
    let again = vscript(&["customize", "mongo_backup", "--tools", &tools], &project_dir());
    assert_eq!(again.code, 2, "{}", again.all());
    assert!(std::fs::read_to_string(&copy).unwrap().contains("acme: customised backup"));
}

#[test]
fn diff_shows_the_customer_edit_and_upstream_changes() {
    let c = Cluster::start();
    let tools = c.tools().display().to_string();
    vscript(&["customize", "patch_upgrade", "--tools", &tools], &project_dir()).ok();
    let copy = c.tools().join("scripts/patch_upgrade.rhai");
    let text = std::fs::read_to_string(&copy).unwrap();
    std::fs::write(
        &copy,
        text.replace(
            "k8s::wait_rollout(\"vantiq\", 1800);",
            "k8s::wait_rollout(\"vantiq\", 3600); // acme: slow nodes",
        ),
    )
    .unwrap();
    let out = vscript(&["diff", "patch_upgrade", "--tools", &tools], &project_dir());
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("+    k8s::wait_rollout(\"vantiq\", 3600); // acme: slow nodes"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("-    k8s::wait_rollout(\"vantiq\", 1800);"), "{}", out.stdout);
    assert!(out.stdout.contains("up to date with the shipped version"), "{}", out.stdout);
    // Pretend the copy was made from an older release: its origin differs from what ships now.
    let header = text.lines().next().unwrap();
    let old_hash = header.rsplit("sha256:").next().unwrap();
    let origins = c.tools().join(".vscript/origins/scripts");
    let origin_file = origins.join(format!("patch_upgrade.{old_hash}.rhai"));
    let older = std::fs::read_to_string(&origin_file)
        .unwrap()
        .replace("step(\"1. Update k8sdeploy_tools (git pull)\"", "step(\"1. Pull k8sdeploy_tools\"");
    let older_hash = vscript::customize::hash(&older);
    std::fs::write(origins.join(format!("patch_upgrade.{older_hash}.rhai")), &older).unwrap();
    let body = std::fs::read_to_string(&copy).unwrap().replacen(old_hash, &older_hash, 1);
    std::fs::write(&copy, body).unwrap();
    let out = vscript(&["diff", "patch_upgrade", "--tools", &tools], &project_dir());
    assert!(out.stdout.contains("UPSTREAM CHANGED"), "{}", out.stdout);
    assert!(
        out.stdout.contains("+step(\"1. Update k8sdeploy_tools (git pull)\""),
        "the upstream change is shown: {}",
        out.stdout
    );
    let list = vscript(&["list", "--tools", &tools], &project_dir());
    assert!(
        list.stdout
            .contains("upstream changed since customised: vscript diff patch_upgrade"),
        "{}",
        list.stdout
    );
}

#[test]
fn a_malformed_vscript_toml_is_rejected_with_key_and_line() {
    let c = Cluster::start();
    std::fs::write(
        c.tools().join("vscript.toml"),
        "allowed_contexts = [\"acme-prod\"]\n\n[vantiq]\nurl = \"https://x\"\ntimeout = \"30s\"\n",
    )
    .unwrap();
    let out = c.run("mongo_backup", &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("vscript.toml"), "{}", out.all());
    assert!(out.stderr.contains("line 5"), "{}", out.all());
    assert!(out.stderr.contains("timeout"), "{}", out.all());
    std::fs::write(c.tools().join("vscript.toml"), "[params.mongo_backup]\ntimeout = [1, 2]\n").unwrap();
    let out = c.run("mongo_backup", &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("params.mongo_backup.timeout"), "{}", out.all());
}

#[test]
fn vscript_toml_params_are_defaults_and_set_overrides_them() {
    let c = Cluster::start();
    std::fs::write(c.tools().join("vscript.toml"), "[params.influxdb_pv_resize]\nsize = \"60Gi\"\n").unwrap();
    c.run("influxdb_pv_resize", &[]).ok();
    let pvc = c.get("PersistentVolumeClaim", "shared", "influxdb-data-influxdb-0").unwrap();
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "60Gi");
    c.run("influxdb_pv_resize", &[("size", "65Gi")]).ok();
    let pvc = c.get("PersistentVolumeClaim", "shared", "influxdb-data-influxdb-0").unwrap();
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "65Gi");
}

#[test]
fn a_customised_stdlib_helper_is_used_by_an_unmodified_shipped_procedure() {
    let c = Cluster::start();
    let tools = c.tools().display().to_string();
    vscript(&["customize", "vantiq", "--tools", &tools], &project_dir()).ok();
    let lib = c.tools().join("stdlib/vantiq.rhai");
    let text = std::fs::read_to_string(&lib).unwrap();
    let custom = text.replacen(
        "fn verify_login() {",
        "fn verify_login() {\n    info(\"acme: login checked through the customer's SSO\");",
        1,
    );
    assert_ne!(custom, text);
    std::fs::write(&lib, custom).unwrap();
    let out = c.run("patch_upgrade", &[("tag", "1.30.11")]);
    out.ok();
    assert!(
        out.stderr.contains("acme: login checked through the customer's SSO"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("patch_upgrade (shipped)"),
        "the procedure itself is the shipped one: {}",
        out.all()
    );
    let list = vscript(&["list", "--tools", &tools], &project_dir());
    assert!(list.stdout.contains("vantiq  tools dir (stdlib/vantiq.rhai)"), "{}", list.stdout);
}
