//! `vscript.toml`: per-customer settings kept in the tools dir, validated on load.
//!
//! ```toml
//! allowed_contexts = ["acme-prod"]      # refuse any other kube context
//! [vantiq]
//! url = "https://vantiq.acme.example.com"
//! token_file = "/secure/acme-token"     # never printed
//! [params]                              # defaults for every procedure
//! backup_timeout = "3600"
//! [params.minor_upgrade]                # defaults for one procedure
//! release = "3.11.0"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The file's schema; unknown keys are errors.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Kube contexts a run may target; empty = any.
    #[serde(default)]
    pub allowed_contexts: Vec<String>,
    #[serde(default)]
    pub vantiq: VantiqConfig,
    /// Which optional components the installation has (overrides what deploy.yaml says).
    #[serde(default)]
    pub components: BTreeMap<String, bool>,
    /// Default parameters: plain keys apply to every procedure, tables to the named one.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// Where scripts may read and write beyond the tools dir (see docs/safety.md).
    #[serde(default)]
    pub files: FilesConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// `[files]`: more places scripts may read or write. Scripts read the tools dir, the run's
/// temp dir and the files passed as parameters, and write `targetCluster/` and the temp
/// dir; these open more, deliberately.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    #[serde(default)]
    pub allow_read: Vec<PathBuf>,
    #[serde(default)]
    pub allow_write: Vec<PathBuf>,
}

/// `[limits]`.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Seconds a script may compute, waits excluded, before it is stopped as a runaway loop (default 10).
    pub cpu_seconds: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VantiqConfig {
    pub url: Option<String>,
    pub connect: Option<String>,
    pub ca: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
}

/// A `vscript.toml` that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    pub path: String,
    pub reason: String,
}

impl Config {
    /// Loads `DIR/vscript.toml` when it exists (the default config otherwise).
    pub fn load(tools_dir: &Path) -> Result<Config, ConfigError> {
        let path = tools_dir.join("vscript.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigError {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let err = |reason: String| ConfigError {
            path: path.display().to_string(),
            reason,
        };
        let cfg: Config = toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_owned()))?;
        for (k, v) in &cfg.params {
            match v {
                toml::Value::Table(t) => {
                    for (kk, vv) in t {
                        if vv.is_table() || vv.is_array() {
                            return Err(err(format!("params.{k}.{kk}: expected a string, number or boolean")));
                        }
                    }
                }
                toml::Value::Array(_) => return Err(err(format!("params.{k}: expected a string, number, boolean or a table of them"))),
                _ => {}
            }
        }
        Ok(cfg)
    }

    /// Default parameters for a procedure: global ones, then the procedure's own.
    pub fn params_for(&self, script: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let plain = |v: &toml::Value| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        for (k, v) in &self.params {
            if !v.is_table() {
                out.insert(k.clone(), plain(v));
            }
        }
        if let Some(toml::Value::Table(t)) = self.params.get(script) {
            for (k, v) in t {
                out.insert(k.clone(), plain(v));
            }
        }
        out
    }

    /// Settings as dotted keys, for `setting("vantiq.url")`.
    pub fn flatten(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
            if let Value::Object(m) = v {
                for (k, x) in m {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, x, out);
                }
            }
            if !prefix.is_empty() && !v.is_null() {
                out.insert(prefix.to_owned(), v.clone());
            }
        }
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(m) = v.as_object_mut() {
            m.remove("params");
            if let Some(vq) = m.get_mut("vantiq").and_then(Value::as_object_mut) {
                vq.remove("token_file");
            }
        }
        walk("", &v, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_rejected_with_its_line() {
        let e = Config::parse("[vantiq]\nurl = \"https://x\"\nurll = 3\n", Path::new("vscript.toml")).unwrap_err();
        assert!(e.reason.contains("line 3"), "{e}");
        assert!(e.reason.contains("urll"), "{e}");
    }

    #[test]
    fn wrong_type_is_rejected() {
        let e = Config::parse("allowed_contexts = \"prod\"\n", Path::new("vscript.toml")).unwrap_err();
        assert!(e.reason.contains("line 1"), "{e}");
    }

    #[test]
    fn params_merge_global_then_procedure() {
        let c = Config::parse(
            "[params]\ntimeout = 60\n[params.minor_upgrade]\ntag = \"1.31.0\"\ntimeout = 90\n",
            Path::new("x"),
        )
        .unwrap();
        let p = c.params_for("minor_upgrade");
        assert_eq!(p["tag"], "1.31.0");
        assert_eq!(p["timeout"], "90");
        assert_eq!(c.params_for("license_renew")["timeout"], "60");
    }
}
