//! A small synchronous Kubernetes client set-up from a kubeconfig, for the simulator's
//! own helper processes (the `gradlew` shim talks to the API server as k8sdeploy_tools'
//! helm and kubectl do: with the kubeconfig's server, CA and user).
//!
//! Supported: the current context's cluster (`server`, `certificate-authority-data` or
//! `certificate-authority`, `insecure-skip-tls-verify` is refused) and user (`token`,
//! `tokenFile`, `client-certificate[-data]` + `client-key[-data]`, `exec` plugins of
//! `client.authentication.k8s.io/v1` and `v1beta1`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use serde_json::Value;

/// Where and how to send requests.
pub struct KubeAccess {
    /// The API server URL, without a trailing slash.
    pub server: String,
    pub agent: ureq::Agent,
    /// The `Authorization` header value, if the user has a bearer token.
    pub authorization: Option<String>,
}

fn b64(s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .context("invalid base64 in the kubeconfig")
}

/// Inline `<field>-data` (base64) or the file `<field>` (relative to the kubeconfig).
fn data_or_file(v: &Value, field: &str, base: &Path) -> Result<Option<Vec<u8>>> {
    if let Some(d) = v[format!("{field}-data")].as_str() {
        return Ok(Some(b64(d)?));
    }
    if let Some(f) = v[field].as_str() {
        let p = base.join(f);
        return Ok(Some(std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?));
    }
    Ok(None)
}

fn named<'a>(kc: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    kc[list].as_array()?.iter().find(|x| x["name"] == name)
}

/// Runs an exec credential plugin and returns its `ExecCredential.status`.
fn exec_credential(exec: &Value, base: &Path) -> Result<Value> {
    let command = exec["command"].as_str().context("exec plugin without a command")?;
    let api_version = exec["apiVersion"].as_str().unwrap_or("client.authentication.k8s.io/v1");
    let mut cmd = std::process::Command::new(command);
    cmd.current_dir(base);
    for a in exec["args"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        cmd.arg(a);
    }
    for e in exec["env"].as_array().into_iter().flatten() {
        if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
            cmd.env(k, v);
        }
    }
    cmd.env(
        "KUBERNETES_EXEC_INFO",
        serde_json::json!({"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": false}}).to_string(),
    );
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run the credential plugin {command}"))?;
    if !out.status.success() {
        bail!("the credential plugin {command} failed ({})", out.status);
    }
    let cred: Value =
        serde_json::from_slice(&out.stdout).with_context(|| format!("the credential plugin {command} printed no ExecCredential"))?;
    Ok(cred["status"].clone())
}

/// Reads `path` and prepares an agent for its current context.
pub fn access(path: &Path) -> Result<KubeAccess> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let kc: Value = serde_saphyr::from_str(&text).with_context(|| format!("{} is not YAML", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let current = kc["current-context"].as_str().unwrap_or("");
    let ctx = named(&kc, "contexts", current).map(|c| &c["context"]);
    let cluster = match ctx.and_then(|c| c["cluster"].as_str()) {
        Some(n) => named(&kc, "clusters", n),
        None => kc["clusters"].as_array().and_then(|a| a.first()),
    }
    .map(|c| &c["cluster"])
    .context("kubeconfig has no cluster")?;
    let server = cluster["server"]
        .as_str()
        .context("kubeconfig has no server")?
        .trim_end_matches('/')
        .to_owned();
    let user = match ctx.and_then(|c| c["user"].as_str()) {
        Some(n) => named(&kc, "users", n).map(|u| &u["user"]),
        None => None,
    }
    .cloned()
    .unwrap_or(Value::Null);

    let mut authorization = None;
    let mut client_cert: Option<(Vec<u8>, Vec<u8>)> = None;
    if let Some(t) = user["token"].as_str() {
        authorization = Some(format!("Bearer {t}"));
    } else if let Some(f) = user["tokenFile"].as_str() {
        let t = std::fs::read_to_string(base.join(f)).with_context(|| format!("cannot read the token file {f}"))?;
        authorization = Some(format!("Bearer {}", t.trim()));
    } else if user["exec"].is_object() {
        let status = exec_credential(&user["exec"], base)?;
        if let Some(t) = status["token"].as_str() {
            authorization = Some(format!("Bearer {t}"));
        } else if let (Some(c), Some(k)) = (status["clientCertificateData"].as_str(), status["clientKeyData"].as_str()) {
            client_cert = Some((c.as_bytes().to_vec(), k.as_bytes().to_vec()));
        }
    }
    if client_cert.is_none()
        && let (Some(c), Some(k)) = (
            data_or_file(&user, "client-certificate", base)?,
            data_or_file(&user, "client-key", base)?,
        )
    {
        client_cert = Some((c, k));
    }

    let mut builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)));
    if server.starts_with("https://") {
        if cluster["insecure-skip-tls-verify"].as_bool() == Some(true) {
            bail!("kubeconfig cluster has insecure-skip-tls-verify: refused");
        }
        use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
        let ca = data_or_file(cluster, "certificate-authority", base)?.context("kubeconfig cluster has no certificate-authority")?;
        let roots: Vec<Certificate<'static>> = ureq::tls::parse_pem(&ca)
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if roots.is_empty() {
            bail!("the kubeconfig's certificate-authority holds no certificate");
        }
        let mut tls = TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
        if let Some((cert, key)) = &client_cert {
            let chain: Vec<Certificate<'static>> = ureq::tls::parse_pem(cert)
                .filter_map(|i| match i {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            let key = PrivateKey::from_pem(key).context("the kubeconfig's client key is not a PEM private key")?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        builder = builder.tls_config(tls.build());
    } else {
        // No TLS is used, but the agent must never look for a process-wide crypto provider.
        builder = builder.tls_config(
            ureq::tls::TlsConfig::builder()
                .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .build(),
        );
    }
    Ok(KubeAccess {
        server,
        agent: builder.build().into(),
        authorization,
    })
}
