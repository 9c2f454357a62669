//! Which installation a run acts on: plain data, resolved once before anything runs
//! (`run::target`) and never changed during a run.

use std::path::PathBuf;

use serde::Serialize;

/// Which cluster, namespace and tools dir a run acts on.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Target {
    /// The `k8sdeploy_tools` checkout (`./gradlew` lives here); relative script paths resolve here.
    pub tools_dir: Option<PathBuf>,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// The Vantiq namespace (`vantiq.installation`).
    pub namespace: String,
    /// The `-Pcluster` value (targetCluster's branch).
    pub cluster: Option<String>,
    /// API server URLs the kubeconfig's credentials may be sent to over plain http
    /// (`[kubernetes] allow_insecure_http_credentials` in vscript.toml).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_credentials_allowed: Vec<String>,
}
