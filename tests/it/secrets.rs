//! Secrets stay secret: a script and a REPL session read every kind of secret and try
//! every transformation a script can make; then every output channel — stdout, stderr,
//! the journal, `--output json`, the `--report` Markdown, `vscript runs <id>` — is scanned
//! for the bytes in every encoding (raw, base64, PEM lines). None may appear.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine as _;

use crate::harness::{Cluster, bin, project_dir, run_id, vscript};

/// What a leak would look like: each secret raw, in base64, and line by line.
fn needles(secrets: &[(&str, Vec<u8>)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, bytes) in secrets {
        let text = String::from_utf8_lossy(bytes).trim().to_owned();
        assert!(text.len() >= 16, "{name} is long enough to find");
        out.push((format!("{name} (raw)"), text.clone()));
        out.push((format!("{name} (base64)"), base64::engine::general_purpose::STANDARD.encode(bytes)));
        for l in text.lines().filter(|l| l.len() >= 16 && !l.starts_with("-----")) {
            out.push((format!("{name} (a line)"), l.to_owned()));
        }
    }
    out
}

fn scan(channels: &[(String, String)], needles: &[(String, String)]) {
    for (channel, text) in channels {
        for (what, n) in needles {
            assert!(!text.contains(n.as_str()), "{channel} leaks {what}");
        }
    }
}

const READ_EVERYTHING: &str = r#"
step("1. read and transform every kind of secret", || {
    let s = k8s::get("Secret", "vantiq-ssl-cert");
    print(s);
    info(`${s}`);
    let all = k8s::list("Secret");
    print(all);
    let lic = k8s::secret("vantiq-license");
    print(lic);
    print(lic["license.key"] + " appended");
    let key = file::read("targetCluster/deploy/sensitive/private.key");
    print(key);
    warn(`the key is ${key}`);
    for op in [|| key.to_upper(), || key.sub_string(3), || key.to_blob(), || key.split("\n"), || key.to_chars()] {
        try { print(op.call()); } catch (e) { print(`refused: ${e}`); }
    }
    let kc = file::read("targetCluster/kubeconfig");
    print(kc);
    let generated = yaml::get("targetCluster/deploy/secrets/vantiq/vantiq-license.yaml", "data");
    print(generated);
    print(file::read("targetCluster/deploy/secrets/vantiq/vantiq-license.yaml"));
    print(`fingerprint ${key.sha256()}, ${key.len()} bytes, same as the Secret's: ${key == s.data["tls.key"]}`);
    remember("secret_object", s);
    #{ object: s, key: key, kubeconfig: kc }
});
"#;

#[test]
fn no_channel_shows_a_secret_in_any_encoding() {
    let c = Cluster::start();
    // The generated secrets exist after generateSecrets.
    let generated = Command::new(c.tools().join("gradlew"))
        .args(["-Pcluster=acme-prod", "generateSecrets"])
        .current_dir(c.tools())
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let sensitive = c.tools().join("targetCluster/deploy/sensitive");
    let kubeconfig = std::fs::read_to_string(c.tools().join("targetCluster/kubeconfig")).unwrap();
    let token = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("token:"))
        .expect("the kubeconfig has a token")
        .trim()
        .to_owned();
    let needles = needles(&[
        ("private.key", std::fs::read(sensitive.join("private.key")).unwrap()),
        ("license.key", std::fs::read(sensitive.join("license.key")).unwrap()),
        ("the kubeconfig token", token.into_bytes()),
    ]);

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("read.rhai");
    std::fs::write(&script, READ_EVERYTHING).unwrap();
    let report = dir.path().join("report.md");
    let out = c.run_with(
        &script.display().to_string(),
        &[],
        &["--yes", "--output", "json", "--report", &report.display().to_string()],
    );
    assert_eq!(out.code, 0, "the script ran: {}", out.all());
    assert!(out.stderr.contains("<secret: "), "secrets show as their label: {}", out.all());
    assert!(out.stderr.contains("refused: "), "transformations are refused: {}", out.all());
    assert!(out.stderr.contains("same as the Secret's: true"), "secrets compare: {}", out.all());
    let id = run_id(&out.stderr);
    let runs = vscript(&["runs", &id, "--tools", &c.tools().display().to_string()], &project_dir());
    assert_eq!(runs.code, 0, "{}", runs.all());
    let mut channels = vec![
        ("stdout (--output json)".to_owned(), out.stdout.clone()),
        ("stderr".to_owned(), out.stderr.clone()),
        ("--report".to_owned(), std::fs::read_to_string(&report).unwrap()),
        ("vscript runs <id>".to_owned(), runs.all()),
    ];
    for f in std::fs::read_dir(c.tools().join(".vscript/runs")).unwrap().flatten() {
        channels.push((f.path().display().to_string(), std::fs::read_to_string(f.path()).unwrap()));
    }
    scan(&channels, &needles);

    // The same in the REPL.
    let mut repl = Command::new(bin())
        .args(["repl", "--tools", &c.tools().display().to_string()])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = "k8s::get(\"Secret\", \"vantiq-license\")\nk8s::list(\"Secret\")\nk8s::secret(\"vantiq-ssl-cert\")\nlet k = file::read(\"targetCluster/deploy/sensitive/private.key\")\nk\nk.to_upper()\nk.sub_string(2)\nfile::read(\"targetCluster/kubeconfig\")\nyaml::get(\"targetCluster/deploy/secrets/vantiq/vantiq-license.yaml\", \"data\")\n";
    repl.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = repl.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(stdout.contains("<secret: "), "the REPL shows labels: {stdout}\n{stderr}");
    scan(&[("REPL stdout".into(), stdout), ("REPL stderr".into(), stderr)], &needles);
}
