//! Scripts stay inside their installation: reads outside the tools dir, the run's temp
//! dir and the parameter files are refused, and so are writes outside targetCluster/ and
//! the temp dir — also through `..` and symlinks; gradle refuses a gradlew the run wrote;
//! a runaway loop is stopped after seconds of computation, while waits do not count.

use std::time::Instant;

use crate::harness::{Cluster, tmp_script};

fn run(c: &Cluster, text: &str) -> crate::harness::Output {
    let (_d, p) = tmp_script(text);
    c.run(&p, &[])
}

#[test]
fn reads_and_writes_outside_the_installation_are_refused() {
    let c = Cluster::start();
    std::os::unix::fs::symlink("/etc", c.tools().join("targetCluster/etc")).unwrap();
    for (script, expect) in [
        ("file::read(\"/etc/passwd\")", "is outside this installation"),
        (
            "file::read(\"targetCluster/../../../../../etc/passwd\")",
            "is outside this installation",
        ),
        ("file::read(\"targetCluster/etc/passwd\")", "is outside this installation"),
        ("file::exists(\"/etc/shadow\")", "is outside this installation"),
        (
            "cert::inspect(\"/etc/ssl/certs/ca-certificates.crt\")",
            "is outside this installation",
        ),
        ("file::write(\"/tmp/vscript-sandbox-test\", \"x\")", "may not be written"),
        ("file::write(\"gradlew\", \"#!/bin/sh\\necho owned\\n\")", "may not be written"),
        ("file::write(\"targetCluster/../gradlew\", \"x\")", "may not be written"),
        ("file::write(\"targetCluster/etc/evil\", \"x\")", "may not be written"),
        (
            "file::copy(\"targetCluster/deploy.yaml\", \"/tmp/vscript-sandbox-copy\")",
            "may not be written",
        ),
    ] {
        let out = run(&c, &format!("//! read-only\n{script};\n"));
        assert_eq!(out.code, 1, "{script}: {}", out.all());
        assert!(out.stderr.contains(expect), "{script}: {}", out.all());
    }
    assert!(!std::path::Path::new("/tmp/vscript-sandbox-test").exists());
    assert!(!std::fs::read_to_string(c.tools().join("gradlew")).unwrap().contains("owned"));
    // Inside: the tools dir, targetCluster/, the temp dir.
    let out = run(
        &c,
        "//! read-only\nlet t = `${temp_dir()}/copy.yaml`;\nfile::copy(\"targetCluster/deploy.yaml\", t);\nprint(file::read(t).len() > 10);\nprint(file::read(\"README.md\").len() > 0);\n",
    );
    out.ok();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["true", "true"], "{}", out.all());
}

#[test]
fn vscript_toml_opens_more_deliberately_and_gradle_refuses_a_gradlew_the_run_wrote() {
    let c = Cluster::start();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("note.txt"), "hello from outside\n").unwrap();
    let tools = c.tools().display().to_string();
    std::fs::write(
        c.tools().join("vscript.toml"),
        format!(
            "[files]\nallow_read = [\"{}\"]\nallow_write = [\"{tools}/gradlew\"]\n",
            outside.path().display()
        ),
    )
    .unwrap();
    let out = run(
        &c,
        &format!("//! read-only\nprint(file::read(\"{}/note.txt\"));\n", outside.path().display()),
    );
    out.ok();
    assert!(out.stdout.contains("hello from outside"), "{}", out.all());
    let original = std::fs::read_to_string(c.tools().join("gradlew")).unwrap();
    let out = run(
        &c,
        &format!("file::write(\"gradlew\", {original:?});\ngradle::run(\"generateSecrets\");\n"),
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("refusing to run ./gradlew: this run wrote to it"),
        "{}",
        out.all()
    );
}

#[test]
fn a_runaway_loop_is_stopped_but_waiting_does_not_count() {
    let c = Cluster::start();
    std::fs::write(c.tools().join("vscript.toml"), "[limits]\ncpu_seconds = 2\n").unwrap();
    let started = Instant::now();
    let out = run(&c, "//! read-only\nlet s = \"\";\nloop { s.pad(20000, \"y\"); s = \"\"; }\n");
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("the script computed for"), "{}", out.all());
    assert!(started.elapsed().as_secs() < 15, "stopped within seconds: {:?}", started.elapsed());
    // Sleeping and waiting on the cluster are not computation.
    let out = run(&c, "//! read-only\nsleep(3);\nk8s::wait_ready(\"vantiq\", 60);\nprint(\"done\");\n");
    out.ok();
    assert!(out.stdout.contains("done"), "{}", out.all());
}
