//! Tests of the editor as a whole: `get`, `has` and `set` on small documents and on the
//! commented `deploy.yaml` fixture.

use super::*;

fn s(v: &str) -> Scalar {
    Scalar::Str(v.into())
}

#[test]
fn set_replaces_plain_value_and_keeps_comment() {
    let t = "a:\n  b: 1.2.3   # the tag\n  c: x\n";
    let e = set("f", t, "a.b", &s("1.2.4"), false).unwrap();
    assert_eq!(e.text, "a:\n  b: 1.2.4   # the tag\n  c: x\n");
    assert_eq!(e.before.as_deref(), Some("1.2.3"));
}

#[test]
fn set_keeps_quote_styles() {
    let t = "a: \"1\"\nb: '2'\nc: 3\n";
    let e = set("f", t, "a", &s("x\"y"), false).unwrap();
    assert_eq!(e.text, "a: \"x\\\"y\"\nb: '2'\nc: 3\n");
    let e = set("f", t, "b", &s("it's"), false).unwrap();
    assert_eq!(e.text, "a: \"1\"\nb: 'it''s'\nc: 3\n");
    let e = set("f", t, "c", &Scalar::Int(4), false).unwrap();
    assert_eq!(e.text, "a: \"1\"\nb: '2'\nc: 4\n");
}

#[test]
fn set_quotes_strings_that_would_change_type() {
    let t = "a: hello\n";
    assert_eq!(set("f", t, "a", &s("true"), false).unwrap().text, "a: \"true\"\n");
    assert_eq!(set("f", t, "a", &s("a: b"), false).unwrap().text, "a: \"a: b\"\n");
    // a version-looking float stays plain when it was plain
    let t = "tag: 1.30\n";
    assert_eq!(set("f", t, "tag", &s("1.31"), false).unwrap().text, "tag: 1.31\n");
    assert_eq!(get("f", t, "tag").unwrap(), Some(Value::String("1.30".into())));
}

#[test]
fn set_fills_empty_value_and_keeps_its_comment() {
    let t = "a:\n  b: # empty\n  c: 1\n";
    assert_eq!(set("f", t, "a.b", &s("x"), false).unwrap().text, "a:\n  b: x # empty\n  c: 1\n");
}

#[test]
fn set_inside_lists_and_flow_mappings() {
    let t = "items:\n- name: a\n  image: {repo: r, tag: \"1\"}\n- name: b\n  image: { repo: r, tag: 2 }\n";
    let e = set("f", t, "items[1].image.tag", &Scalar::Int(3), false).unwrap();
    assert_eq!(
        e.text,
        "items:\n- name: a\n  image: {repo: r, tag: \"1\"}\n- name: b\n  image: { repo: r, tag: 3 }\n"
    );
    let e = set("f", t, "items.0.image.tag", &s("9"), false).unwrap();
    assert_eq!(
        e.text,
        "items:\n- name: a\n  image: {repo: r, tag: \"9\"}\n- name: b\n  image: { repo: r, tag: 2 }\n"
    );
}

#[test]
fn set_skips_block_scalars_and_refuses_to_edit_them() {
    let t = "a: |\n  b: 1\n  {{- if .Values.x }}\nb: 1\n";
    let e = set("f", t, "b", &Scalar::Int(2), false).unwrap();
    assert_eq!(e.text, "a: |\n  b: 1\n  {{- if .Values.x }}\nb: 2\n");
    assert!(set("f", t, "a", &s("x"), false).unwrap_err().to_string().contains("block scalar"));
}

#[test]
fn set_missing_path_fails_and_create_appends_under_parent() {
    let t = "a:\n    b: 1\n    c:\n        d: 2\n# trailing\nz: 0\n";
    let err = set("deploy.yaml", t, "a.x", &s("v"), false).unwrap_err().to_string();
    assert!(err.contains("`deploy.yaml` has no `a.x`"), "{err}");
    let e = set("f", t, "a.x", &s("v"), true).unwrap();
    assert_eq!(e.text, "a:\n    b: 1\n    c:\n        d: 2\n    x: v\n# trailing\nz: 0\n");
    assert!(e.added);
    let e = set("f", t, "a.c.e", &Scalar::Bool(true), true).unwrap();
    assert_eq!(e.text, "a:\n    b: 1\n    c:\n        d: 2\n        e: true\n# trailing\nz: 0\n");
    assert!(set("f", t, "q.r", &s("v"), true).is_err());
}

#[test]
fn set_refuses_mappings_and_malformed_yaml() {
    let t = "a:\n  b: 1\n";
    assert!(set("f", t, "a", &s("x"), false).unwrap_err().to_string().contains("mapping"));
    let bad = "a:\n  b: 1\n c: [\n";
    let err = set("f", bad, "a.b", &s("x"), false).unwrap_err().to_string();
    assert!(err.contains("malformed YAML at"), "{err}");
}

#[test]
fn multi_document_files_are_addressed_in_order() {
    let t = "a: 1\n---\nb: 2\n";
    assert_eq!(set("f", t, "b", &Scalar::Int(3), false).unwrap().text, "a: 1\n---\nb: 3\n");
    assert_eq!(get("f", t, "b").unwrap(), Some(serde_json::json!(2)));
}

#[test]
fn quoted_keys_and_crlf() {
    let t = "\"a.b\": 1\r\n'c': x\r\n";
    assert_eq!(
        set("f", t, "[\"a.b\"]", &Scalar::Int(2), false).unwrap().text,
        "\"a.b\": 2\r\n'c': x\r\n"
    );
    assert_eq!(set("f", t, "c", &s("yz"), false).unwrap().text, "\"a.b\": 1\r\n'c': yz\r\n");
}

/// The commented fixture with exactly one value edited, compared as whole files.
mod fixture {
    use super::*;

    const DEPLOY: &str = include_str!("../../../tests/fixtures/files/deploy.yaml");

    /// `DEPLOY` with `old` (which must occur exactly once) replaced by `new`.
    fn expect(old: &str, new: &str) -> String {
        assert_eq!(DEPLOY.matches(old).count(), 1, "fixture snippet `{old}` must be unique");
        DEPLOY.replacen(old, new, 1)
    }

    fn edit(path: &str, v: Scalar) -> String {
        set("deploy.yaml", DEPLOY, path, &v, false)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .text
    }

    #[test]
    fn each_image_tag_is_edited_alone() {
        assert_eq!(
            edit("vantiq.image.tag", s("1.40.0")),
            expect("    tag: 1.39.7               # bump", "    tag: 1.40.0               # bump")
        );
        assert_eq!(
            edit("vantiq.metricsCollector.image.tag", s("1.40.0")),
            expect("      tag: \"1.39.7\"   # keep", "      tag: \"1.40.0\"   # keep")
        );
        assert_eq!(
            edit("vantiq.visionAnalytics.image.tag", s("1.40.0")),
            expect("tag: '1.39.3' }", "tag: '1.40.0' }")
        );
        assert_eq!(
            edit("mongodb.image.tag", s("5.0.1")),
            expect("tag: 4.4.29        #", "tag: 5.0.1        #")
        );
        assert_eq!(
            edit("grafana.image.tag", s("10.0.0")),
            expect("        tag: '9.5.21'", "        tag: '10.0.0'")
        );
        assert_eq!(
            edit("influxdb.image.tag", s("1.8.11")),
            expect("    tag: 1.8.10\n", "    tag: 1.8.11\n")
        );
        assert_eq!(
            edit("overrides.keycloak.image.tag", s("23.0.0")),
            expect("tag: 22.0.5", "tag: 23.0.0")
        );
    }

    #[test]
    fn other_values_keep_their_style() {
        assert_eq!(
            edit("vantiq.resources.limits.cpu", Scalar::Int(6)),
            expect("cpu:        \"4\"", "cpu:        \"6\"")
        );
        assert_eq!(
            edit("vantiq.replicas", Scalar::Int(1)),
            expect("replicas: 3                 #", "replicas: 1                 #")
        );
        assert_eq!(
            edit("vantiq.env[1].value", s("debug")),
            expect("value: info   # debug only", "value: debug   # debug only")
        );
        assert_eq!(edit("vantiq.env.2.value", s("x")), expect("        value:\n", "        value: x\n"));
        assert_eq!(
            edit(
                "vantiq.ingress.annotations[\"nginx.ingress.kubernetes.io/proxy-body-size\"]",
                s("100m")
            ),
            expect("proxy-body-size\": 50m", "proxy-body-size\": 100m")
        );
        assert_eq!(edit("nginx.enabled", Scalar::Bool(false)), expect("enabled: yes", "enabled: false"));
        assert_eq!(
            edit("mongodb.backup.schedule", s("0 4 * * *")),
            expect("schedule: \"0 3 * * *\"", "schedule: \"0 4 * * *\"")
        );
        assert_eq!(
            edit("vantiq.ingress.host", s("vantiq.acme.example.org")),
            expect("host: 'vantiq.acme.example.com'", "host: 'vantiq.acme.example.org'")
        );
    }

    #[test]
    fn create_appends_under_the_parent_with_its_indentation() {
        let e = set("deploy.yaml", DEPLOY, "vantiq.image.digest", &s("sha256:abc"), true).unwrap();
        assert!(e.added);
        assert_eq!(
            e.text,
            expect(
                "    pullPolicy: IfNotPresent\n",
                "    pullPolicy: IfNotPresent\n    digest: sha256:abc\n"
            )
        );
        let e = set("deploy.yaml", DEPLOY, "grafana.image.pullPolicy", &s("Always"), true).unwrap();
        assert_eq!(
            e.text,
            expect("        tag: '9.5.21'\n", "        tag: '9.5.21'\n        pullPolicy: Always\n")
        );
        // an existing key is edited, not added, even with create
        let e = set("deploy.yaml", DEPLOY, "mongodb.image.tag", &s("5.0.1"), true).unwrap();
        assert!(!e.added);
    }

    #[test]
    fn get_reads_values_and_templates() {
        assert_eq!(
            get("deploy.yaml", DEPLOY, "vantiq.image.tag").unwrap(),
            Some(Value::String("1.39.7".into()))
        );
        assert_eq!(get("deploy.yaml", DEPLOY, "vantiq.replicas").unwrap(), Some(serde_json::json!(3)));
        assert_eq!(
            get("deploy.yaml", DEPLOY, "vantiq.visionAnalytics.image.tag").unwrap(),
            Some(Value::String("1.39.3".into()))
        );
        let tpl = get("deploy.yaml", DEPLOY, "vantiq.configTemplate").unwrap().unwrap();
        assert!(
            tpl.as_str()
                .unwrap()
                .starts_with("{{- if .Values.vantiq.metricsCollector.enabled }}\n")
        );
        assert_eq!(
            get("deploy.yaml", DEPLOY, "overrides[\"vantiq.image.tag\"]").unwrap(),
            Some(Value::String("ignored-here".into()))
        );
        assert_eq!(get("deploy.yaml", DEPLOY, "vantiq.image.nope").unwrap(), None);
        assert!(get("deploy.yaml", DEPLOY, "vantiq.image").unwrap().unwrap().is_object());
        assert!(has("deploy.yaml", DEPLOY, "overrides.keycloak").unwrap());
    }

    /// Every leaf of the fixture can be set alone: exactly one line changes (block
    /// scalars are refused), and the edit reads back.
    #[test]
    fn every_leaf_is_editable_alone() {
        fn leaves(v: &Value, path: String, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        let seg = if k.contains('.') { format!("[\"{k}\"]") } else { format!(".{k}") };
                        leaves(x, format!("{path}{seg}"), out);
                    }
                }
                Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        leaves(x, format!("{path}[{i}]"), out);
                    }
                }
                _ => out.push(path.trim_start_matches('.').to_owned()),
            }
        }
        let mut paths = vec![];
        for d in parse("deploy.yaml", DEPLOY).unwrap() {
            leaves(&d, String::new(), &mut paths);
        }
        assert!(paths.len() > 30, "{paths:?}");
        let mut edited = 0;
        for p in &paths {
            match set("deploy.yaml", DEPLOY, p, &s("zz-new"), false) {
                Ok(e) => {
                    let changed: Vec<_> = DEPLOY.lines().zip(e.text.lines()).filter(|(a, b)| a != b).collect();
                    assert_eq!(changed.len(), 1, "{p}: {changed:?}");
                    assert_eq!(DEPLOY.lines().count(), e.text.lines().count(), "{p}");
                    assert_eq!(get("deploy.yaml", &e.text, p).unwrap(), Some(Value::String("zz-new".into())), "{p}");
                    edited += 1;
                }
                Err(e) => assert!(e.to_string().contains("block scalar"), "{p}: {e}"),
            }
        }
        assert_eq!(edited, paths.len() - 2);
    }

    #[test]
    fn errors_name_the_file_and_path() {
        let e = set("deploy.yaml", DEPLOY, "vantiq.image.tga", &s("1"), false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "`deploy.yaml` has no `vantiq.image.tga` (`vantiq.image` exists but has no `tga`; pass #{ create: true } to add it)"
        );
        let e = set("deploy.yaml", DEPLOY, "vantiq.configTemplate", &s("x"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("block scalar"), "{e}");
        let e = set("deploy.yaml", DEPLOY, "vantiq.notes", &s("x"), false).unwrap_err().to_string();
        assert!(e.contains("block scalar"), "{e}");
        let e = set("deploy.yaml", DEPLOY, "vantiq.image", &s("x"), false).unwrap_err().to_string();
        assert!(e.contains("is a mapping"), "{e}");
        let broken = DEPLOY.replacen("    pullPolicy: IfNotPresent", "    pullPolicy: [IfNotPresent", 1);
        let e = set("deploy.yaml", &broken, "vantiq.image.tag", &s("1"), false)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("`deploy.yaml`: malformed YAML at "), "{e}");
        let bad_indent = DEPLOY.replacen("    pullPolicy: IfNotPresent", "   pullPolicy: IfNotPresent", 1);
        let e = get("deploy.yaml", &bad_indent, "vantiq.image.tag").unwrap_err().to_string();
        assert!(e.contains("malformed YAML at 14:"), "{e}");
    }
}
