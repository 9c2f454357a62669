//! Host primitives against the simulated cluster: small scripts, real binary, state asserted.

use std::time::{Duration, Instant};

use crate::harness::{Cluster, cluster_objects, project_dir, signal_and_wait, tmp_script as script, tree};

#[test]
fn scale_and_wait_change_the_cluster() {
    let c = Cluster::start();
    let (_d, p) = script(
        r#"
step("1. scale", || {
    k8s::scale("vision-analytics", 0);
    k8s::wait_ready("vision-analytics", 60);
    remember("after", k8s::replicas("vision-analytics"));
});
"#,
    );
    c.run(&p, &[]).ok();
    assert_eq!(c.replicas("vision-analytics"), Some(0));
    let pods = c
        .store()
        .list(vscript_sim::store::res("Pod"), Some(&c.ns()), Some("app=vision-analytics"), None)
        .0;
    assert!(pods.is_empty(), "pods left: {pods:?}");
}

#[test]
fn job_from_cronjob_completes_and_logs_are_followed() {
    let c = Cluster::start();
    let (_d, p) = script(
        r#"
k8s::create_job_from_cronjob("mongobackup", "it-backup");
print(k8s::wait_job("it-backup", 60));
print(k8s::follow_logs("vantiq-0", "load-model", "COMPLETED", 30));
"#,
    );
    let out = c.run(&p, &[]);
    out.ok();
    assert!(out.stdout.contains("Complete"), "{}", out.all());
    assert!(out.stdout.contains("load-model: COMPLETED"), "{}", out.all());
    let job = c.get("Job", &c.ns(), "it-backup").expect("job created");
    let complete = job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["type"] == "Complete" && x["status"] == "True");
    assert!(complete, "{job}");
    assert_eq!(c.sim().world.db.lock().unwrap().snapshots.last().unwrap().job, "it-backup");
}

#[test]
fn a_wait_that_times_out_says_what_it_waited_for() {
    let c = Cluster::start();
    let (_d, p) = script("k8s::follow_logs(\"vantiq-0\", \"vantiq\", \"never appears\", 2);\n");
    let started = Instant::now();
    let out = c.run(&p, &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        out.stderr.contains("timed out after 2s while following the log of `acme/vantiq-0`"),
        "{}",
        out.all()
    );
}

#[test]
fn failing_gradle_task_reports_its_output_tail() {
    let c = Cluster::start();
    let (_d, p) = script("gradle::run(\"deployNothing\");\n");
    let out = c.run(&p, &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("gradle task `deployNothing` failed"), "{}", out.all());
    assert!(out.stderr.contains("not found in root project"), "{}", out.all());
}

#[test]
fn dry_run_changes_neither_cluster_nor_tools_dir() {
    let c = Cluster::start();
    c.settle();
    let before_objects = cluster_objects(c.store());
    let before_files = tree(&c.tools());
    let out = c.run_with("minor_upgrade", &[("tag", "1.31.0")], &["--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("would k8s.scale StatefulSet acme/vantiq"), "{}", out.all());
    assert!(
        out.stderr.contains("would gradle.run ./gradlew -Pcluster=acme-prod deployVantiq"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("-    tag: 1.30.10") && out.stderr.contains("+    tag: 1.31.0"),
        "the diff of deploy.yaml is shown: {}",
        out.all()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cluster_objects(c.store()), before_objects, "the cluster changed under --dry-run");
    assert_eq!(tree(&c.tools()), before_files, "the tools dir changed under --dry-run");
    c.assert_no_violation();
}

#[test]
fn interrupt_stops_a_wait_and_exits_3() {
    let c = Cluster::start();
    let (_d, p) = script("k8s::follow_logs(\"vantiq-0\", \"vantiq\", \"never\", 600);\n");
    let mut child = std::process::Command::new(crate::harness::bin())
        .args(["run", &p, "--tools", &c.tools().display().to_string()])
        .current_dir(project_dir())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted while it follows: once the first log line is through.
    wait_for_line(&mut child, "  │");
    assert_eq!(signal_and_wait(&mut child, "-INT", Duration::from_secs(10)), Some(3));
}

#[test]
fn runaway_scripts_are_stopped_by_the_engine_limits() {
    let d = tempfile::tempdir().unwrap();
    let (_a, looping) = script("let n = 0;\nloop { n += 1; }\n");
    let out = crate::harness::vscript(&["run", &looping, "--tools", &d.path().display().to_string()], &project_dir());
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.to_lowercase().contains("too many operations"), "{}", out.all());
    let (_b, recursing) = script("fn down(n) { down(n + 1) }\ndown(0);\n");
    let out = crate::harness::vscript(&["run", &recursing, "--tools", &d.path().display().to_string()], &project_dir());
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.to_lowercase().contains("stack overflow"), "{}", out.all());
}

#[test]
fn interrupt_stops_a_busy_script_between_operations() {
    let d = tempfile::tempdir().unwrap();
    let (_a, p) = script("info(\"busy\");\nlet n = 0;\nwhile true { n += 1; if n % 1000 == 0 { sleep(0.01); } }\n");
    let mut child = std::process::Command::new(crate::harness::bin())
        .args(["run", &p, "--tools", &d.path().display().to_string()])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut child, "· busy");
    assert_eq!(signal_and_wait(&mut child, "-INT", Duration::from_secs(10)), Some(3));
}

/// Reads a child's stderr until a line contains `marker` (then keeps draining it).
fn wait_for_line(child: &mut std::process::Child, marker: &str) {
    use std::io::BufRead;
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        line.clear();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.contains(marker) {
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            return;
        }
    }
    panic!("never saw `{marker}`");
}
