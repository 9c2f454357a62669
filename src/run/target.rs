//! Working out the target of a run from the flags and the tools dir: one reader per
//! format — `cluster.properties` through the `props` module (Java semantics: the last
//! duplicate wins, ISO-8859-1 bytes, escapes), the kubeconfig through kube's `Kubeconfig`.

use std::path::{Path, PathBuf};

use super::outcome::Failure;
use crate::files::props;
use crate::target::Target;

/// What the operator said about the target (flags, environment).
#[derive(Debug, Clone, Default)]
pub struct TargetSpec {
    /// The k8sdeploy_tools checkout (default: the current dir if it has targetCluster/).
    pub tools: Option<PathBuf>,
    /// `-Pcluster` (default: targetCluster's git branch; must agree with it when both exist).
    pub cluster: Option<String>,
    /// The Vantiq namespace (default: `vantiq.installation` in cluster.properties).
    pub namespace: Option<String>,
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    /// Run against a built-in simulated cluster.
    pub rehearse: bool,
    /// Simulator speed for a rehearsal.
    pub speed: Option<f64>,
}

/// `vantiq.installation` as gradle and Java read it (the last occurrence wins).
pub fn installation_namespace(cluster_properties: &Path) -> Result<Option<String>, Failure> {
    let text = match props::load(cluster_properties) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Failure::usage(format!("cannot read {}: {e}", cluster_properties.display()))),
    };
    props::validate(&text).map_err(|e| Failure::usage(format!("{}: {e}", cluster_properties.display())))?;
    Ok(props::get(&text, "vantiq.installation").map(|v| v.trim().to_owned()))
}

/// Works out the target from flags and the tools dir (`tools` overrides the flags' tools
/// dir: a rehearsal's copy).
pub fn resolve(spec: &TargetSpec, tools: Option<PathBuf>) -> Result<Target, Failure> {
    let tools = match tools.or_else(|| spec.tools.clone()) {
        Some(t) => {
            if !t.is_dir() {
                return Err(Failure::usage(format!("tools dir `{}` does not exist", t.display())));
            }
            Some(std::fs::canonicalize(&t).unwrap_or(t))
        }
        None => {
            let cwd = std::env::current_dir().unwrap_or_default();
            cwd.join("targetCluster").is_dir().then_some(cwd)
        }
    };
    let tc = tools.as_ref().map(|t| t.join("targetCluster"));
    let properties = tc.as_ref().map(|d| d.join("cluster.properties")).filter(|p| p.exists());
    let namespace = match (&spec.namespace, &properties) {
        (Some(n), _) => n.clone(),
        (None, Some(p)) => match installation_namespace(p)? {
            Some(n) if !n.is_empty() => n,
            _ => {
                return Err(Failure::usage(format!(
                    "{} sets no vantiq.installation: the Vantiq namespace is unknown (set it there, or pass --namespace)",
                    p.display()
                )));
            }
        },
        // No tools dir: an ad-hoc script or the console.
        (None, None) => std::env::var("VSCRIPT_NAMESPACE").unwrap_or_else(|_| "default".into()),
    };
    let kubeconfig = spec
        .kubeconfig
        .clone()
        .or_else(|| tc.as_ref().map(|d| d.join("kubeconfig")).filter(|p| p.is_file()));
    let branch = tc.as_ref().and_then(|d| crate::git::client::branch(d));
    if let (Some(flag), Some(b)) = (&spec.cluster, &branch)
        && flag != b
    {
        return Err(Failure::usage(format!(
            "--cluster {flag} does not match targetCluster's branch `{b}`: gradle would use another cluster's settings"
        )));
    }
    Ok(Target {
        tools_dir: tools,
        kubeconfig,
        context: spec.context.clone(),
        namespace,
        cluster: spec.cluster.clone().or(branch),
        http_credentials_allowed: Vec::new(),
    })
}

/// The kube context a run will use (for the allow-list and the banner): the flag, else
/// the kubeconfig's current context.
pub fn effective_context(t: &Target) -> Option<String> {
    if t.context.is_some() {
        return t.context.clone();
    }
    let kc = kube::config::Kubeconfig::read_from(t.kubeconfig.as_ref()?).ok()?;
    kc.current_context
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(props: &[u8], branch: Option<&str>) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let tc = d.path().join("targetCluster");
        std::fs::create_dir_all(tc.join(".git")).unwrap();
        std::fs::write(tc.join("cluster.properties"), props).unwrap();
        if let Some(b) = branch {
            std::fs::write(tc.join(".git/HEAD"), format!("ref: refs/heads/{b}\n")).unwrap();
        }
        d
    }

    fn spec(d: &tempfile::TempDir) -> TargetSpec {
        TargetSpec {
            tools: Some(d.path().to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn the_namespace_is_the_last_vantiq_installation_as_java_reads_it() {
        let d = tools(
            b"vantiq.installation=old\n# \x95\xdb\x8e\xe7\nvantiq.installation = acme\n",
            Some("acme-prod"),
        );
        let t = resolve(&spec(&d), None).unwrap();
        assert_eq!(t.namespace, "acme");
        assert_eq!(t.cluster.as_deref(), Some("acme-prod"));
    }

    #[test]
    fn a_missing_installation_is_an_error_not_default() {
        let d = tools(b"vantiq_system_release=3.10.0\n", Some("acme-prod"));
        let e = resolve(&spec(&d), None).unwrap_err();
        assert!(e.message.contains("no vantiq.installation"), "{}", e.message);
    }

    #[test]
    fn a_cluster_flag_that_contradicts_the_branch_is_refused() {
        let d = tools(b"vantiq.installation=acme\n", Some("acme-prod"));
        let mut s = spec(&d);
        s.cluster = Some("acme-stg".into());
        let e = resolve(&s, None).unwrap_err();
        assert!(
            e.message.contains("does not match targetCluster's branch `acme-prod`"),
            "{}",
            e.message
        );
        s.cluster = Some("acme-prod".into());
        assert!(resolve(&s, None).is_ok());
    }
}
