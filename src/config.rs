//! `vscript.toml`: per-customer settings kept in the tools dir, validated on load.
//!
//! ```toml
//! allowed_contexts = ["acme-prod"]      # refuse any other kube context
//! [vantiq]
//! url = "https://vantiq.acme.example.com"
//! user = "ops-check"                    # the IDE login check: GET /authenticate (Basic)
//! password_file = "/secure/acme-vantiq-password"   # never printed
//! [kubernetes]
//! allow_insecure_http_credentials = []  # API server URLs credentials may go to over plain http
//! [license]
//! format = "jwt-es256"                  # optional: how to read license.key (default: opaque)
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
    #[serde(default)]
    pub license: LicenseConfig,
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
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    #[serde(default)]
    pub output: OutputConfig,
}

/// `[kubernetes]`: how vscript may talk to the API server beyond the kubeconfig.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// API server URLs (`http://10.0.0.5:8080`) the kubeconfig's token, password or
    /// credential plugin may be sent to over plain http, where anyone on the path reads
    /// them. Empty by default: such a kubeconfig is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_insecure_http_credentials: Vec<String>,
}

/// `[output]`: how a run shows itself.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Without a terminal, a progress line is written at least this often while a wait goes
    /// on (seconds, default 10).
    pub progress_seconds: Option<f64>,
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

/// How vscript reaches the Vantiq server (`[vantiq]`). The login follows the public Vantiq
/// SDKs: `GET /authenticate` with HTTP Basic `user:password` answers `{accessToken, …}`;
/// authenticated calls send `Authorization: Bearer <token>` to `/api/v1/resources/…`.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VantiqConfig {
    pub url: Option<String>,
    pub connect: Option<String>,
    pub ca: Option<PathBuf>,
    /// The user the IDE login check authenticates as.
    pub user: Option<String>,
    /// A file holding that user's password (first line; never printed).
    pub password_file: Option<PathBuf>,
    /// An environment variable holding that user's password.
    pub password_env: Option<String>,
    /// A file holding a long-lived access token (instead of user and password).
    pub token_file: Option<PathBuf>,
    /// An environment variable holding a long-lived access token.
    pub token_env: Option<String>,
    /// The resource the login check counts (`GET /api/v1/resources/<resource>?count=true`).
    pub check_resource: Option<String>,
    /// Send credentials over plain `http://` (they travel unencrypted). Off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_http_credentials: bool,
    /// An endpoint the public SDKs do not show that gives the server version and license
    /// facts the IDE's About dialog shows (`[vantiq.about]`).
    pub about: Option<AboutConfig>,
}

/// `[vantiq.about]`: `GET <path>` with the access token answers a JSON object; the other
/// keys name the fields (dotted paths) holding each fact.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AboutConfig {
    pub path: String,
    #[serde(default = "AboutConfig::default_version")]
    pub server_version: String,
    #[serde(default = "AboutConfig::default_expiration")]
    pub license_expiration: String,
    #[serde(default = "AboutConfig::default_issued_to")]
    pub license_issued_to: String,
    #[serde(default = "AboutConfig::default_id")]
    pub license_id: String,
}

impl AboutConfig {
    fn default_version() -> String {
        "serverBuildVersion".into()
    }
    fn default_expiration() -> String {
        "licenseExpiration".into()
    }
    fn default_issued_to() -> String {
        "licenseIssuedTo".into()
    }
    fn default_id() -> String {
        "licenseId".into()
    }
    /// An endpoint at `path` with the default field names.
    pub fn at(path: &str) -> AboutConfig {
        AboutConfig {
            path: path.to_owned(),
            server_version: Self::default_version(),
            license_expiration: Self::default_expiration(),
            license_issued_to: Self::default_issued_to(),
            license_id: Self::default_id(),
        }
    }
}

/// The license formats vscript can verify itself (`[license] format`).
pub const LICENSE_FORMATS: &[&str] = &["opaque", "jwt-es256", "command"];

/// `[license]`: how `license.key` is verified beyond the checks that hold for every format.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseConfig {
    /// `opaque` (the default: nothing format-specific), `jwt-es256`, or `command`.
    pub format: Option<String>,
    /// An external checker: argv, `{public_pem}` and `{license_key}` replaced by the paths.
    pub check_command: Option<Vec<String>>,
    /// Seconds the checker may take (default 60).
    pub check_timeout: Option<u64>,
}

impl LicenseConfig {
    /// The effective format name.
    pub fn format(&self) -> &str {
        match (&self.format, &self.check_command) {
            (Some(f), _) => f,
            (None, Some(_)) => "command",
            (None, None) => "opaque",
        }
    }
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
        cfg.vantiq.validate().map_err(|e| err(format!("[vantiq] {e}")))?;
        cfg.license.validate().map_err(|e| err(format!("[license] {e}")))?;
        if let Some(s) = cfg.output.progress_seconds
            && !(0.1..=3600.0).contains(&s)
        {
            return Err(err(format!("[output] `progress_seconds` must be between 0.1 and 3600, not {s}")));
        }
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
            // Where the credentials are is no business of scripts: the http module reads them.
            if let Some(vq) = m.get_mut("vantiq").and_then(Value::as_object_mut) {
                for k in ["token_file", "token_env", "password_file", "password_env"] {
                    vq.remove(k);
                }
            }
        }
        walk("", &v, &mut out);
        out
    }
}

impl VantiqConfig {
    fn validate(&self) -> Result<(), String> {
        let password = self.password_file.is_some() || self.password_env.is_some();
        let token = self.token_file.is_some() || self.token_env.is_some();
        if self.password_file.is_some() && self.password_env.is_some() {
            return Err("set one of `password_file` and `password_env`, not both".into());
        }
        if self.token_file.is_some() && self.token_env.is_some() {
            return Err("set one of `token_file` and `token_env`, not both".into());
        }
        if password && token {
            return Err("set either `user` with `password_file`/`password_env` or `token_file`/`token_env`, not both".into());
        }
        if password && self.user.as_deref().is_none_or(|u| u.trim().is_empty()) {
            return Err("`password_file`/`password_env` needs `user` (the user the login check authenticates as)".into());
        }
        if self.user.is_some() && !password {
            return Err("`user` needs `password_file` or `password_env` (where its password is)".into());
        }
        for (k, v) in [("password_env", &self.password_env), ("token_env", &self.token_env)] {
            if v.as_deref().is_some_and(|n| n.is_empty() || n.contains('=')) {
                return Err(format!("`{k}` must be the name of an environment variable"));
            }
        }
        if let Some(url) = &self.url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "https" | "http") && u.host_str().is_some() => {}
                _ => return Err(format!("`url` must be an https:// URL, not `{url}`")),
            }
        }
        if let Some(r) = &self.check_resource
            && (r.is_empty() || r.contains(['/', '?', '#', ' ']))
        {
            return Err(format!(
                "`check_resource` must be a resource name like `types` or `users`, not `{r}`"
            ));
        }
        if let Some(a) = &self.about
            && !a.path.starts_with('/')
        {
            return Err(format!("`about.path` must start with `/`, not `{}`", a.path));
        }
        Ok(())
    }
}

impl LicenseConfig {
    fn validate(&self) -> Result<(), String> {
        if let Some(f) = &self.format
            && !LICENSE_FORMATS.contains(&f.as_str())
        {
            return Err(format!("unknown `format` `{f}` (known: {})", LICENSE_FORMATS.join(", ")));
        }
        match (self.format(), &self.check_command) {
            ("command", None) => Err("`format = \"command\"` needs `check_command`".into()),
            ("command", Some(c)) if c.is_empty() || c[0].trim().is_empty() => {
                Err("`check_command` must name a program: `[\"/path/to/checker\", \"{public_pem}\", \"{license_key}\"]`".into())
            }
            (f, Some(_)) if f != "command" => Err(format!("`check_command` is used with `format = \"command\"`, not `{f}`")),
            _ => Ok(()),
        }
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
    fn progress_seconds_must_be_a_sensible_interval() {
        let ok = Config::parse("[output]\nprogress_seconds = 5\n", Path::new("vscript.toml")).unwrap();
        assert_eq!(ok.output.progress_seconds, Some(5.0));
        let e = Config::parse("[output]\nprogress_seconds = 0\n", Path::new("vscript.toml")).unwrap_err();
        assert!(e.reason.contains("progress_seconds"), "{e}");
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

    #[test]
    fn vantiq_credentials_must_be_complete_and_unambiguous() {
        let p = |t: &str| Config::parse(t, Path::new("vscript.toml"));
        let c = p("[vantiq]\nurl = \"https://v.example\"\nuser = \"ops\"\npassword_env = \"VQ_PW\"\n").unwrap();
        assert_eq!(c.vantiq.user.as_deref(), Some("ops"));
        assert!(
            !c.flatten().contains_key("vantiq.password_env"),
            "credential locations are not settings"
        );
        for (bad, why) in [
            ("[vantiq]\nuser = \"ops\"\n", "`user` needs `password_file` or `password_env`"),
            ("[vantiq]\npassword_file = \"pw\"\n", "needs `user`"),
            ("[vantiq]\nuser = \"o\"\npassword_file = \"pw\"\npassword_env = \"X\"\n", "not both"),
            (
                "[vantiq]\nuser = \"o\"\npassword_file = \"pw\"\ntoken_file = \"t\"\n",
                "either `user`",
            ),
            ("[vantiq]\nurl = \"ftp://x\"\n", "https:// URL"),
            ("[vantiq]\ncheck_resource = \"types?x\"\n", "resource name"),
            ("[vantiq.about]\npath = \"api/v1/about\"\n", "start with `/`"),
        ] {
            let e = p(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let c = p("[vantiq.about]\npath = \"/api/v1/about\"\nlicense_id = \"license.id\"\n").unwrap();
        let a = c.vantiq.about.unwrap();
        assert_eq!(
            (a.server_version.as_str(), a.license_id.as_str()),
            ("serverBuildVersion", "license.id")
        );
    }

    #[test]
    fn license_format_is_opaque_unless_configured() {
        let p = |t: &str| Config::parse(t, Path::new("vscript.toml"));
        assert_eq!(p("").unwrap().license.format(), "opaque");
        assert_eq!(p("[license]\nformat = \"jwt-es256\"\n").unwrap().license.format(), "jwt-es256");
        assert_eq!(
            p("[license]\ncheck_command = [\"/bin/chk\"]\n").unwrap().license.format(),
            "command"
        );
        for (bad, why) in [
            (
                "[license]\nformat = \"jwt\"\n",
                "unknown `format` `jwt` (known: opaque, jwt-es256, command)",
            ),
            ("[license]\nformat = \"command\"\n", "needs `check_command`"),
            ("[license]\ncheck_command = []\n", "must name a program"),
            (
                "[license]\nformat = \"jwt-es256\"\ncheck_command = [\"x\"]\n",
                "is used with `format = \"command\"`",
            ),
        ] {
            let e = p(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
