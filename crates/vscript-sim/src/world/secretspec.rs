//! What `secrets.yaml` asks `generateSecrets` to make, read tolerantly: customers' files
//! are laid out in more than one way, and a rehearsal must not refuse a layout it could
//! still make sense of. Whatever cannot be interpreted is named in a warning and left
//! out; the three secrets the simulated installation needs (`vantiq-ssl-cert`,
//! `vantiq-license`, `default-ssl-cert`) fall back to the simulator's own layout when
//! `secrets.yaml` does not define them.
//!
//! Understood layouts (mixed freely):
//! * `component: {secret-name: {namespace?, type?, files: …}}` (the simulator's own);
//! * `secrets: [ {name, component?, namespace?, type?, files: …}, … ]` or a top-level list
//!   of such entries, or `secrets: {secret-name: {…}}`;
//! * `files` (or `data`, `fromFiles`, `from`, `sources`) as a mapping `key: file`, a list
//!   of file names (the key is the file's base name) or a list of `{key|name, file|path}`;
//!   a secret that is itself a mapping of `key: file` strings.
//!
//! File references are resolved against `targetCluster/deploy/sensitive/`, then
//! `targetCluster/`, then the tools dir, then by base name in `deploy/sensitive/`; an
//! absolute path is used only when it lies inside the tools dir (a rehearsal reads
//! nothing outside its copy).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One Secret `generateSecrets` writes to `deploy/secrets/<component>/<name>.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretSpec {
    /// `vantiq` (applied by deployVantiq), `nginx` (deployNginx), or another component.
    pub component: String,
    pub name: String,
    pub namespace: Option<String>,
    pub ty: String,
    /// `(data key, file reference)` in order.
    pub files: Vec<(String, String)>,
}

/// The secrets the simulated installation needs, with the simulator's layout.
pub fn defaults() -> Vec<SecretSpec> {
    let tls = |comp: &str, name: &str, ns: Option<&str>| SecretSpec {
        component: comp.into(),
        name: name.into(),
        namespace: ns.map(str::to_owned),
        ty: "kubernetes.io/tls".into(),
        files: vec![("tls.crt".into(), "fullchain.crt".into()), ("tls.key".into(), "private.key".into())],
    };
    vec![
        tls("vantiq", "vantiq-ssl-cert", None),
        SecretSpec {
            component: "vantiq".into(),
            name: "vantiq-license".into(),
            namespace: None,
            ty: "Opaque".into(),
            files: vec![
                ("public.pem".into(), "public.pem".into()),
                ("license.key".into(), "license.key".into()),
            ],
        },
        tls("nginx", "default-ssl-cert", Some("shared")),
    ]
}

/// The standard file in `deploy/sensitive` for a data key of the needed secrets.
pub fn standard_file(key: &str) -> Option<&'static str> {
    match key {
        "tls.crt" | "fullchain.crt" => Some("fullchain.crt"),
        "tls.key" | "private.key" => Some("private.key"),
        "public.pem" => Some("public.pem"),
        "license.key" => Some("license.key"),
        _ => None,
    }
}

const FILE_KEYS: [&str; 5] = ["files", "data", "fromFiles", "from", "sources"];
const META_KEYS: [&str; 5] = ["namespace", "type", "name", "component", "stringData"];

fn base_name(f: &str) -> String {
    Path::new(f)
        .file_name()
        .map_or_else(|| f.to_owned(), |n| n.to_string_lossy().into_owned())
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `files` in any of its forms; `None` when it is none of them.
fn files_of(v: &Value, at: &str, warn: &mut Vec<String>) -> Option<Vec<(String, String)>> {
    match v {
        Value::Object(m) => {
            let mut out = Vec::new();
            for (k, f) in m {
                match scalar(f).or_else(|| f.get("file").or(f.get("path")).and_then(scalar)) {
                    Some(f) => out.push((k.clone(), f)),
                    None => warn.push(format!("{at}.{k}: not a file name; ignored")),
                }
            }
            Some(out)
        }
        Value::Array(a) => {
            let mut out = Vec::new();
            for (i, item) in a.iter().enumerate() {
                if let Some(f) = scalar(item) {
                    out.push((base_name(&f), f));
                    continue;
                }
                let file = item.get("file").or(item.get("path")).or(item.get("from")).and_then(scalar);
                let key = item.get("key").or(item.get("name")).and_then(scalar);
                match (key, file) {
                    (k, Some(f)) => out.push((k.unwrap_or_else(|| base_name(&f)), f)),
                    _ => warn.push(format!("{at}[{i}]: neither a file name nor {{key, file}}; ignored")),
                }
            }
            Some(out)
        }
        Value::String(s) => Some(vec![(base_name(s), s.clone())]),
        _ => None,
    }
}

fn infer_component(name: &str, ns: Option<&str>) -> String {
    if name == "default-ssl-cert" || ns == Some("shared") {
        "nginx".into()
    } else {
        "vantiq".into()
    }
}

/// One secret definition under `at`; `component`/`name` from the nesting when known.
fn secret_of(v: &Value, component: Option<&str>, name: Option<&str>, at: &str, warn: &mut Vec<String>) -> Option<SecretSpec> {
    let name = v.get("name").and_then(scalar).or_else(|| name.map(str::to_owned));
    let Some(name) = name else {
        warn.push(format!("{at}: a secret without a name; ignored"));
        return None;
    };
    let namespace = v.get("namespace").and_then(scalar);
    let component = v
        .get("component")
        .and_then(scalar)
        .or_else(|| component.map(str::to_owned))
        .unwrap_or_else(|| infer_component(&name, namespace.as_deref()));
    let ty = v.get("type").and_then(scalar).unwrap_or_else(|| {
        if name.ends_with("ssl-cert") || name.ends_with("-tls") {
            "kubernetes.io/tls".into()
        } else {
            "Opaque".into()
        }
    });
    let files = if let Some((k, fv)) = v
        .as_object()
        .and_then(|m| FILE_KEYS.iter().find_map(|k| m.get(*k).map(|f| (*k, f))))
    {
        match files_of(fv, &format!("{at}.{k}"), warn) {
            Some(f) => f,
            None => {
                warn.push(format!("{at}.{k}: not a list or mapping of files; ignored"));
                Vec::new()
            }
        }
    } else if let Some(m) = v.as_object() {
        // The secret is itself a mapping of `key: file`.
        let direct: Vec<(String, String)> = m
            .iter()
            .filter(|(k, _)| !META_KEYS.contains(&k.as_str()))
            .filter_map(|(k, f)| scalar(f).map(|f| (k.clone(), f)))
            .collect();
        for (k, x) in m {
            if !META_KEYS.contains(&k.as_str()) && scalar(x).is_none() {
                warn.push(format!("{at}.{k}: not understood; ignored"));
            }
        }
        direct
    } else if let Some(f) = files_of(v, at, warn) {
        f
    } else {
        warn.push(format!("{at}: not understood; ignored"));
        return None;
    };
    let mut files = files;
    if ty == "kubernetes.io/tls" {
        // A TLS secret needs `tls.crt` and `tls.key`: keys named after the files map onto them.
        for (k, _) in &mut files {
            let to = if k == "tls.crt" || k == "tls.key" {
                continue;
            } else if k.ends_with(".key") {
                "tls.key"
            } else if [".crt", ".pem", ".cer", ".cert"].iter().any(|x| k.ends_with(x)) {
                "tls.crt"
            } else {
                continue;
            };
            warn.push(format!("{at}: key `{k}` of a kubernetes.io/tls secret is stored as `{to}`"));
            *k = to.to_owned();
        }
    }
    Some(SecretSpec {
        component,
        name,
        namespace,
        ty,
        files,
    })
}

fn looks_like_secret(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.keys().any(|k| FILE_KEYS.contains(&k.as_str()) || k == "type" || k == "namespace"))
        || v.as_object().is_some_and(|m| !m.is_empty() && m.values().all(|x| x.is_string()))
}

fn list_of(a: &[Value], at: &str, warn: &mut Vec<String>) -> Vec<SecretSpec> {
    a.iter()
        .enumerate()
        .filter_map(|(i, s)| secret_of(s, None, None, &format!("{at}[{i}]"), warn))
        .collect()
}

/// Interprets `secrets.yaml` (already parsed); the specs and what could not be understood.
pub fn interpret(doc: &Value, file: &str) -> (Vec<SecretSpec>, Vec<String>) {
    let mut warn = Vec::new();
    let mut specs = Vec::new();
    match doc {
        Value::Array(a) => specs = list_of(a, file, &mut warn),
        Value::Object(top) => {
            for (k, v) in top {
                let at = format!("{file}: {k}");
                match (k.as_str(), v) {
                    ("secrets", Value::Array(a)) => specs.extend(list_of(a, &at, &mut warn)),
                    ("secrets", Value::Object(m)) => {
                        for (name, s) in m {
                            specs.extend(secret_of(s, None, Some(name), &format!("{at}.{name}"), &mut warn));
                        }
                    }
                    (_, Value::Object(_)) if looks_like_secret(v) => {
                        // A secret at the top level (no component).
                        specs.extend(secret_of(v, None, Some(k), &at, &mut warn));
                    }
                    (comp, Value::Object(m)) => {
                        for (name, s) in m {
                            specs.extend(secret_of(s, Some(comp), Some(name), &format!("{at}.{name}"), &mut warn));
                        }
                    }
                    (comp, Value::Array(a)) => {
                        for (i, s) in a.iter().enumerate() {
                            specs.extend(secret_of(s, Some(comp), None, &format!("{at}[{i}]"), &mut warn));
                        }
                    }
                    (_, Value::Null) => {}
                    _ => warn.push(format!("{at}: not a component or a secret; ignored")),
                }
            }
        }
        Value::Null => {}
        _ => warn.push(format!(
            "{file}: expected a mapping or a list of secrets; using the simulator's default secrets"
        )),
    }
    specs.retain(|s| {
        if s.files.is_empty() {
            warn.push(format!("{file}: secret `{}` names no files; it is not generated", s.name));
        }
        !s.files.is_empty()
    });
    (specs, warn)
}

/// The specs of a tools dir's `secrets.yaml` (missing or unreadable: the defaults), with
/// the needed secrets added (or moved to the component whose task applies them) when
/// `secrets.yaml` does not provide them so.
pub fn load(target: &Path) -> (Vec<SecretSpec>, Vec<String>) {
    let path = target.join("secrets.yaml");
    let shown = path.display().to_string();
    let (mut specs, mut warn) = match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
            Vec::new(),
            vec![format!("{shown} not found; using the simulator's default secrets")],
        ),
        Err(e) => (
            Vec::new(),
            vec![format!("cannot read {shown}: {e}; using the simulator's default secrets")],
        ),
        Ok(text) => match serde_saphyr::from_str::<Value>(&text) {
            Ok(doc) => interpret(&doc, &shown),
            Err(e) => (
                Vec::new(),
                vec![format!("{shown} is not valid YAML ({e}); using the simulator's default secrets")],
            ),
        },
    };
    for d in defaults() {
        match specs.iter_mut().find(|s| s.name == d.name) {
            Some(s) if s.component != d.component => {
                warn.push(format!(
                    "{shown}: secret `{}` is under component `{}`; generated for `{}` (the task that applies it in the simulator)",
                    s.name, s.component, d.component
                ));
                s.component = d.component.clone();
            }
            Some(_) => {}
            None => {
                if path.exists() {
                    warn.push(format!(
                        "{shown} does not define secret `{}`; generating it from deploy/sensitive/{} as the simulator's layout does",
                        d.name,
                        d.files.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>().join(" and ")
                    ));
                }
                specs.push(d);
            }
        }
    }
    (specs, warn)
}

/// Where a file reference of `secrets.yaml` points in the tools dir copy.
pub fn resolve(target: &Path, file: &str) -> Option<PathBuf> {
    let tools = target.parent().unwrap_or(target);
    let sensitive = target.join("deploy/sensitive");
    let p = Path::new(file);
    let mut candidates = Vec::new();
    if p.is_absolute() {
        let inside = std::fs::canonicalize(p)
            .ok()
            .zip(std::fs::canonicalize(tools).ok())
            .is_some_and(|(f, t)| f.starts_with(t));
        if inside {
            candidates.push(p.to_owned());
        }
    } else {
        candidates.push(sensitive.join(p));
        candidates.push(target.join(p));
        candidates.push(tools.join(p));
    }
    candidates.push(sensitive.join(base_name(file)));
    candidates.into_iter().find(|c| c.is_file())
}

/// The file a spec's key reads, falling back to the standard file for the secrets the
/// simulated installation needs; with a warning when the reference did not resolve.
pub fn file_for(target: &Path, spec: &SecretSpec, key: &str, file: &str) -> (Option<PathBuf>, Option<String>) {
    if let Some(p) = resolve(target, file) {
        return (Some(p), None);
    }
    let needed = defaults().iter().any(|d| d.name == spec.name);
    if needed && let Some(std_name) = standard_file(key).or_else(|| standard_file(&base_name(file))) {
        let p = target.join("deploy/sensitive").join(std_name);
        if p.is_file() {
            let w = format!(
                "secret `{}`: file `{file}` for `{key}` not found; using deploy/sensitive/{std_name}",
                spec.name
            );
            return (Some(p), Some(w));
        }
    }
    let w = format!("secret `{}`: file `{file}` for `{key}` not found; `{key}` left out", spec.name);
    (None, Some(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    type Summary = (String, String, Vec<(String, String)>);

    fn names(s: &[SecretSpec]) -> Vec<Summary> {
        s.iter().map(|s| (s.component.clone(), s.name.clone(), s.files.clone())).collect()
    }

    #[test]
    fn the_simulators_layout() {
        let doc: Value = serde_saphyr::from_str(super::super::toolsdir::SECRETS_YAML).unwrap();
        let (specs, warn) = interpret(&doc, "secrets.yaml");
        assert!(warn.is_empty(), "{warn:?}");
        let sorted = |mut v: Vec<SecretSpec>| {
            for s in &mut v {
                s.files.sort();
            }
            v.sort_by(|a, b| a.name.cmp(&b.name));
            v
        };
        assert_eq!(sorted(specs), sorted(defaults()));
    }

    #[test]
    fn a_list_layout_with_file_lists_and_paths() {
        let doc = json!({"secrets": [
            {"name": "vantiq-license", "files": ["deploy/sensitive/public.pem", {"key": "license.key", "path": "deploy/sensitive/license.key"}]},
            {"name": "default-ssl-cert", "namespace": "shared", "type": "kubernetes.io/tls",
             "data": {"tls.crt": {"file": "fullchain.crt"}, "tls.key": "private.key"}},
            {"files": {"x": "y"}},
            {"name": "grafana", "component": "shared", "files": 42},
        ]});
        let (specs, warn) = interpret(&doc, "s.yaml");
        assert_eq!(
            names(&specs),
            [
                (
                    "vantiq".into(),
                    "vantiq-license".into(),
                    vec![
                        ("public.pem".into(), "deploy/sensitive/public.pem".into()),
                        ("license.key".into(), "deploy/sensitive/license.key".into())
                    ]
                ),
                (
                    "nginx".into(),
                    "default-ssl-cert".into(),
                    vec![("tls.crt".into(), "fullchain.crt".into()), ("tls.key".into(), "private.key".into())]
                ),
            ]
        );
        assert_eq!(specs[1].namespace.as_deref(), Some("shared"));
        assert!(warn.iter().any(|w| w.contains("without a name")), "{warn:?}");
        assert!(warn.iter().any(|w| w.contains("files") && w.contains("ignored")), "{warn:?}");
        assert!(warn.iter().any(|w| w.contains("`grafana` names no files")), "{warn:?}");
    }

    #[test]
    fn tls_secrets_listing_files_get_tls_keys() {
        let doc = json!({"secrets": [{"name": "vantiq-ssl-cert", "type": "kubernetes.io/tls", "files": ["fullchain.crt", "private.key"]}]});
        let (specs, warn) = interpret(&doc, "s.yaml");
        assert_eq!(
            specs[0].files,
            [("tls.crt".into(), "fullchain.crt".into()), ("tls.key".into(), "private.key".into())]
        );
        assert_eq!(warn.len(), 2, "{warn:?}");
    }

    #[test]
    fn flat_secrets_and_nonsense_are_tolerated() {
        let doc = json!({"vantiq-license": {"public.pem": "public.pem", "license.key": "license.key"}, "version": 3});
        let (specs, warn) = interpret(&doc, "s.yaml");
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].component, "vantiq");
        assert!(warn.iter().any(|w| w.contains("version")), "{warn:?}");
        let (specs, warn) = interpret(&json!("just a string"), "s.yaml");
        assert!(specs.is_empty() && warn.len() == 1);
    }

    #[test]
    fn references_resolve_inside_the_copy_only() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("tools/targetCluster");
        std::fs::create_dir_all(target.join("deploy/sensitive/lic")).unwrap();
        std::fs::write(target.join("deploy/sensitive/license.key"), "k").unwrap();
        std::fs::write(target.join("deploy/sensitive/lic/public.pem"), "p").unwrap();
        let outside = d.path().join("outside.key");
        std::fs::write(&outside, "secret elsewhere").unwrap();
        let sens = target.join("deploy/sensitive");
        assert_eq!(resolve(&target, "license.key"), Some(sens.join("license.key")));
        assert_eq!(resolve(&target, "deploy/sensitive/license.key"), Some(sens.join("license.key")));
        assert_eq!(
            resolve(&target, "targetCluster/deploy/sensitive/license.key"),
            Some(sens.join("license.key"))
        );
        assert_eq!(resolve(&target, "lic/public.pem"), Some(sens.join("lic/public.pem")));
        assert_eq!(
            resolve(&target, &sens.join("license.key").display().to_string()),
            Some(sens.join("license.key"))
        );
        assert_eq!(resolve(&target, &outside.display().to_string()), None, "never outside the copy");
        assert_eq!(resolve(&target, "/somewhere/else/license.key"), Some(sens.join("license.key")));
        let spec = &defaults()[1];
        let (p, w) = file_for(&target, spec, "public.pem", "missing/pub.pem");
        assert!(p.is_none() && w.unwrap().contains("left out"));
        std::fs::write(sens.join("public.pem"), "p").unwrap();
        let (p, w) = file_for(&target, spec, "public.pem", "missing/pub.pem");
        assert_eq!(p, Some(sens.join("public.pem")));
        assert!(w.unwrap().contains("using deploy/sensitive/public.pem"));
        assert_eq!(
            file_for(&target, spec, "license.key", "license.key"),
            (Some(sens.join("license.key")), None)
        );
    }
}
