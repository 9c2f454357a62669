//! What the operator sees during a maintenance window, through the real binary: progress
//! while a wait goes on, the job's log streamed, the closing summary, typo guards that
//! start nothing, output that survives a closed pipe and carries no escape codes without a
//! terminal, the procedure and stdlib docs, shell completion, and rehearsal files removed
//! after a success.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::harness::{bin, project_dir, tmp_script, vscript, vscript_env};

/// Runs vscript with stderr read line by line as it comes: `(exit code, stdout, [(seconds
/// since start, stderr line)])`.
fn timed(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> (i32, String, Vec<(f64, String)>) {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("VSCRIPT_TOOLS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let mut lines = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        lines.push((started.elapsed().as_secs_f64(), line));
    }
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (code, out.join().unwrap(), lines)
}

fn text(lines: &[(f64, String)]) -> String {
    lines.iter().map(|(t, l)| format!("{t:6.2}s {l}")).collect::<Vec<_>>().join("\n")
}

/// The rehearsal directory a run announced.
fn rehearsal_dir(stderr: &str) -> PathBuf {
    let l = stderr
        .lines()
        .find(|l| l.contains("rehearsal: starting a simulated cluster in "))
        .expect("a rehearsal line");
    PathBuf::from(l.rsplit(" in ").next().unwrap().trim())
}

#[test]
fn a_slow_backup_shows_progress_streams_its_log_and_ends_with_a_summary() {
    // A slow simulator: the backup job takes about 20 s.
    let (code, stdout, lines) = timed(
        &["run", "mongo_backup", "--rehearse", "--yes", "--speed", "3"],
        &std::env::temp_dir(),
        &[],
    );
    let all = text(&lines);
    assert_eq!(code, 0, "{all}\n{stdout}");
    // Progress on the wait: what is awaited, elapsed / limit, the latest log line.
    let progress: Vec<&(f64, String)> = lines.iter().filter(|(_, l)| l.contains("⋯ waiting for Job")).collect();
    assert!(!progress.is_empty(), "no progress line:\n{all}");
    assert!(progress[0].1.contains(" / 30:00]"), "elapsed / limit: {}", progress[0].1);
    assert!(progress.iter().any(|(_, l)| l.contains("mongodump")), "the latest event:\n{all}");
    // The job's log, streamed as `kubectl logs -f` shows it, while the job runs.
    let log: Vec<&(f64, String)> = lines.iter().filter(|(_, l)| l.contains("│") && l.contains("mongodump:")).collect();
    assert!(log.len() >= 5, "the backup's log is streamed:\n{all}");
    assert!(log.last().unwrap().0 - log[0].0 > 5.0, "lines come as the job writes them:\n{all}");
    // Never 10 s without a line while the wait goes on.
    let start = lines.iter().position(|(_, l)| l.contains("▶ 1. Back up MongoDB")).unwrap();
    let end = lines.iter().position(|(_, l)| l.contains("done in")).unwrap();
    for w in lines[start..=end].windows(2) {
        assert!(w[1].0 - w[0].0 <= 10.5, "{:.1}s without a line:\n{all}", w[1].0 - w[0].0);
    }
    // The summary block closes the run.
    let summary = lines.iter().position(|(_, l)| l == "vscript: summary").expect("a summary");
    let rest: Vec<&str> = lines[summary..].iter().map(|(_, l)| l.as_str()).collect();
    let rest = rest.join("\n");
    for row in [
        "result           ok (exit 0)",
        "time ",
        "run id ",
        "journal ",
        "rehearsal files  removed",
    ] {
        assert!(rest.contains(row), "`{row}` in the summary:\n{rest}");
    }
    // A successful rehearsal leaves nothing behind.
    let dir = rehearsal_dir(&all);
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert!(
        !stdout.contains('\u{1b}') && !all.contains('\u{1b}'),
        "escape codes without a terminal"
    );
}

#[test]
fn without_a_terminal_a_long_wait_prints_a_line_at_least_every_ten_seconds() {
    let (d, p) = tmp_script("step(\"1. Wait\", || sleep(13));\n");
    let (code, _, lines) = timed(&["run", &p, "--tools", &d.path().display().to_string()], &project_dir(), &[]);
    let all = text(&lines);
    assert_eq!(code, 0, "{all}");
    let progress: Vec<f64> = lines.iter().filter(|(_, l)| l.contains("⋯ sleeping [")).map(|(t, _)| *t).collect();
    assert!(progress.len() >= 2, "a line after the grace, then every 10 s:\n{all}");
    let start = lines.iter().find(|(_, l)| l.contains("▶ 1. Wait")).unwrap().0;
    assert!(progress[0] - start < 4.0, "the first line after a couple of seconds:\n{all}");
    assert!(progress[1] - progress[0] <= 10.5, "{all}");
    // `[output] progress_seconds` makes it more frequent.
    std::fs::write(d.path().join("vscript.toml"), "[output]\nprogress_seconds = 2\n").unwrap();
    std::fs::write(&p, "step(\"1. Wait\", || sleep(7));\n").unwrap();
    let (code, _, lines) = timed(&["run", &p, "--tools", &d.path().display().to_string()], &project_dir(), &[]);
    let all = text(&lines);
    assert_eq!(code, 0, "{all}");
    let n = lines.iter().filter(|(_, l)| l.contains("⋯ sleeping [")).count();
    assert!(n >= 3, "a line every 2 s:\n{all}");
}

#[test]
fn typos_are_refused_with_suggestions_before_any_simulator_starts() {
    let out = vscript(&["run", "minor_upgrad", "--rehearse"], &project_dir());
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("did you mean `minor_upgrade`"), "{}", out.all());
    assert!(!out.stderr.contains("starting a simulated cluster"), "{}", out.all());

    let out = vscript(
        &[
            "run",
            "minor_upgrade",
            "--rehearse",
            "--set",
            "tag=1.31.0",
            "--set",
            "relase=3.11.0",
        ],
        &project_dir(),
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("takes no parameter `relase`: did you mean `release`?"),
        "{}",
        out.all()
    );
    assert!(!out.stderr.contains("starting a simulated cluster"), "{}", out.all());

    // What the stdlib reads (`verify_login`) and the global `confirm` are parameters too.
    let out = vscript(
        &[
            "run",
            "minor_upgrade",
            "--set",
            "tag=1.31.0",
            "--set",
            "verify_login=false",
            "--set",
            "confirm=x",
            "--tools",
            "/nonexistent/tools",
        ],
        &project_dir(),
    );
    assert!(!out.stderr.contains("takes no parameter"), "{}", out.all());

    let (_d, p) = tmp_script("step(\"1\", || k8s::replica(\"vantiq\"));\n");
    let out = vscript(&["run", &p, "--rehearse"], &project_dir());
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("did you mean `k8s::replicas`?"), "{}", out.all());
    assert!(!out.stderr.contains("starting a simulated cluster"), "{}", out.all());
}

#[test]
fn check_reports_every_error_of_a_script() {
    let (_d, p) = tmp_script("import \"vantiq\" as v;\nk8s::scael(\"vantiq\", 1);\nlet x = 1;\nnot_a_function(x);\nv::backup_mong(1);\n");
    let out = vscript(&["check", &p], &project_dir());
    assert_eq!(out.code, 1, "{}", out.all());
    for e in [
        "unknown function `k8s::scael`: did you mean `k8s::scale`?",
        "unknown function `not_a_function`",
        "unknown function `v::backup_mong`: did you mean `v::backup_mongo`?",
    ] {
        assert!(out.stderr.contains(e), "{e}: {}", out.all());
    }
    assert!(
        out.stderr.contains(&format!("{p}:2:")) && out.stderr.contains(&format!("{p}:4:")),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("3 errors in"), "{}", out.all());
}

/// `vscript ARGS | head -1` (and with stderr into the pipe too): no panic, no exit 101.
fn through_head(args: &str) -> (i32, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} {args} 2>&1 | head -1 >/dev/null; echo \"code=${{PIPESTATUS[0]}}\"",
            bin()
        ))
        .current_dir(std::env::temp_dir())
        .env("NO_COLOR", "1")
        .env_remove("VSCRIPT_TOOLS")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let code = text
        .lines()
        .find_map(|l| l.strip_prefix("code="))
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(-1);
    (code, text)
}

#[test]
fn a_closed_pipe_ends_quietly_never_a_panic() {
    for args in ["doc", "list", "doc minor_upgrade", "completions bash"] {
        let (code, text) = through_head(args);
        assert_eq!(code, 0, "vscript {args}: {text}");
        assert!(!text.contains("panicked"), "{text}");
    }
    // A whole rehearsal writing into a pipe that closed after its first line.
    let (code, text) = through_head("run maintenance_status --rehearse --yes --speed 150");
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn output_without_a_terminal_has_no_escape_codes_even_without_no_color() {
    let (d, p) = tmp_script("step(\"1. Say\", || { info(\"hello\"); warn(\"careful\"); sleep(3); });\nprint(\"out\");\n");
    let out = Command::new(bin())
        .args(["run", &p, "--tools", &d.path().display().to_string()])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("hello") && stderr.contains("⋯ sleeping"), "{stderr}");
    assert!(!stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'), "{stdout}\n{stderr}");
}

#[test]
fn rehearsal_files_are_kept_and_shown_on_failure_or_with_keep() {
    // The run's temp dir goes too after a success.
    let (_d, p) = tmp_script("step(\"1. Temp\", || { let t = temp_dir(); file::write(`${t}/x`, \"y\"); print(t); });\n");
    let out = vscript(&["run", &p, "--rehearse", "--speed", "150"], &project_dir());
    assert_eq!(out.code, 0, "{}", out.all());
    let temp = PathBuf::from(out.stdout.trim());
    assert!(
        temp.file_name().unwrap().to_string_lossy().starts_with("vscript-run-"),
        "{}",
        out.all()
    );
    assert!(!temp.exists(), "the run's temp dir is removed: {}", out.all());
    assert!(!rehearsal_dir(&out.stderr).exists(), "{}", out.all());

    let out = vscript(&["run", &p, "--rehearse", "--speed", "150", "--keep"], &project_dir());
    assert_eq!(out.code, 0, "{}", out.all());
    let dir = rehearsal_dir(&out.stderr);
    assert!(
        dir.exists() && out.stderr.contains(&format!("{} (kept)", dir.display())),
        "{}",
        out.all()
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(out.stdout.trim());

    let (_d, p) = tmp_script("step(\"1. Fail\", || fail(\"on purpose\"));\n");
    let out = vscript(&["run", &p, "--rehearse", "--speed", "150"], &project_dir());
    assert_eq!(out.code, 1, "{}", out.all());
    let dir = rehearsal_dir(&out.stderr);
    assert!(dir.exists(), "kept after a failure: {}", out.all());
    assert!(
        out.stderr.contains(&format!("rehearsal files  {} (kept)", dir.display())),
        "{}",
        out.all()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn doc_shows_procedures_and_stdlib_modules() {
    let out = vscript(&["doc", "minor_upgrade"], &project_dir());
    out.ok();
    insta::assert_snapshot!("doc_minor_upgrade", out.stdout);
    let out = vscript(&["doc", "vantiq"], &project_dir());
    out.ok();
    assert!(out.stdout.starts_with("module vantiq\n"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("\nvantiq::backup_mongo(timeout)\n    Backs MongoDB up with a Job"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("about_endpoint"),
        "private functions are not shown: {}",
        out.stdout
    );
    let out = vscript(&["doc", "incident"], &project_dir());
    out.ok();
    assert!(out.stdout.contains("incident::health()\n    Everything at once"), "{}", out.stdout);
    assert!(out.stdout.contains("incident::pods()"), "{}", out.stdout);
    let out = vscript(&["doc", "minor_upgrad"], &project_dir());
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("did you mean `minor_upgrade`"), "{}", out.all());
    // The editor definitions carry the stdlib's docs.
    let defs = std::fs::read_to_string(project_dir().join(".rhai/definitions/vantiq.d.rhai")).unwrap();
    assert!(
        defs.contains("/// Backs MongoDB up with a Job from the `mongobackup` CronJob and waits for it.\n"),
        "{defs}"
    );
    assert!(defs.contains("fn backup_mongo(timeout: ?) -> ?;"), "{defs}");
}

#[test]
fn list_shows_each_procedures_parameters() {
    let out = vscript(&["list"], &std::env::temp_dir());
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("minor_upgrade "))
        .expect("minor_upgrade listed");
    assert!(lines[i + 1].trim() == "params: tag [release=\"\"] [timeout=1800]", "{}", out.stdout);
    let i = lines.iter().position(|l| l.starts_with("license_renew ")).unwrap();
    assert!(lines[i + 1].trim() == "params: license_key public_pem", "{}", out.stdout);
}

/// What the shell gets for `vscript WORDS…` (the last word being completed).
fn complete(words: &[&str], cwd: &Path) -> String {
    let mut args = vec!["--", "vscript"];
    args.extend_from_slice(words);
    let out = vscript_env(&args, cwd, &[("COMPLETE", "fish")]);
    assert_eq!(out.code, 0, "{}", out.all());
    out.stdout
}

#[test]
fn shell_completion_names_procedures_parameters_contexts_and_namespaces() {
    let tmp = std::env::temp_dir();
    let got = complete(&["run", "minor"], &tmp);
    assert!(got.lines().any(|l| l.starts_with("minor_upgrade\t")), "{got}");
    assert!(got.lines().any(|l| l.starts_with("minor_upgrade_rollback\t")), "{got}");
    assert!(!got.contains("license_renew"), "{got}");
    let got = complete(&["run", "minor_upgrade", "--set", ""], &tmp);
    for p in ["tag=", "release=", "timeout=", "verify_login=", "confirm="] {
        assert!(got.lines().any(|l| l.starts_with(&format!("{p}\t"))), "{p}: {got}");
    }
    // Contexts and namespaces from the tools dir's kubeconfig and cluster.properties.
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("targetCluster")).unwrap();
    std::fs::write(
        d.path().join("targetCluster/kubeconfig"),
        "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n- name: acme-prod\n  context: {cluster: c, user: u, namespace: acme}\n- name: acme-stg\n  context: {cluster: c, user: u}\n",
    )
    .unwrap();
    std::fs::write(d.path().join("targetCluster/cluster.properties"), "vantiq.installation=acme\n").unwrap();
    let tools = d.path().display().to_string();
    let got = complete(&["run", "mongo_backup", "--tools", &tools, "--context", "acme-"], &tmp);
    assert!(got.contains("acme-prod") && got.contains("acme-stg"), "{got}");
    let got = complete(&["run", "mongo_backup", "--tools", &tools, "-n", ""], &tmp);
    assert!(got.lines().any(|l| l.starts_with("acme\t")), "{got}");
    // The registration script calls back into the binary.
    let out = vscript(&["completions", "bash"], &tmp);
    out.ok();
    assert!(
        out.stdout.contains("COMPLETE=\"bash\"") || out.stdout.contains("COMPLETE=bash"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(bin()), "{}", out.stdout);
}
