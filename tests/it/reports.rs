//! Machine-readable and customer-facing reports: `--output json` validated against
//! `docs/report-schema.json` on real runs, `--report FILE.md` in English and Japanese,
//! and the committed editor definition files kept in step with the registrations.

use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{Cluster, project_dir, vscript};

fn schema() -> Value {
    let text = std::fs::read_to_string(project_dir().join("docs/report-schema.json")).unwrap();
    serde_json::from_str(&text).expect("docs/report-schema.json is JSON")
}

fn assert_valid(schema: &Value, doc: &Value) {
    let v = jsonschema::validator_for(schema).expect("a valid JSON Schema");
    let errors: Vec<String> = v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}\nin\n{doc:#}");
}

/// Validates a `vscript run --output json` report.
pub fn assert_valid_run(doc: &Value) {
    assert_valid(&schema(), doc);
}

/// Validates a `vscript fleet run --output json` document (`$defs/fleet`).
pub fn assert_valid_fleet(doc: &Value) {
    let s = schema();
    let fleet = json!({ "$schema": s["$schema"], "$defs": s["$defs"], "$ref": "#/$defs/fleet" });
    assert_valid(&fleet, doc);
}

/// The JSON report: stdout holds it and nothing else.
fn report(out: &crate::harness::Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", out.all()))
}

#[test]
fn run_reports_validate_against_the_schema() {
    let c = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("status.md");
    let md_s = md.display().to_string();

    // A read-only run with findings, and its Markdown summary.
    let out = c.run_with("maintenance_status", &[], &["--yes", "--output", "json", "--report", &md_s]);
    out.ok();
    let r = report(&out);
    assert_valid_run(&r);
    assert_eq!(r["result"], "ok");
    assert_eq!(r["findings"], r["remembered"]["findings"]);
    assert_eq!(r["findings"]["license"]["status"], "unknown", "license files are opaque by default");
    let titles: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles[0], "1. License");
    assert_eq!(*titles.last().unwrap(), "5. Report");
    assert!(
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["ok"] == true && s["duration_ms"].is_u64())
    );
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.starts_with("# Maintenance report: maintenance_status (acme-prod)\n"), "{text}");
    assert!(text.contains("| 1. License | ok |"), "{text}");
    assert!(text.contains("None: nothing was changed."), "{text}");
    assert!(text.contains("Nothing is due."), "{text}");
    assert!(!text.contains("## Invariant violations"), "not a rehearsal: {text}");

    // Due and failing on purpose (the CronJob's setting): the findings are still reported.
    let out = c.run_with(
        "maintenance_status",
        &[("ssl_lead_days", "90"), ("fail_when_due", "true")],
        &["--yes", "--output", "json", "--report", &md_s, "--lang", "ja"],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    let r = report(&out);
    assert_valid_run(&r);
    assert_eq!(r["result"], "failed");
    assert_eq!(r["findings"]["ssl"]["status"], "DUE");
    let last = r["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ok"], false);
    assert!(last["duration_ms"].is_u64() && last["error"].is_string(), "{last}");
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.starts_with("# 保守作業報告: maintenance_status (acme-prod)\n"), "{text}");
    assert!(text.contains("| 結果 | 失敗 (exit 1) |"), "{text}");
    assert!(
        text.contains("## 対応が必要な項目") || text.contains("**対応が必要な項目**"),
        "{text}"
    );
    assert!(text.contains("- SSL 証明書の有効期限"), "the due items in Japanese: {text}");
    assert!(text.contains("## エラー"), "{text}");

    // A run with side effects.
    let out = c.run_with("mongo_backup", &[], &["--yes", "--output", "json", "--report", &md_s]);
    out.ok();
    let r = report(&out);
    assert_valid_run(&r);
    assert!(!r["effects"].as_array().unwrap().is_empty(), "{r:#}");
    assert_eq!(r["findings"], Value::Null);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        text.contains("## Changes made\n\n1. Created Job acme/mongobackup-"),
        "effects as sentences: {text}"
    );
    c.assert_no_violation();
}

#[test]
fn dry_run_and_rehearsal_reports_validate_against_the_schema() {
    let c = Cluster::start();
    let out = c.run_with("patch_upgrade", &[("tag", "1.30.11")], &["--yes", "--dry-run", "--output", "json"]);
    out.ok();
    let r = report(&out);
    assert_valid_run(&r);
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["run_id"], Value::Null, "a dry run writes no journal");
    assert!(r["effects"].as_array().unwrap().iter().any(|e| e["result"] == "dry-run"), "{r:#}");

    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("r.md");
    let out = vscript(
        &[
            "run",
            "maintenance_status",
            "--rehearse",
            "--speed",
            "150",
            "--tools",
            &c.tools().display().to_string(),
            "--yes",
            "--output",
            "json",
            "--report",
            &md.display().to_string(),
        ],
        &project_dir(),
    );
    out.ok();
    let r = report(&out);
    assert_valid_run(&r);
    assert_eq!(r["rehearsal"], true);
    assert_eq!(r["violations"], json!([]));
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("rehearsal on a simulated cluster"), "{text}");
    assert!(text.contains("The simulator recorded no invariant violation."), "{text}");
}

#[test]
fn the_schema_rejects_a_report_missing_a_field() {
    let s = schema();
    let v = jsonschema::validator_for(&s).unwrap();
    assert!(!v.is_valid(&json!({ "schema": "vscript.run/v1" })));
}

/// Every file of `dir`, by name.
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

#[test]
fn committed_definitions_match_the_registrations() {
    let dir = tempfile::tempdir().unwrap();
    let out = vscript(&["doc", "--definitions", &dir.path().display().to_string()], &project_dir());
    out.ok();
    let fresh = files(dir.path());
    let committed = files(&project_dir().join(".rhai/definitions"));
    assert!(
        fresh.contains_key("k8s.d.rhai") && fresh.contains_key("vantiq.d.rhai"),
        "{:?}",
        fresh.keys()
    );
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "stale .rhai/definitions: run `cargo run -- doc --definitions .rhai/definitions`"
    );
    for (name, bytes) in &fresh {
        assert!(
            committed[name] == *bytes,
            ".rhai/definitions/{name} is stale: run `cargo run -- doc --definitions .rhai/definitions`"
        );
    }
}

/// A report with the volatile parts (times, durations, run ids, job names, commits,
/// ports) masked, for a golden-file comparison.
fn masked(name: &str, text: &str) {
    insta::with_settings!({filters => vec![
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (JST|UTC([+-]\d\d:\d\d)?)", "[TIME]"),
        (r"\d+分\d+秒|\d+(\.\d+)?(ミリ秒|秒)|\b\d+m\d\ds\b|\b\d+(\.\d)?s\b|\b\d+ms\b", "[DURATION]"),
        (r"\d{8}-\d{6}-minor_upgrade", "[RUN_ID]"),
        (r"mongobackup-\d{14}(-\d+)?", "mongobackup-[STAMP]"),
        (r"\b[0-9a-f]{40}\b", "[COMMIT]"),
        (r":\d{2,5}/", ":[PORT]/"),
    ]}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn golden_reports_of_a_rehearsed_minor_upgrade_in_both_languages_and_as_a_plan() {
    let dir = tempfile::tempdir().unwrap();
    for (lang, extra, name) in [
        ("ja", None, "rehearsed_minor_upgrade_ja"),
        ("en", Some("UTC"), "rehearsed_minor_upgrade_en"),
        ("ja", None, "rehearsed_minor_upgrade_dry_run_ja"),
    ] {
        let md = dir.path().join(format!("{name}.md"));
        let md_s = md.display().to_string();
        let mut args = vec![
            "run",
            "minor_upgrade",
            "--rehearse",
            "--speed",
            "150",
            "--yes",
            "--set",
            "tag=1.31.0",
            "--report",
            &md_s,
            "--lang",
            lang,
        ];
        if let Some(tz) = extra {
            args.extend(["--tz", tz]);
        }
        if name.contains("dry_run") {
            args.push("--dry-run");
        }
        let out = vscript(&args, &std::env::temp_dir());
        out.ok();
        let text = std::fs::read_to_string(&md).unwrap();
        if lang == "ja" {
            // Every step title in Japanese, and the results too.
            for english in ["Check the installation", "Stop Vantiq", "| ok |", "Scaled", "verified"] {
                assert!(!text.contains(english), "`{english}` in the Japanese report:\n{text}");
            }
            assert!(text.contains(" JST |"), "times in JST:\n{text}");
        }
        if name.contains("dry_run") {
            assert!(text.starts_with("# 保守作業計画（ドライラン）"), "{text}");
            assert!(
                !text.contains("| バックアップジョブ |"),
                "a plan states no backup job as a fact:\n{text}"
            );
            assert!(text.contains("を作成する予定です"), "a plan says what it would do:\n{text}");
            assert!(!text.contains("| ダウンタイム |"), "a plan has no downtime:\n{text}");
        } else {
            assert!(
                text.contains(if lang == "ja" { "| ダウンタイム |" } else { "| Downtime |" }),
                "{text}"
            );
        }
        masked(name, &text);
    }
}
