//! Starting and stopping a whole simulated installation: PKI, tools dir, seeded store,
//! controllers, the Kubernetes API on loopback (HTTPS with its own cluster CA,
//! authentication and RBAC), the `/__sim/` admin routes on a separate plain-HTTP
//! loopback listener, the HTTPS Vantiq endpoint, and the files a client needs
//! (`kubeconfig`, `kubeconfig-cert`, `kubeconfig-exec`, `cluster-ca.crt`,
//! `serviceaccount/`, `sim.json`, `ca.crt`, `vantiq-token`, `vantiq-password`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{SeedOptions, Violation, World, admin, https, invariants, license, pki, secretspec, seed, toolsdir, vantiq};
use crate::store::{Store, res};

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Where everything is written (created when missing).
    pub dir: PathBuf,
    /// API port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Every realistic delay is divided by this (default 60).
    pub speed: f64,
    /// An existing k8sdeploy_tools checkout to copy (never modified) and seed from.
    pub tools: Option<PathBuf>,
    /// The command the generated `gradlew` execs, before the gradle args:
    /// e.g. `["/abs/path/vscript", "sim", "gradle"]`.
    pub gradle_cmd: Vec<String>,
    /// The generated installation (ignored where `tools` says otherwise).
    pub seed: SeedOptions,
    /// When set, the API server appends one JSON line per request here (see
    /// `api::ApiOptions::audit_log`); benchmarks read it.
    pub audit_log: Option<PathBuf>,
    /// Serve the API over HTTPS with authentication and RBAC, as a real cluster does
    /// (default). `false` serves plain HTTP to anyone, for wire-level experiments only.
    pub secure: bool,
    /// The ServiceAccount (in the Vantiq namespace) whose token goes to `serviceaccount/`.
    pub service_account: String,
}

impl SimOptions {
    pub fn new(dir: PathBuf, gradle_cmd: Vec<String>) -> SimOptions {
        SimOptions {
            dir,
            port: 0,
            speed: super::clock::DEFAULT_SPEED,
            tools: None,
            gradle_cmd,
            seed: SeedOptions::default(),
            audit_log: None,
            secure: true,
            service_account: "vscript".to_owned(),
        }
    }
}

/// Where to reach a running simulator; written to `DIR/sim.json` and `TOOLS/.vscript/sim.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimInfo {
    /// `http://127.0.0.1:<port>`
    pub api: String,
    pub kubeconfig: String,
    pub tools_dir: String,
    pub incoming_dir: String,
    pub namespace: String,
    pub cluster: String,
    pub context: String,
    /// `https://<vantiq_host>:<port>`
    pub vantiq_url: String,
    pub vantiq_host: String,
    /// `127.0.0.1:<port>`: where `vantiq_host` must resolve.
    pub vantiq_addr: String,
    /// The root CA (`DIR/ca.crt`) the HTTPS endpoint's certificates chain to.
    pub ca_file: String,
    /// A valid long-lived Vantiq access token (`DIR/vantiq-token`, mode 0600): what the
    /// SDKs' `accessToken` setter takes instead of a login.
    pub token_file: String,
    /// The user `GET /authenticate` accepts (`system`).
    #[serde(default = "default_vantiq_user")]
    pub vantiq_user: String,
    /// That user's password (`DIR/vantiq-password`, mode 0600).
    #[serde(default)]
    pub password_file: String,
    /// The simulator's directory.
    #[serde(default)]
    pub dir: String,
    #[serde(default)]
    pub pid: u32,
    /// `http://127.0.0.1:<port>`: the simulator's admin routes (`/__sim/...`: faults,
    /// state), plain HTTP on loopback, never authenticated.
    #[serde(default)]
    pub admin: String,
    /// A kubeconfig authenticating with a client certificate (CN `kubernetes-admin`,
    /// O `system:masters`).
    #[serde(default)]
    pub kubeconfig_cert: String,
    /// A kubeconfig authenticating with an exec credential plugin (`kube-credential`).
    #[serde(default)]
    pub kubeconfig_exec: String,
    /// The cluster CA (`DIR/cluster-ca.crt`): the API server's certificate chains to it.
    #[serde(default)]
    pub cluster_ca_file: String,
    /// An in-cluster credentials directory (`token`, `ca.crt`, `namespace`) of the
    /// ServiceAccount `serviceaccount`, as mounted into a pod.
    #[serde(default)]
    pub serviceaccount_dir: String,
    /// `<namespace>/<name>` of that ServiceAccount (its token works once it exists).
    #[serde(default)]
    pub serviceaccount: String,
}

fn default_vantiq_user() -> String {
    "system".into()
}

/// A running simulator.
pub struct Sim {
    pub store: Arc<Store>,
    pub dir: PathBuf,
    pub info: SimInfo,
    pub world: Arc<World>,
    /// Requests the API server has answered (benchmarks read it).
    pub stats: Arc<crate::api::Stats>,
    /// The API server's tokens (`None` when not `secure`).
    pub auth: Option<Arc<crate::api::auth::Authenticator>>,
    pki: crate::api::auth::ClusterPki,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn write_secret_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn random_hex(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(n);
    s
}

/// How clients reach and authenticate to the API server.
struct ApiAccess {
    api: String,
    pki: crate::api::auth::ClusterPki,
    admin_token: String,
    secure: bool,
}

impl ApiAccess {
    /// The default kubeconfig: the admin's bearer token.
    fn kubeconfig(&self, cluster: &str) -> String {
        use crate::api::auth::{KubeconfigUser, kubeconfig};
        if self.secure {
            kubeconfig(cluster, &self.api, &self.pki.ca_pem, &KubeconfigUser::Token(&self.admin_token))
        } else {
            format!(
                "apiVersion: v1\nkind: Config\n# Simulated cluster written by vscript sim: loopback only.\nclusters:\n- name: {cluster}\n  cluster:\n    server: {}\ncontexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: {cluster}-admin\ncurrent-context: {cluster}\nusers:\n- name: {cluster}-admin\n  user:\n    token: {}\n",
                self.api, self.admin_token
            )
        }
    }
}

/// The identities of the kubeconfig variants (all cluster admins: `system:masters`).
pub const TOKEN_ADMIN: &str = "sim-admin";
pub const CERT_ADMIN: &str = "kubernetes-admin";
pub const EXEC_ADMIN: &str = "admin@sim.example.com";

/// What [`write_auth_files`] wrote.
struct AuthFiles {
    authenticator: Arc<crate::api::auth::Authenticator>,
    kubeconfig_cert: PathBuf,
    kubeconfig_exec: PathBuf,
    cluster_ca: PathBuf,
    serviceaccount_dir: PathBuf,
}

/// The cluster CA, the kubeconfig variants, the exec credential plugin and the
/// ServiceAccount's in-cluster directory; the tokens they carry are registered.
fn write_auth_files(dir: &Path, access: &ApiAccess, cluster: &str, ns: &str, sa: &str) -> Result<AuthFiles> {
    use crate::api::auth::{Authenticator, KubeconfigUser, MASTERS, UserInfo, kubeconfig, random_token};
    let authn = Arc::new(Authenticator::new());
    authn.add_token(&access.admin_token, UserInfo::new(TOKEN_ADMIN, &[MASTERS]));
    let cluster_ca = dir.join("cluster-ca.crt");
    std::fs::write(&cluster_ca, &access.pki.ca_pem)?;
    let (cert, key) = access.pki.issue_client_cert(CERT_ADMIN, &[MASTERS])?;
    let kubeconfig_cert = dir.join("kubeconfig-cert");
    let kc = KubeconfigUser::ClientCert {
        cert_pem: &cert,
        key_pem: &key,
    };
    write_secret_file(&kubeconfig_cert, &kubeconfig(cluster, &access.api, &access.pki.ca_pem, &kc))?;
    let exec_token = random_token();
    authn.add_token(&exec_token, UserInfo::new(EXEC_ADMIN, &[MASTERS]));
    let token_file = dir.join(".pki/exec-token");
    write_secret_file(&token_file, &exec_token)?;
    let plugin = dir.join("kube-credential");
    std::fs::write(&plugin, crate::api::auth::exec_plugin_script(&token_file.display().to_string()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o700))?;
    let kubeconfig_exec = dir.join("kubeconfig-exec");
    let command = plugin.display().to_string();
    write_secret_file(
        &kubeconfig_exec,
        &kubeconfig(
            cluster,
            &access.api,
            &access.pki.ca_pem,
            &KubeconfigUser::Exec { command: &command },
        ),
    )?;
    let serviceaccount_dir = dir.join("serviceaccount");
    let _ = std::fs::remove_dir_all(&serviceaccount_dir);
    std::fs::create_dir_all(&serviceaccount_dir)?;
    write_secret_file(&serviceaccount_dir.join("token"), &authn.mint_service_account_token(ns, sa))?;
    std::fs::write(serviceaccount_dir.join("ca.crt"), &access.pki.ca_pem)?;
    std::fs::write(serviceaccount_dir.join("namespace"), ns)?;
    Ok(AuthFiles {
        authenticator: authn,
        kubeconfig_cert,
        kubeconfig_exec,
        cluster_ca,
        serviceaccount_dir,
    })
}

/// The files a needed secret's keys read in the copy (as `generateSecrets` resolves them).
fn secret_files(target: &Path, specs: &[secretspec::SecretSpec], secret: &str, keys: [&str; 2]) -> Vec<PathBuf> {
    let sens = target.join("deploy/sensitive");
    let mut out = Vec::new();
    for key in keys {
        let resolved = specs
            .iter()
            .find(|s| s.name == secret)
            .and_then(|s| s.files.iter().find(|(k, _)| k == key).map(|(_, f)| (s, f)))
            .and_then(|(s, f)| secretspec::file_for(target, s, key, f).0);
        let std_name = secretspec::standard_file(key).unwrap_or(key);
        out.push(resolved.unwrap_or_else(|| sens.join(std_name)));
    }
    out
}

/// Reads the copy's sensitive files (where its `secrets.yaml` points); material the
/// simulator cannot use is replaced *in the copy* (there and at the standard names).
fn tools_sensitive(target: &Path, ca: &pki::Ca, o: &SeedOptions) -> Result<toolsdir::Sensitive> {
    let sens = target.join("deploy/sensitive");
    let (specs, _) = secretspec::load(target);
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let now = Utc::now();
    let shown = |p: &Path| p.strip_prefix(target).unwrap_or(p).display().to_string();

    // Certificate pairs: vantiq-ssl-cert's, default-ssl-cert's, the standard one.
    let mut pairs: Vec<Vec<PathBuf>> = vec![
        secret_files(target, &specs, "vantiq-ssl-cert", ["tls.crt", "tls.key"]),
        secret_files(target, &specs, "default-ssl-cert", ["tls.crt", "tls.key"]),
        vec![sens.join("fullchain.crt"), sens.join("private.key")],
    ];
    dedup(&mut pairs);
    let usable_pair = |p: &[PathBuf]| match (read(&p[0]), read(&p[1])) {
        // A chain from another CA (a customer's real one, or another simulator's) would not
        // verify against this simulator's ca.crt.
        (Some(c), Some(k)) if pki::key_matches(&c, &k) && pki::issued_by(&c, &ca.cert_pem) => Some((c, k)),
        _ => None,
    };
    let generated = ca.issue(&o.vantiq_host, now - chrono::Duration::days(300), now + chrono::Duration::days(60))?;
    let (fullchain, key) = pairs
        .iter()
        .find_map(|p| usable_pair(p))
        .unwrap_or_else(|| (generated.fullchain_pem(), generated.key_pem.clone()));
    for p in &pairs {
        if usable_pair(p).is_none() {
            eprintln!(
                "vscript sim: warning: {} and {} are not a certificate/key pair issued by the simulator's CA; the copy gets a simulated one",
                shown(&p[0]),
                shown(&p[1])
            );
            write_in_copy(target, &p[0], &fullchain)?;
            write_in_copy(target, &p[1], &key)?;
        }
    }

    // The license.
    let mut lics: Vec<Vec<PathBuf>> = vec![
        secret_files(target, &specs, "vantiq-license", ["public.pem", "license.key"]),
        vec![sens.join("public.pem"), sens.join("license.key")],
    ];
    dedup(&mut lics);
    let usable_lic = |p: &[PathBuf]| match (read(&p[0]), read(&p[1])) {
        (Some(pem), Some(k)) if license::verify(&pem, &k, now).is_ok() => Some((pem, k)),
        _ => None,
    };
    let (public_pem, license_key) = match lics.iter().find_map(|p| usable_lic(p)) {
        Some(l) => l,
        None => {
            let l = license::issue(&o.issued_to, now - chrono::Duration::days(275), now + chrono::Duration::days(90))?;
            (l.public_pem, l.license_key)
        }
    };
    for p in &lics {
        if usable_lic(p).is_none() {
            eprintln!(
                "vscript sim: warning: the license in {} and {} is not one the simulator can verify; the copy gets a simulated license",
                shown(&p[0]),
                shown(&p[1])
            );
            write_in_copy(target, &p[0], &public_pem)?;
            write_in_copy(target, &p[1], &license_key)?;
        }
    }
    let s = toolsdir::Sensitive {
        fullchain,
        key,
        public_pem,
        license_key,
    };
    toolsdir::write_sensitive(target, &s)?;
    Ok(s)
}

fn dedup(v: &mut Vec<Vec<PathBuf>>) {
    let mut seen: Vec<Vec<PathBuf>> = Vec::new();
    v.retain(|p| {
        let new = !seen.contains(p);
        seen.push(p.clone());
        new
    });
}

/// Writes a replacement file in the copy (never outside it); keys are mode 0600.
fn write_in_copy(target: &Path, path: &Path, text: &str) -> Result<()> {
    let tools = target.parent().unwrap_or(target);
    let inside = path
        .parent()
        .and_then(|d| std::fs::canonicalize(d).ok())
        .is_some_and(|d| std::fs::canonicalize(tools).is_ok_and(|t| d.starts_with(t)));
    if !inside {
        return Ok(());
    }
    let _ = std::fs::remove_file(path); // a link inside the copy: replace the link, not its target
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    if path.extension().is_some_and(|x| x == "key") {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

impl Sim {
    /// Starts everything; when this returns every StatefulSet's pods are Running and Ready.
    pub async fn start(opts: SimOptions) -> Result<Sim> {
        std::fs::create_dir_all(&opts.dir).with_context(|| format!("cannot create {}", opts.dir.display()))?;
        let dir = std::fs::canonicalize(&opts.dir)?;
        for p in ["k8sdeploy_tools", "origin.git", "incoming", ".pki"] {
            let _ = std::fs::remove_dir_all(dir.join(p));
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
            .await
            .context("cannot bind the API port")?;
        let scheme = if opts.secure { "https" } else { "http" };
        let api = format!("{scheme}://127.0.0.1:{}", listener.local_addr()?.port());
        let admin_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("cannot bind the admin port")?;
        let admin_url = format!("http://127.0.0.1:{}", admin_listener.local_addr()?.port());
        let access = ApiAccess {
            api: api.clone(),
            pki: crate::api::auth::ClusterPki::generate()?,
            admin_token: format!("sim-{}", random_hex(40)),
            secure: opts.secure,
        };
        let https_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let https_port = https_listener.local_addr()?.port();

        // PKI.
        let ca = pki::Ca::generate()?;
        std::fs::write(dir.join("ca.crt"), &ca.cert_pem)?;
        std::fs::create_dir_all(dir.join(".pki"))?;
        write_secret_file(&dir.join(".pki/ca.key"), ca.key_pem())?;
        let root_subject = pki::leaf_info(&ca.cert_pem)?.subject;
        let now = Utc::now();

        // Tools dir.
        let tools = dir.join("k8sdeploy_tools");
        let (seed_opts, sensitive, kc) = match &opts.tools {
            Some(src) => {
                let src = std::fs::canonicalize(src).with_context(|| format!("tools dir {} not found", src.display()))?;
                if dir.starts_with(&src) {
                    bail!("--dir {} must not be inside the tools dir {}", dir.display(), src.display());
                }
                let mut warnings = toolsdir::copy_tree_tolerant(&src, &tools)?;
                let (mut o, seed_warnings) = toolsdir::seed_from(&tools, &opts.seed)?;
                warnings.extend(seed_warnings);
                for w in warnings {
                    eprintln!("vscript sim: warning: {w}");
                }
                let target = tools.join("targetCluster");
                if toolsdir::branch(&target).is_none() {
                    o.cluster = opts.seed.cluster.clone();
                    toolsdir::git(&target, &["init", "-q", "-b", &o.cluster])?;
                    toolsdir::git(&target, &["add", "-A"])?;
                    toolsdir::git(&target, &["commit", "-q", "--allow-empty", "-m", "targetCluster (rehearsal copy)"])?;
                }
                let kc = access.kubeconfig(&o.cluster);
                std::fs::write(target.join("kubeconfig"), &kc)?;
                toolsdir::install_gradlew(&tools, &opts.gradle_cmd)?;
                let s = tools_sensitive(&target, &ca, &o)?;
                // deploy/secrets is derived from the (possibly replaced) sensitive files.
                for w in super::gradle::generate_secrets(&target)?.warnings {
                    eprintln!("vscript sim: warning: {w}");
                }
                toolsdir::ensure_origin(&dir, &tools)?;
                (o, s, kc)
            }
            None => {
                let o = opts.seed.clone();
                let ch = ca.issue(&o.vantiq_host, now - chrono::Duration::days(305), now + chrono::Duration::days(60))?;
                let l = license::issue(&o.issued_to, now - chrono::Duration::days(275), now + chrono::Duration::days(90))?;
                let s = toolsdir::Sensitive {
                    fullchain: ch.fullchain_pem(),
                    key: ch.key_pem,
                    public_pem: l.public_pem,
                    license_key: l.license_key,
                };
                let kc = access.kubeconfig(&o.cluster);
                toolsdir::generate(&dir, &o, &opts.gradle_cmd, &kc, &s)?;
                (o, s, kc)
            }
        };
        std::fs::write(dir.join("kubeconfig"), &kc)?;
        let auth_files = write_auth_files(&dir, &access, &seed_opts.cluster, &seed_opts.namespace, &opts.service_account)?;

        // Renewals, as a customer would send them.
        let incoming = dir.join("incoming");
        std::fs::create_dir_all(&incoming)?;
        let ch = ca.issue(
            &seed_opts.vantiq_host,
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(425),
        )?;
        let l = license::issue(&seed_opts.issued_to, now, now + chrono::Duration::days(455))?;
        std::fs::write(incoming.join("fullchain.crt"), ch.fullchain_pem())?;
        write_secret_file(&incoming.join("private.key"), &ch.key_pem)?;
        std::fs::write(incoming.join("public.pem"), &l.public_pem)?;
        write_secret_file(&incoming.join("license.key"), &l.license_key)?;

        // Store, world, controllers.
        let store = Arc::new(Store::new());
        let secrets = seed::SeedSecrets {
            fullchain: sensitive.fullchain.clone(),
            key: sensitive.key.clone(),
            public_pem: sensitive.public_pem.clone(),
            license_key: sensitive.license_key.clone(),
        };
        let db = vantiq::Databases::new(&seed::schema_of(&seed_opts.image_tag), seed_opts.userdb, seed_opts.nightly_backup);
        let world = Arc::new(World::new(
            store.clone(),
            opts.speed,
            &dir,
            &seed_opts.namespace,
            db,
            vec![root_subject],
        )?);
        world.set_trust_roots(vec![ca.cert_pem.clone()]);
        invariants::install(&world);
        seed::apply(&store, &seed_opts, &secrets)?;
        crate::api::rbac::install_default_policy(&store);
        world.prepull(seed::images(&seed_opts));
        world.set_image_pull_secs(seed_opts.image_pull_secs);
        let cancel = world.cancel.clone();
        let mut tasks = vec![tokio::spawn(super::run_controllers(world.clone()))];

        // API + admin.
        let faults_path = dir.join("faults.json");
        let api_faults = if faults_path.exists() {
            Arc::new(crate::api::Faults::load(&faults_path)?)
        } else {
            Arc::new(crate::api::Faults::default())
        };
        let auth = opts.secure.then(|| auth_files.authenticator.clone());
        let api_opts = crate::api::ApiOptions {
            faults: api_faults.clone(),
            audit_log: opts.audit_log.clone(),
            auth: auth.clone(),
            ..Default::default()
        };
        let stats = api_opts.stats.clone();
        let app = crate::api::router(store.clone(), api_opts);
        let tls = if opts.secure { Some(access.pki.server_config()?) } else { None };
        let c = cancel.clone();
        tasks.push(tokio::spawn(async move {
            let served = match tls {
                Some(tls) => crate::api::serve_tls(listener, app, tls, c).await,
                None => crate::api::serve(listener, app, c).await,
            };
            if let Err(e) = served {
                eprintln!("vscript sim: API server stopped: {e}");
            }
        }));
        let admin_app = admin::router(world.clone(), api_faults);
        let c = cancel.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = crate::api::serve(admin_listener, admin_app, c).await {
                eprintln!("vscript sim: admin server stopped: {e}");
            }
        }));

        // HTTPS endpoint and credentials.
        let creds = https::Credentials {
            user: "system".into(),
            password: random_hex(24),
            token: random_hex(48),
        };
        write_secret_file(&dir.join("vantiq-password"), &creds.password)?;
        write_secret_file(&dir.join("vantiq-token"), &creds.token)?;
        tasks.push(tokio::spawn(https::serve(
            https_listener,
            world.clone(),
            creds.clone(),
            cancel.clone(),
        )));

        let info = SimInfo {
            api: api.clone(),
            kubeconfig: dir.join("kubeconfig").display().to_string(),
            tools_dir: tools.display().to_string(),
            incoming_dir: incoming.display().to_string(),
            namespace: seed_opts.namespace.clone(),
            cluster: seed_opts.cluster.clone(),
            context: seed_opts.cluster.clone(),
            vantiq_url: format!("https://{}:{https_port}", seed_opts.vantiq_host),
            vantiq_host: seed_opts.vantiq_host.clone(),
            vantiq_addr: format!("127.0.0.1:{https_port}"),
            ca_file: dir.join("ca.crt").display().to_string(),
            token_file: dir.join("vantiq-token").display().to_string(),
            vantiq_user: creds.user.clone(),
            password_file: dir.join("vantiq-password").display().to_string(),
            dir: dir.display().to_string(),
            pid: std::process::id(),
            admin: admin_url,
            kubeconfig_cert: auth_files.kubeconfig_cert.display().to_string(),
            kubeconfig_exec: auth_files.kubeconfig_exec.display().to_string(),
            cluster_ca_file: auth_files.cluster_ca.display().to_string(),
            serviceaccount_dir: auth_files.serviceaccount_dir.display().to_string(),
            serviceaccount: format!("{}/{}", seed_opts.namespace, opts.service_account),
        };
        let json = serde_json::to_string_pretty(&info)?;
        std::fs::write(dir.join("sim.json"), &json)?;
        std::fs::create_dir_all(tools.join(".vscript"))?;
        std::fs::write(tools.join(".vscript/sim.json"), &json)?;

        let sim = Sim {
            store,
            dir,
            info,
            world,
            stats,
            auth,
            pki: access.pki,
            cancel,
            tasks,
        };
        sim.wait_settled(Duration::from_secs(60)).await?;
        Ok(sim)
    }

    /// A client certificate for `user` in `groups`, signed by the cluster CA:
    /// `(certificate PEM, key PEM)`.
    pub fn issue_client_cert(&self, user: &str, groups: &[&str]) -> Result<(String, String)> {
        self.pki.issue_client_cert(user, groups)
    }

    /// The cluster CA certificate (PEM).
    pub fn cluster_ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// A new token for the ServiceAccount `ns/name` (valid while it exists), as a
    /// TokenRequest would give; `None` when the API server runs without authentication.
    pub fn mint_service_account_token(&self, ns: &str, name: &str) -> Option<String> {
        self.auth.as_ref().map(|a| a.mint_service_account_token(ns, name))
    }

    /// A kubeconfig for this cluster with `user`'s credentials (see [`crate::api::auth::kubeconfig`]).
    pub fn kubeconfig_for(&self, user: &crate::api::auth::KubeconfigUser) -> String {
        crate::api::auth::kubeconfig(&self.info.cluster, &self.info.api, &self.pki.ca_pem, user)
    }

    /// Waits until every StatefulSet has all its pods ready.
    pub async fn wait_settled(&self, limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let pending: Vec<String> = self
                .store
                .list(res("StatefulSet"), None, None, None)
                .0
                .iter()
                .filter(|s| {
                    let want = s["spec"]["replicas"].as_u64().unwrap_or(1);
                    s["status"]["readyReplicas"].as_u64().unwrap_or(0) != want || s["status"]["replicas"].as_u64().unwrap_or(0) != want
                })
                .map(|s| crate::store::name_of(s).to_owned())
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "the simulated cluster did not settle: StatefulSets not ready: {}",
                    pending.join(", ")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every violation recorded so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.world.invariants.all()
    }

    /// Stops the servers and controllers; the files stay for `check`.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
        }
    }
}

/// The violations recorded by the simulator that ran in `dir`.
pub fn check(dir: &Path) -> Result<Vec<Violation>> {
    invariants::read(dir)
}

/// Runs a simulator in the foreground until SIGINT/SIGTERM; prints one ready line.
pub fn run_foreground(opts: SimOptions) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vscript sim: cannot start a runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let sim = match Sim::start(opts).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("vscript sim: {e:#}");
                return 1;
            }
        };
        println!(
            "vscript sim ready: api={} kubeconfig={} tools={}",
            sim.info.api, sim.info.kubeconfig, sim.info.tools_dir
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("vscript sim: {e}");
                return 1;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let n = sim.violations().len();
        sim.shutdown().await;
        eprintln!("vscript sim: stopped ({n} violation(s) recorded; see `vscript sim check`)");
        0
    })
}
