//! `vscript repl` through the real binary: piped standard input, and a pseudo-terminal
//! for line editing, completion, multi-line blocks, Ctrl-C and history.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use expectrl::{ControlCode, Session};

const BIN: &str = env!("CARGO_BIN_EXE_vscript");

/// A `vscript repl` command isolated from the developer's environment.
fn repl_cmd(dir: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("repl")
        .args(["--history", &dir.join("history").display().to_string()])
        .args(extra)
        .current_dir(dir)
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env_remove("VSCRIPT_TOOLS")
        .env_remove("KUBECONFIG");
    c
}

/// Runs the REPL with `input` piped in: `(exit code, stdout, stderr)`.
fn piped(dir: &Path, extra: &[&str], input: &str) -> (i32, String, String) {
    let mut child = repl_cmd(dir, extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vscript repl");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The REPL on a pseudo-terminal, at its first prompt.
fn pty(dir: &Path, extra: &[&str], prompt: &str) -> Session {
    let mut s = Session::spawn(repl_cmd(dir, extra)).expect("spawn vscript repl on a pty");
    s.set_expect_timeout(Some(Duration::from_secs(30)));
    s.expect(prompt).expect("first prompt");
    s
}

/// Waits until the line just entered is finished and the editor shows a fresh prompt.
/// Between two lines the editor gives the terminal back (it leaves raw mode and turns
/// bracketed paste off, `ESC [?2004l`), then takes it again and prints the prompt. Matching
/// only the prompt text can match a redraw of the line being edited, and keys sent while
/// the terminal changes mode were seen lost under load (the next line never arrived, in CI):
/// wait for both.
/// Returns what was printed between the two.
fn next_prompt(s: &mut Session, prompt: &str) -> String {
    s.expect("\x1b[?2004l").expect("the line editor finished the line");
    let seen = s.expect(prompt).expect("the next prompt");
    String::from_utf8_lossy(seen.before()).into_owned()
}

/// Leaves with Ctrl-D. A control key typed between two prompts (the terminal is not in raw
/// mode then) is taken by the terminal, not by vscript; a person would press it again.
fn quit(mut s: Session) {
    s.set_expect_timeout(Some(Duration::from_secs(3)));
    for _ in 0..10 {
        s.send(ControlCode::EndOfTransmission).unwrap();
        if s.expect(expectrl::Eof).is_ok() {
            return;
        }
    }
    panic!("vscript does not leave on Ctrl-D");
}

#[test]
fn repl_piped_input_runs_entries_in_order_and_prints_only_results() {
    let dir = tempfile::tempdir().unwrap();
    let input = "let pods = [#{ name: \"vantiq-0\", ready: \"1/1\" }, #{ name: \"mongodb-0\", ready: \"0/1\" }];\n\
                 fn not_ready(list) {\n    list.filter(|p| p.ready != \"1/1\")\n}\n\
                 not_ready(pods)\n\
                 #{ tag: \"1.31.0\", replicas: 3 }\n\
                 \"plain string\"\n";
    let (code, out, err) = piped(dir.path(), &[], input);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        out, "name       ready\nmongodb-0  0/1\nreplicas  3\ntag       1.31.0\nplain string\n",
        "stderr: {err}"
    );
}

#[test]
fn repl_piped_error_is_reported_and_later_entries_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = piped(dir.path(), &[], "let a = 20;\nno_such_function(a)\na + 22\n");
    assert_eq!(code, 1, "an entry failed, so the exit code is 1");
    assert_eq!(out, "42\n");
    assert!(err.contains("error: Function not found: no_such_function"), "{err}");
    assert!(
        err.contains("no_such_function(a)\n  | ^"),
        "the error shows the entry with a caret: {err}"
    );
}

#[test]
fn repl_piped_commands_work_and_quit_stops_reading() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = piped(dir.path(), &["-n", "acme"], ":ns\n:doc k8s::replicas\n:quit\nthis_is_never_run()\n");
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("acme\nk8s::replicas(sts: &str) -> i64\n"), "{out}");
    assert!(!err.contains("this_is_never_run"), "{err}");
}

#[test]
fn repl_multi_line_block_continues_until_complete() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = pty(dir.path(), &[], "default> ");
    s.send_line("fn add(a, b) {").unwrap();
    s.send_line("    a + b").unwrap();
    s.send_line("}").unwrap();
    next_prompt(&mut s, "default> ");
    s.send_line("add(20, 22)").unwrap();
    s.expect("42").unwrap();
    s.expect("default> ").unwrap();
    quit(s);
}

#[test]
fn repl_error_does_not_end_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = pty(dir.path(), &[], "default> ");
    s.send_line("let kept = 40;").unwrap();
    next_prompt(&mut s, "default> ");
    s.send_line("throw \"something broke\"").unwrap();
    s.expect("error: something broke").unwrap();
    s.expect("default> ").unwrap();
    s.send_line("kept + 2").unwrap();
    s.expect("42").unwrap();
    quit(s);
}

#[test]
fn repl_ctrl_c_stops_the_running_command_and_the_prompt_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = pty(dir.path(), &[], "default> ");
    s.send_line("print(\"sleeping now\"); sleep(600)").unwrap();
    // Ctrl-C once the command runs (the terminal is in cooked mode then: ^C is a signal).
    s.expect("\nsleeping now").unwrap();
    s.send(ControlCode::EndOfText).unwrap();
    s.expect("cancelled by the operator").unwrap();
    s.expect("default> ").unwrap();
    s.send_line("40 + 2").unwrap();
    s.expect("42").unwrap();
    quit(s);
}

#[test]
fn repl_ctrl_c_at_the_prompt_clears_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = pty(dir.path(), &[], "default> ");
    s.send("this line is abandoned").unwrap();
    s.send(ControlCode::EndOfText).unwrap();
    let between = next_prompt(&mut s, "default> ");
    assert!(!between.contains("error"), "the abandoned line is not evaluated: {between:?}");
    s.send_line("6 * 7").unwrap();
    s.expect("42").unwrap();
    quit(s);
}

#[test]
fn repl_tab_completes_functions_and_commands() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = pty(dir.path(), &[], "default> ");
    // A host function: Tab completes `k8s::namesp` to `k8s::namespace(`.
    s.send("\"ns=\" + k8s::namesp\t").unwrap();
    s.send_line(")").unwrap();
    s.expect("ns=default").unwrap();
    s.expect("default> ").unwrap();
    // A function defined in the session.
    s.send_line("fn answer_to_everything() { 42 }").unwrap();
    next_prompt(&mut s, "default> ");
    s.send("answer_to\t").unwrap();
    s.send_line(")").unwrap();
    s.expect("42").unwrap();
    s.expect("default> ").unwrap();
    // A command.
    s.send(":do\t").unwrap();
    s.send_line("k8s::wait_job").unwrap();
    s.expect("Waits until a Job completes").unwrap();
    quit(s);
}

#[test]
fn repl_history_is_kept_across_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = pty(dir.path(), &[], "default> ");
    s.send_line("let marker = 4242;").unwrap();
    next_prompt(&mut s, "default> ");
    quit(s);
    let history = std::fs::read_to_string(dir.path().join("history")).expect("history file written");
    assert!(history.contains("let marker = 4242;"), "{history}");

    // A new session recalls the entry with the Up arrow.
    let mut s = pty(dir.path(), &[], "default> ");
    s.send("\x1b[A").unwrap();
    s.send("\r").unwrap();
    next_prompt(&mut s, "default> ");
    s.send_line("marker * 2").unwrap();
    s.expect("8484").unwrap();
    quit(s);
}

#[test]
fn repl_quit_command_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = pty(dir.path(), &[], "default> ");
    s.send_line(":quit").unwrap();
    s.expect(expectrl::Eof).unwrap();
    let status = s.get_process_mut().wait().unwrap();
    assert!(matches!(status, expectrl::WaitStatus::Exited(_, 0)), "{status:?}");
}

/// A tools dir for namespace `acme` whose `stdlib/vantiq.rhai` answers like a Vantiq server
/// would (the incident helpers build on `vantiq::about()` and friends).
fn tools_with_stub_vantiq(dir: &Path, expiry: &str) -> std::path::PathBuf {
    let tools = dir.join("tools");
    std::fs::create_dir_all(tools.join("targetCluster")).unwrap();
    std::fs::create_dir_all(tools.join("stdlib")).unwrap();
    std::fs::write(tools.join("targetCluster/cluster.properties"), "vantiq.installation=acme\n").unwrap();
    std::fs::write(
        tools.join("stdlib/vantiq.rhai"),
        format!(
            "fn verify_login() {{ true }}\n\
             fn about() {{ #{{ server_version: \"1.31.0\", license_expiration: \"{expiry}\", license_issued_to: \"ACME\" }} }}\n\
             fn served_certificate() {{ #{{ subject: \"CN=vantiq.acme.example\", not_after: \"{expiry}\" }} }}\n"
        ),
    )
    .unwrap();
    tools
}

#[test]
fn repl_incident_helpers_answer_license_certificate_and_login() {
    let dir = tempfile::tempdir().unwrap();
    let expiry = (chrono::Utc::now() + chrono::Duration::days(30) + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let tools = tools_with_stub_vantiq(dir.path(), &expiry);
    let tools = tools.display().to_string();
    let (code, out, err) = piped(
        dir.path(),
        &["--tools", &tools],
        "incident::license()\nincident::served_cert().days_left\nincident::login()\n:doc incident\n",
    );
    assert_eq!(code, 0, "{err}");
    let expected = format!("days_left       30\nexpires         {expiry}\nissued_to       ACME\nserver_version  1.31.0\n30\ntrue\n");
    assert!(out.starts_with(&expected), "{out}\n---\n{err}");
    for f in [
        "incident::health()",
        "incident::pods()",
        "incident::migration()",
        "incident::load_model_log(lines)",
    ] {
        assert!(out.contains(f), "`:doc incident` lists {f}: {out}");
    }
}

// ---- against the simulated cluster (`--rehearse`) ---------------------------------------

#[test]
fn repl_completes_pod_and_statefulset_names_from_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = pty(dir.path(), &["--rehearse"], "acme> ");
    // `mongo` + Tab → the only pod starting so: `mongodb-0`.
    s.send("\"pod=\" + k8s::get(\"Pod\", \"mongo\t").unwrap();
    s.send_line("\").metadata.name").unwrap();
    s.expect("pod=mongodb-0").unwrap();
    s.expect("acme> ").unwrap();
    // A StatefulSet name in `k8s::replicas("`.
    s.send("\"replicas=\" + k8s::replicas(\"metr\t").unwrap();
    s.send_line("\")").unwrap();
    s.expect("replicas=1").unwrap();
    s.expect("acme> ").unwrap();
    // Several candidates: Tab twice lists them.
    s.send("k8s::logs(\"vantiq-\t\t").unwrap();
    s.expect(expectrl::Regex("vantiq-0\\s+vantiq-1\\s+vantiq-2")).unwrap();
    s.expect("acme> k8s::logs(\"vantiq-").unwrap();
    s.send(ControlCode::EndOfText).unwrap();
    next_prompt(&mut s, "acme> ");
    quit(s);
}

#[test]
fn repl_ctrl_c_ends_a_log_follow_normally_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = pty(dir.path(), &["--rehearse"], "acme> ");
    s.send_line("let before = k8s::replicas(\"vantiq\");").unwrap();
    next_prompt(&mut s, "acme> ");
    // The vantiq container keeps running: this follow never ends by itself.
    s.send_line("k8s::follow_logs(\"vantiq-0\", \"vantiq\", \"\", 600)").unwrap();
    s.expect("Vantiq server is ready to accept requests").unwrap();
    s.send(ControlCode::EndOfText).unwrap();
    s.expect("stopping the running command").unwrap();
    // Ctrl-C is how a follow ends: a normal stop, not an error.
    let seen = String::from_utf8_lossy(s.expect("acme> ").unwrap().before()).into_owned();
    assert!(seen.contains("stopped following (Ctrl-C)"), "{seen:?}");
    assert!(!seen.contains("error") && !seen.contains("cancelled"), "{seen:?}");
    // The one logs helper: a container, the last lines, then following.
    s.send_line("k8s::logs(\"vantiq-0\", #{ container: \"vantiq\", tail: 1, since: \"1h\", follow: true })")
        .unwrap();
    s.expect("Vantiq server is ready to accept requests").unwrap();
    s.send(ControlCode::EndOfText).unwrap();
    let seen = String::from_utf8_lossy(s.expect("acme> ").unwrap().before()).into_owned();
    assert!(seen.contains("stopped following (Ctrl-C)"), "{seen:?}");
    assert!(!seen.contains("License verified"), "only the last line: {seen:?}");
    s.send_line("\"still here: \" + before").unwrap();
    s.expect("still here: 3").unwrap();
    quit(s);
}

#[test]
fn repl_piped_incident_questions_against_the_simulated_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = piped(
        dir.path(),
        &["--rehearse"],
        "incident::pods()\nincident::overview()\nincident::migration().state\nincident::ready(\"vantiq-0\")\nk8s::list(\"StatefulSet\")\n\
         incident::health()\nincident::served_cert().subject\n\
         let s = k8s::secret(\"vantiq-ssl-cert\");\ns[\"tls.key\"]\n",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["name", "ready", "status", "restarts", "age"],
        "kubectl's column order: {out}"
    );
    for pod in [
        "vantiq-0",
        "vantiq-1",
        "vantiq-2",
        "mongodb-0",
        "metrics-collector-0",
        "vision-analytics-0",
        "vision-analytics-1",
    ] {
        let row = lines
            .iter()
            .find(|l| l.starts_with(&format!("{pod} ")))
            .unwrap_or_else(|| panic!("no row for {pod}: {out}"));
        assert!(row.contains(" 1/1 ") && row.contains(" Running "), "{row}");
    }
    let vantiq = lines.iter().find(|l| l.starts_with("vantiq ")).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        vantiq.split_whitespace().skip(1).take(2).collect::<Vec<_>>(),
        ["3/3", "ok"],
        "{vantiq}"
    );
    assert!(lines.contains(&"completed"), "{out}");
    assert!(lines.contains(&"true"), "{out}");
    // A list of Kubernetes objects prints like `kubectl get`.
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["NAME", "READY", "AGE"]),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.starts_with("vantiq ") && l.contains(" 3/3 ")), "{out}");
    // The IDE login, license and certificate answers come through the stdlib and the
    // simulated Vantiq endpoint.
    for (k, v) in [("login", "ok"), ("pods", "all ready"), ("statefulsets", "all ready")] {
        assert!(
            lines.iter().any(|l| l.split_once(' ').map(|(a, b)| (a, b.trim())) == Some((k, v))),
            "{k}: {out}"
        );
    }
    let row = lines
        .iter()
        .find(|l| l.starts_with("certificate "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("expires ") && row.ends_with(" days)"), "{row}");
    // License files are opaque unless a format or an About endpoint is configured.
    let row = lines.iter().find(|l| l.starts_with("license ")).unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("expiry unknown"), "{row}");
    assert!(lines.contains(&"CN=vantiq.acme.example.com"), "{out}");
    // Secret values never reach the terminal: a secret shows its size and fingerprint.
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("<secret: ") && l.contains(" bytes, sha256 ")),
        "{out}"
    );
}

#[test]
fn repl_ns_switches_namespace_with_completion_and_keeps_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = pty(dir.path(), &["--rehearse"], "acme> ");
    s.send_line("let kept = \"from acme\";").unwrap();
    next_prompt(&mut s, "acme> ");
    s.send(":ns sha\t").unwrap();
    s.send_line("").unwrap();
    s.expect("namespace: shared").unwrap();
    s.expect("shared> ").unwrap();
    s.send_line("incident::pods()").unwrap();
    s.expect("influxdb-0").unwrap();
    s.expect("shared> ").unwrap();
    s.send_line("kept").unwrap();
    s.expect("from acme").unwrap();
    s.expect("shared> ").unwrap();
    quit(s);
}

#[test]
fn repl_piped_command_stopped_with_sigint_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = repl_cmd(dir.path(), &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"sleep(600)\nprint(\"never\");\n").unwrap();
    drop(stdin);
    std::thread::sleep(Duration::from_millis(800));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("cancelled by the operator"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("never"));
}
