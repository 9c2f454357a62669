//! Secret values: the data of Kubernetes Secrets, the contents of key, license, token and
//! password files and of the generated secrets, credentials in a kubeconfig.
//!
//! A secret is a value of its own type in a script. It shows as
//! `<secret: N bytes, sha256 0123456789ab…>` wherever it is printed, journaled, put in a
//! report or `--output json`; it has no string or blob operations, so nothing derived from
//! it can show its bytes. Only explicit primitives consume it: writing a file, comparing
//! (`==`), fingerprinting (`sha256`), its length.

use std::sync::Arc;

use rhai::{Dynamic, Engine};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<Vec<u8>>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(Arc::new(bytes.into()))
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
    /// The SHA-256 of the bytes, lowercase hex.
    pub fn sha256(&self) -> String {
        Sha256::digest(self.bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
    /// What is shown instead of the value.
    pub fn label(&self) -> String {
        format!("<secret: {} bytes, sha256 {}…>", self.0.len(), &self.sha256()[..12])
    }
    /// The forms the bytes can take in output (raw text, its lines, base64) for the
    /// redactor, which catches any copy that escapes the type.
    pub fn forms(&self) -> Vec<String> {
        use base64::Engine as _;
        let mut v = vec![String::from_utf8_lossy(self.bytes()).into_owned()];
        v.push(base64::engine::general_purpose::STANDARD.encode(self.bytes()));
        v
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// A script value as JSON, secrets as their label (the journal, reports, the REPL).
pub fn to_json(v: &Dynamic) -> Value {
    if let Some(s) = v.read_lock::<Secret>() {
        return Value::String(s.label());
    }
    if v.is_map() {
        let m = v.read_lock::<rhai::Map>().expect("a map");
        return Value::Object(m.iter().map(|(k, x)| (k.to_string(), to_json(x))).collect());
    }
    if v.is_array() {
        let a = v.read_lock::<rhai::Array>().expect("an array");
        return Value::Array(a.iter().map(to_json).collect());
    }
    rhai::serde::from_dynamic::<Value>(v).unwrap_or_else(|_| Value::String(format!("<{}>", v.type_name())))
}

/// Whether a value is or holds a secret.
pub fn holds_secret(v: &Dynamic) -> bool {
    if v.is::<Secret>() {
        return true;
    }
    if let Some(m) = v.read_lock::<rhai::Map>() {
        return m.values().any(holds_secret);
    }
    if let Some(a) = v.read_lock::<rhai::Array>() {
        return a.iter().any(holds_secret);
    }
    false
}

/// Registers the type and what a script may do with a secret.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Secret>("Secret")
        .register_fn("to_string", |s: &mut Secret| s.label())
        .register_fn("to_debug", |s: &mut Secret| s.label())
        .register_fn("len", |s: &mut Secret| s.bytes().len() as i64)
        .register_fn("sha256", |s: &mut Secret| s.sha256())
        .register_fn("is_secret", |_: Dynamic| false)
        .register_fn("is_secret", |_: &mut Secret| true)
        .register_fn("==", |a: &mut Secret, b: Secret| *a == b)
        .register_fn("!=", |a: &mut Secret, b: Secret| *a != b)
        .register_fn("==", |a: &mut Secret, b: &str| a.bytes() == b.as_bytes())
        .register_fn("!=", |a: &mut Secret, b: &str| a.bytes() != b.as_bytes())
        .register_fn("==", |a: &str, b: Secret| b.bytes() == a.as_bytes())
        .register_fn("!=", |a: &str, b: Secret| b.bytes() != a.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_its_size_and_fingerprint_only() {
        let mut e = Engine::new();
        register(&mut e);
        let mut scope = rhai::Scope::new();
        scope.push("s", Secret::new("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n"));
        let shown: String = e.eval_with_scope(&mut scope, r#"`${s} ${s.len()}`"#).unwrap();
        assert!(shown.starts_with("<secret: 43 bytes, sha256 "), "{shown}");
        assert!(!shown.contains("PRIVATE"));
        for op in ["s.to_upper()", "s.sub_string(1)", "s.to_blob()", "s.split(\"\\n\")", "s.to_chars()"] {
            assert!(
                e.eval_with_scope::<Dynamic>(&mut scope, op).is_err(),
                "{op} must not work on a secret"
            );
        }
        // Joined with a string, a secret is its label.
        let joined: String = e.eval_with_scope(&mut scope, r#"s + "x""#).unwrap();
        assert!(joined.starts_with("<secret: ") && !joined.contains("MIIE"), "{joined}");
        assert!(
            e.eval_with_scope::<bool>(&mut scope, r#"s == "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n""#)
                .unwrap()
        );
        let m: Dynamic = e.eval_with_scope(&mut scope, "#{ data: #{ k: s }, n: 1 }").unwrap();
        let j = to_json(&m).to_string();
        assert!(j.contains("<secret: 43 bytes") && !j.contains("MIIE"), "{j}");
    }
}
