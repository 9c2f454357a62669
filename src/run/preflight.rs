//! `vscript preflight [procedure]`: read-only checks of what a procedure will need on the
//! real installation, before the maintenance window — the API and its authentication,
//! every Kubernetes permission the procedure uses (SelfSubjectAccessReview), the objects
//! it acts on, the tools dir and its git remote, the sensitive files, the Vantiq login,
//! the certificate's and the license's expiry. Each check says verified, failed or cannot
//! be checked; nothing is changed (no lock, no journal, no write).
//!
//! The permissions come from the procedure itself: its calls, and the stdlib functions
//! they reach, are read from the compiled scripts (`accesses`), so a customised copy is
//! checked for what it does. `tests/it/preflight.rs` proves the list covers what each
//! shipped procedure really requests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use rhai::{AST, ASTNode, Expr, Stmt};

use super::outcome::{EXIT_FAILED, EXIT_OK, Failure};
use super::script::{self, Script};
use super::session::{self, Session};
use super::target::TargetSpec;
use crate::engine::Host;
use crate::engine::resolver::StdlibResolver;

/// What the operator asked for.
#[derive(Debug, Clone, Default)]
pub struct PreflightRequest {
    /// The procedure (name or path); `None` checks what every procedure needs in common.
    pub script: Option<String>,
    pub params: BTreeMap<String, String>,
    pub target: TargetSpec,
}

/// Where a namespaced access is checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ns {
    /// The Vantiq namespace of the run.
    Target,
    /// Another namespace the script names (`k8s::ns("shared")`).
    Named(String),
    /// A cluster-scoped resource.
    Cluster,
}

/// One Kubernetes permission a procedure needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Access {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub ns: Ns,
}

/// What a procedure uses besides Kubernetes permissions.
#[derive(Debug, Clone, Default)]
pub struct Uses {
    /// Each permission with the first call chain that needs it (`vantiq::hold_for_migration → k8s::scale`).
    pub accesses: BTreeMap<Access, String>,
    /// Calls whose resource kind is not a literal: their permission cannot be listed.
    pub unknown: BTreeSet<String>,
    /// Every function reached (`k8s::scale`, `vantiq::backup_mongo`, …).
    pub calls: BTreeSet<String>,
}

impl Uses {
    fn reaches(&self, f: &str) -> bool {
        self.calls.contains(f)
    }
}

/// `(verb, kind-or-"", subresource)` per k8s primitive; `""` kind = the call's first argument.
fn primitive_accesses(name: &str) -> &'static [(&'static str, &'static str, &'static str)] {
    match name {
        "get" | "exists" => &[("get", "", "")],
        "list" => &[("list", "", "")],
        "patch" => &[("patch", "", "")],
        "delete" => &[("delete", "", "")],
        "wait_deleted" => &[("list", "", ""), ("watch", "", "")],
        "replicas" => &[("get", "StatefulSet", "")],
        "scale" => &[("get", "StatefulSet", ""), ("patch", "StatefulSet", "scale")],
        "wait_ready" => &[
            ("list", "StatefulSet", ""),
            ("watch", "StatefulSet", ""),
            ("list", "Pod", ""),
            ("watch", "Pod", ""),
        ],
        "wait_rollout" => &[("list", "StatefulSet", ""), ("watch", "StatefulSet", "")],
        "rollout_restart" => &[("patch", "StatefulSet", "")],
        "create_job_from_cronjob" => &[("get", "CronJob", ""), ("create", "Job", "")],
        "wait_job" => &[
            ("list", "Job", ""),
            ("watch", "Job", ""),
            ("list", "Pod", ""),
            ("watch", "Pod", ""),
            ("get", "Pod", "log"),
        ],
        "logs" => &[("get", "Pod", "log")],
        "describe" => &[("get", "Pod", ""), ("list", "Event", "")],
        "follow_logs" => &[("list", "Pod", ""), ("watch", "Pod", ""), ("get", "Pod", "log")],
        "pvc_resize" => &[("get", "PersistentVolumeClaim", ""), ("patch", "PersistentVolumeClaim", "")],
        "wait_pvc_capacity" => &[("list", "PersistentVolumeClaim", ""), ("watch", "PersistentVolumeClaim", "")],
        "wait_pod_ready" => &[("list", "Pod", ""), ("watch", "Pod", "")],
        "secret" => &[("get", "Secret", "")],
        _ => &[],
    }
}

/// The k8s functions that make no request RBAC checks (`server_version` reads discovery,
/// which every authenticated user may).
const NO_ACCESS: &[&str] = &["namespace", "ns", "quantity", "server_version"];

/// Whether `k8s::name` with `n` arguments takes an options map last (read from the
/// registrations: a last parameter `opts`).
fn takes_opts(name: &str, n: usize) -> bool {
    static WITH_OPTS: std::sync::OnceLock<BTreeSet<(String, usize)>> = std::sync::OnceLock::new();
    WITH_OPTS
        .get_or_init(|| {
            crate::script_api::functions()
                .into_iter()
                .filter(|(m, ..)| m == "k8s")
                .filter_map(|(_, name, sig, ..)| {
                    let params = sig.split_once('(')?.1.rsplit_once(')')?.0;
                    let params: Vec<&str> = params.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
                    params.last()?.starts_with("opts").then(|| (name, params.len()))
                })
                .collect()
        })
        .contains(&(name.to_owned(), n))
}

/// A call found in a body: namespace (`""` for none), name, arguments.
type Call = (String, String, Vec<Expr>);

/// What a body holds: its calls and its `let` bindings (to follow a namespace through a
/// variable: `let sh = k8s::ns("shared"); k8s::get("pvc", name, sh)`).
#[derive(Default)]
struct Body {
    calls: Vec<Call>,
    lets: BTreeMap<String, Vec<Expr>>,
}

/// The calls a walk reaches (the walk's callback cannot keep references: they are copied out).
fn calls_in(walk: impl FnOnce(&mut dyn FnMut(&[ASTNode]) -> bool)) -> Body {
    let mut body = Body::default();
    walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Var(x, ..))) => body.lets.entry(x.0.name.to_string()).or_default().push(x.1.clone()),
            Some(ASTNode::Stmt(Stmt::For(x, _))) => body.lets.entry(x.0.name.to_string()).or_default().push(x.2.expr.clone()),
            _ => {}
        }
        // A closure made here (`|| ...`, compiled to a pointer to `anon$…`) or `Fn("f")`:
        // what it calls is reached from here.
        let pointed = match path.last() {
            Some(ASTNode::Expr(Expr::DynamicConstant(d, _))) => d.read_lock::<rhai::FnPtr>().map(|p| p.fn_name().to_owned()),
            Some(ASTNode::Expr(Expr::FnCall(c, _))) if c.name == "Fn" => match c.args.first() {
                Some(Expr::StringConstant(s, _)) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        };
        if let Some(f) = pointed {
            body.calls.push((String::new(), f, Vec::new()));
        }
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(c, _))) => Some(c),
            Some(ASTNode::Stmt(Stmt::FnCall(c, _))) => Some(c),
            _ => None,
        };
        if let Some(c) = call {
            let ns = c.namespace.to_string().trim_end_matches("::").to_owned();
            body.calls.push((ns, c.name.to_string(), c.args.to_vec()));
        }
        true
    });
    body
}

/// The calls made in the function `name` of `ast` (none if it has no such function).
fn calls_of_fn(ast: &AST, name: &str) -> Option<Body> {
    ast.iter_fn_def().any(|f| f.name == name).then(|| {
        // (`clone_functions_only_filtered` does not filter into an empty module in rhai
        // 1.27: it copies every function. `retain_functions` does.)
        let mut only = ast.clone_functions_only();
        only.retain_functions(|_, _, n, _| n == name);
        calls_in(|f| {
            only.walk(f);
        })
    })
}

/// Walks the script and what it reaches in the modules it imports.
struct Walker<'a> {
    script: &'a AST,
    /// alias → module AST.
    modules: BTreeMap<String, &'a AST>,
    /// Top-level `let x = <expr>` of the script (closures see them).
    globals: BTreeMap<String, Vec<Expr>>,
    /// The `let`s and `for` variables of the body being followed.
    lets: BTreeMap<String, Vec<Expr>>,
    /// The run's `--set` parameters.
    params: &'a BTreeMap<String, String>,
    seen: BTreeSet<(String, String)>,
    /// The named functions being followed (closures are left out: they read as `a step`).
    stack: Vec<String>,
    uses: Uses,
}

impl<'a> Walker<'a> {
    /// The namespaces an options argument may point at (`k8s::ns(...)`, `#{ ns: ... }`,
    /// through variables and `for` loops over literal lists).
    fn ns_of(&self, e: &Expr, depth: usize) -> BTreeSet<Ns> {
        match e {
            Expr::Variable(..) => self.through_variable(e, depth, |w, init, d| w.ns_of(init, d)),
            Expr::FnCall(c, _) if c.name == "ns" && c.namespace.to_string().starts_with("k8s") => {
                c.args.first().map_or_else(|| [Ns::Target].into(), |a| self.ns_named(a, depth))
            }
            Expr::Map(m, _) => match m.0.iter().find(|(k, _)| k.name == "ns") {
                Some((_, v)) => self.ns_named(v, depth),
                None => [Ns::Target].into(),
            },
            _ => [Ns::Target].into(),
        }
    }

    /// The namespaces an expression naming one may have.
    fn ns_named(&self, e: &Expr, depth: usize) -> BTreeSet<Ns> {
        match e {
            Expr::StringConstant(s, _) => [Ns::Named(s.to_string())].into(),
            Expr::Variable(..) => self.through_variable(e, depth, |w, init, d| w.ns_named(init, d)),
            // `param("shared_namespace", "shared")`: the run's --set, else the default.
            Expr::FnCall(p, _) if p.name == "param" && p.namespace.is_empty() => match (p.args.first(), p.args.get(1)) {
                (Some(Expr::StringConstant(k, _)), _) if self.params.contains_key(k.as_str()) => {
                    [Ns::Named(self.params[k.as_str()].clone())].into()
                }
                (_, Some(d)) => self.ns_named(d, depth),
                _ => [Ns::Target].into(),
            },
            // A literal list a `for` loop goes over: each of them.
            Expr::Array(a, _) => a.iter().flat_map(|x| self.ns_named(x, depth)).collect(),
            _ => [Ns::Target].into(),
        }
    }

    /// Follows a variable to what it was bound to (`let`, `for`), at most a few levels deep.
    fn through_variable(&self, e: &Expr, depth: usize, then: impl Fn(&Self, &Expr, usize) -> BTreeSet<Ns>) -> BTreeSet<Ns> {
        let Expr::Variable(v, ..) = e else { return [Ns::Target].into() };
        let name = v.1.as_str();
        match self.lets.get(name).or_else(|| self.globals.get(name)) {
            Some(inits) if depth < 8 => inits.iter().flat_map(|i| then(self, i, depth + 1)).collect(),
            _ => [Ns::Target].into(),
        }
    }

    fn k8s_call(&mut self, name: &str, args: &[Expr]) {
        let kind_arg = match args.first() {
            Some(Expr::StringConstant(s, _)) => Some(s.to_string()),
            _ => None,
        };
        let namespaces = match args.last() {
            Some(a) if takes_opts(name, args.len()) => self.ns_of(a, 0),
            _ => [Ns::Target].into(),
        };
        if primitive_accesses(name).is_empty() && !NO_ACCESS.contains(&name) {
            self.uses.unknown.insert(format!("k8s::{name}"));
        }
        for (verb, kind, sub) in primitive_accesses(name) {
            let kind = if kind.is_empty() {
                kind_arg.clone()
            } else {
                Some((*kind).to_owned())
            };
            let Some(k) = kind.and_then(|k| crate::k8s::kinds::kind(&k)) else {
                self.uses.unknown.insert(format!("k8s::{name}"));
                continue;
            };
            let via = self
                .stack
                .iter()
                .map(String::as_str)
                .chain([format!("k8s::{name}").as_str()])
                .collect::<Vec<_>>()
                .join(" → ");
            let scopes = if k.namespaced { namespaces.clone() } else { [Ns::Cluster].into() };
            for ns in scopes {
                let access = Access {
                    verb: (*verb).to_owned(),
                    group: k.ar.group.clone(),
                    resource: k.ar.plural.clone(),
                    subresource: (*sub).to_owned(),
                    ns,
                };
                self.uses.accesses.entry(access).or_insert_with(|| via.clone());
            }
        }
    }

    /// Follows the calls found in `module` (`""` = the script).
    fn follow(&mut self, module: &str, body: Body) {
        let outer = std::mem::replace(&mut self.lets, body.lets);
        for (ns, name, args) in body.calls {
            if ns == "k8s" {
                self.uses.calls.insert(format!("k8s::{name}"));
                self.k8s_call(&name, &args);
            } else if !ns.is_empty() {
                self.uses.calls.insert(format!("{ns}::{name}"));
                if let Some(ast) = self.modules.get(ns.as_str()).copied() {
                    self.enter(&ns, ast, &name);
                }
            } else {
                self.uses.calls.insert(name.clone());
                // A function of the same module (or the script's own).
                let ast = if module.is_empty() {
                    Some(self.script)
                } else {
                    self.modules.get(module).copied()
                };
                if let Some(ast) = ast {
                    self.enter(module, ast, &name);
                }
            }
        }
        self.lets = outer;
    }

    fn enter(&mut self, module: &str, ast: &'a AST, name: &str) {
        if !self.seen.insert((module.to_owned(), name.to_owned())) {
            return;
        }
        if let Some(body) = calls_of_fn(ast, name) {
            let named = !name.starts_with("anon$");
            if named {
                self.stack.push(if module.is_empty() {
                    name.to_owned()
                } else {
                    format!("{module}::{name}")
                });
            }
            self.follow(module, body);
            if named {
                self.stack.pop();
            }
        }
    }
}

/// What a compiled script reaches: its Kubernetes permissions and the functions it calls.
pub fn uses(ast: &AST, modules: &BTreeMap<String, AST>, params: &BTreeMap<String, String>) -> Uses {
    let mut globals: BTreeMap<String, Vec<Expr>> = BTreeMap::new();
    for s in ast.statements() {
        if let Stmt::Var(x, ..) = s {
            globals.entry(x.0.name.to_string()).or_default().push(x.1.clone());
        }
    }
    let mut w = Walker {
        script: ast,
        modules: modules.iter().map(|(k, v)| (k.clone(), v)).collect(),
        globals,
        lets: BTreeMap::new(),
        params,
        stack: Vec::new(),
        seen: BTreeSet::new(),
        uses: Uses::default(),
    };
    let top = calls_in(|f| {
        for s in ast.statements() {
            s.walk(&mut Vec::new(), f);
        }
    });
    w.follow("", top);
    w.uses
}

/// The stdlib modules a script imports, compiled: alias → AST.
fn imported(engine: &rhai::Engine, ast: &AST, host: &Host) -> BTreeMap<String, AST> {
    let resolver = StdlibResolver::new(host);
    let mut out = BTreeMap::new();
    for s in ast.statements() {
        if let Stmt::Import(x, _) = s
            && let (Expr::StringConstant(name, _), alias) = (&x.0, &x.1)
            && let Some((_, _, Ok(m))) = resolver.compile(engine, name)
        {
            out.insert(alias.name.to_string(), m);
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Verified,
    Failed,
    Unknown,
}

struct Report {
    lines: Vec<(Verdict, String)>,
}

impl Report {
    fn add(&mut self, v: Verdict, what: impl Into<String>) {
        let what = what.into();
        let tag = match v {
            Verdict::Verified => "verified          ",
            Verdict::Failed => "FAILED            ",
            Verdict::Unknown => "cannot be checked ",
        };
        crate::errln!("  {tag} {what}");
        self.lines.push((v, what));
    }
    fn count(&self, v: Verdict) -> usize {
        self.lines.iter().filter(|(x, _)| *x == v).count()
    }
}

/// Runs the checks; exit 0 when none failed.
pub fn preflight(req: PreflightRequest) -> Result<u8, Failure> {
    let session = session::open(&req.target, req.params.clone())?;
    let code = {
        let _guard = session.rt.enter();
        check(&req, &session)
    };
    session.close(true);
    code
}

fn check(req: &PreflightRequest, session: &Session) -> Result<u8, Failure> {
    let script = match &req.script {
        Some(s) => Some(script::resolve_script(s, session.target.tools_dir.as_deref())?),
        None => None,
    };
    let name = script.as_ref().map(|s| s.name.clone());
    let host = std::sync::Arc::new(session.host(name.as_deref(), false, false, false));
    let engine = crate::script_api::engine(host.clone());
    let (uses, takes_lock) = match &script {
        Some(s) => {
            let ast = script::compile(&engine, s, &host)?;
            let modules = imported(&engine, &ast, &host);
            (uses(&ast, &modules, &req.params), script::needs_lock(s, false))
        }
        None => (Uses::default(), false),
    };
    let ns = host.target().namespace.clone();
    crate::errln!(
        "{}",
        session.banner(&format!("preflight of {}", name.as_deref().unwrap_or("the installation")), false)
    );
    let mut r = Report { lines: Vec::new() };

    // The API and who we are.
    let client = match host.k8s_client() {
        Ok(c) => c,
        Err(e) => {
            r.add(Verdict::Failed, format!("the Kubernetes API: {e}"));
            return finish(&r);
        }
    };
    match host.block("reading the server version", Duration::from_secs(30), client.version()) {
        Ok(v) => r.add(Verdict::Verified, format!("the API server answers at {} ({v})", client.server)),
        Err(e) => {
            r.add(Verdict::Failed, format!("the API server at {}: {e}", client.server));
            return finish(&r);
        }
    }
    let kind_get = |k: &str, ns: &str, n: &str| -> Result<bool, String> {
        let kind = crate::k8s::K8sClient::kind(k).map_err(|e| e.to_string())?;
        host.block(&format!("reading {k} `{n}`"), Duration::from_secs(30), client.get(&kind, ns, n))
            .map(|o| o.is_some())
            .map_err(|e| e.to_string())
    };

    // Every permission the procedure uses.
    let mut accesses = uses.accesses.clone();
    if takes_lock {
        for verb in ["get", "create", "patch", "delete"] {
            accesses
                .entry(Access {
                    verb: verb.into(),
                    group: "coordination.k8s.io".into(),
                    resource: "leases".into(),
                    subresource: String::new(),
                    ns: Ns::Target,
                })
                .or_insert_with(|| "the maintenance lock".to_owned());
        }
    }
    for (a, via) in &accesses {
        let where_ = match &a.ns {
            Ns::Target => ns.clone(),
            Ns::Named(n) => n.clone(),
            Ns::Cluster => String::new(),
        };
        let res = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        // The namespace is read by its name (a Role may grant just that one).
        let (scope, name) = match (where_.is_empty(), a.resource == "namespaces") {
            (true, true) => (format!("namespace {ns}"), ns.as_str()),
            (true, false) => ("cluster-wide".to_owned(), ""),
            (false, _) => (format!("in {where_}"), ""),
        };
        let review = client.can_i(&a.verb, &a.group, &a.resource, &a.subresource, &where_, name);
        match host.block("asking the API server (SelfSubjectAccessReview)", Duration::from_secs(30), review) {
            Ok((true, _)) => r.add(Verdict::Verified, format!("may {} {res} {scope}", a.verb)),
            Ok((false, why)) => r.add(
                Verdict::Failed,
                format!(
                    "may {} {res} {scope}: not allowed{} — needed by {via}",
                    a.verb,
                    if why.is_empty() { String::new() } else { format!(" ({why})") }
                ),
            ),
            Err(e) => r.add(Verdict::Unknown, format!("may {} {res} {scope}: {e}", a.verb)),
        }
    }
    for u in &uses.unknown {
        r.add(
            Verdict::Unknown,
            format!("the permissions of a `{u}` call whose kind is not written in the script"),
        );
    }

    // The objects it acts on.
    match kind_get("Namespace", "", &ns) {
        Ok(true) => r.add(Verdict::Verified, format!("namespace {ns} exists")),
        Ok(false) => r.add(
            Verdict::Failed,
            format!("namespace {ns} does not exist: is vantiq.installation right?"),
        ),
        Err(e) => r.add(Verdict::Unknown, format!("namespace {ns}: {e}")),
    }
    let mut objects: Vec<(&str, &str)> = vec![("StatefulSet", "vantiq")];
    if uses.reaches("vantiq::backup_mongo") {
        objects.push(("CronJob", "mongobackup"));
    }
    if uses.reaches("vantiq::restore_mongo") {
        objects.push(("CronJob", "mongorestore"));
    }
    for (k, n) in objects {
        match kind_get(k, &ns, n) {
            Ok(true) => r.add(Verdict::Verified, format!("{k} {ns}/{n} exists")),
            Ok(false) => r.add(Verdict::Failed, format!("{k} {ns}/{n} does not exist")),
            Err(e) => r.add(Verdict::Unknown, format!("{k} {ns}/{n}: {e}")),
        }
    }
    if uses.reaches("vantiq::restore_mongo") {
        match kind_get("CronJob", &ns, "userdbrestore") {
            Ok(true) => r.add(Verdict::Verified, format!("CronJob {ns}/userdbrestore exists (userdb)")),
            Ok(false) => r.add(
                Verdict::Verified,
                format!("no CronJob {ns}/userdbrestore: userdb is not restored (not enabled)"),
            ),
            Err(e) => r.add(Verdict::Unknown, format!("CronJob {ns}/userdbrestore: {e}")),
        }
    }

    // The tools dir.
    if let Some(tools) = &host.target().tools_dir {
        check_tools(&mut r, tools, host.target().cluster.as_deref(), &uses);
    } else if uses.reaches("gradle::run") || uses.reaches("git::pull") {
        r.add(Verdict::Failed, "no tools dir: pass --tools DIR (the k8sdeploy_tools checkout)");
    }

    // The Vantiq login, the certificate, the license.
    let logs_in = script.is_none() || uses.reaches("vantiq::verify_login") || uses.reaches("vantiq::require_login_check");
    if logs_in {
        match crate::http::vantiq::login(&host) {
            Ok(l) => r.add(
                Verdict::Verified,
                format!(
                    "the Vantiq login at {} ({} as {})",
                    l.url,
                    l.auth,
                    l.user.as_deref().unwrap_or("the access token")
                ),
            ),
            Err(e) if host.vantiq().url.is_none() => r.add(Verdict::Unknown, format!("the Vantiq login: {e}")),
            Err(e) => r.add(Verdict::Failed, format!("the Vantiq login: {e}")),
        }
    }
    if let Some(tools) = &host.target().tools_dir {
        let sensitive = tools.join("targetCluster/deploy/sensitive");
        match crate::tls::checks::inspect(&sensitive.join("fullchain.crt")) {
            Ok(i) if i.first.days_left < 0 => r.add(Verdict::Failed, format!("the SSL certificate expired {}", i.first.not_after)),
            Ok(i) => r.add(
                Verdict::Verified,
                format!("the SSL certificate expires {} ({} days)", i.first.not_after, i.first.days_left),
            ),
            Err(e) => r.add(Verdict::Unknown, format!("the SSL certificate: {e}")),
        }
        let format = crate::tls::script::license_format(&host);
        match crate::tls::license::inspect(&format, &sensitive.join("public.pem"), &sensitive.join("license.key")) {
            Ok(l) => match (&l.expires, l.days_left) {
                (Some(e), Some(d)) if d < 0 => r.add(Verdict::Failed, format!("the license expired {e}")),
                (Some(e), Some(d)) => r.add(Verdict::Verified, format!("the license expires {e} ({d} days)")),
                _ => r.add(
                    Verdict::Unknown,
                    format!(
                        "the license's expiry: its format is {} (configure [license] in vscript.toml)",
                        l.format
                    ),
                ),
            },
            Err(e) => r.add(
                Verdict::Failed,
                format!("the license files: {}", host.secrets().redact(&e.to_string())),
            ),
        }
    }
    finish(&r)
}

/// `./gradlew`, the targetCluster checkout and its branch, the git remote, the sensitive files.
fn check_tools(r: &mut Report, tools: &Path, cluster: Option<&str>, uses: &Uses) {
    if uses.reaches("gradle::run") {
        let g = tools.join("gradlew");
        if g.is_file() {
            r.add(Verdict::Verified, "./gradlew is in the tools dir");
        } else {
            r.add(Verdict::Failed, format!("./gradlew is missing from {}", tools.display()));
        }
    }
    let tc = tools.join("targetCluster");
    match crate::git::client::branch(&tc) {
        Some(b) if cluster.is_none_or(|c| c == b) => r.add(
            Verdict::Verified,
            format!("targetCluster/ is a git checkout on branch {b} (the cluster)"),
        ),
        Some(b) => r.add(
            Verdict::Failed,
            format!("targetCluster/ is on branch {b}, not the cluster {}", cluster.unwrap_or("?")),
        ),
        None => r.add(Verdict::Failed, "targetCluster/ is not a git checkout on a branch"),
    }
    if uses.reaches("git::pull") {
        let out = std::process::Command::new("git")
            .args(["ls-remote", "--heads", "origin"])
            .current_dir(tools)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => r.add(Verdict::Verified, "the tools dir's git remote answers (git ls-remote origin)"),
            Ok(o) => r.add(
                Verdict::Failed,
                format!(
                    "the tools dir's git remote: {}",
                    String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("").trim()
                ),
            ),
            Err(e) => r.add(Verdict::Unknown, format!("the tools dir's git remote: cannot run git: {e}")),
        }
    }
    let sensitive = tc.join("deploy/sensitive");
    let missing: Vec<&str> = ["fullchain.crt", "private.key", "public.pem", "license.key"]
        .into_iter()
        .filter(|f| !sensitive.join(f).is_file())
        .collect();
    if missing.is_empty() {
        r.add(
            Verdict::Verified,
            "the sensitive files are present (fullchain.crt, private.key, public.pem, license.key)",
        );
    } else {
        r.add(Verdict::Failed, format!("missing from deploy/sensitive: {}", missing.join(", ")));
    }
}

fn finish(r: &Report) -> Result<u8, Failure> {
    let (ok, failed, unknown) = (r.count(Verdict::Verified), r.count(Verdict::Failed), r.count(Verdict::Unknown));
    crate::errln!("preflight: {ok} verified, {failed} failed, {unknown} cannot be checked");
    Ok(if failed > 0 { EXIT_FAILED } else { EXIT_OK })
}

/// The permissions a shipped procedure needs, as `(verb, resource[/sub], namespace-or-"")`
/// with the Vantiq namespace as `target` (for tests).
pub fn shipped_accesses(name: &str) -> Result<Vec<(String, String, String)>, Failure> {
    let rt = session::runtime();
    let host = std::sync::Arc::new(Host::new(rt.handle().clone()));
    let engine = crate::script_api::engine(host.clone());
    let s: Script = script::resolve_script(name, None)?;
    let ast = script::compile(&engine, &s, &host)?;
    let modules = imported(&engine, &ast, &host);
    Ok(uses(&ast, &modules, &BTreeMap::new())
        .accesses
        .into_keys()
        .map(|a| {
            let res = if a.subresource.is_empty() {
                a.resource
            } else {
                format!("{}/{}", a.resource, a.subresource)
            };
            let ns = match a.ns {
                Ns::Target => "target".to_owned(),
                Ns::Named(n) => n,
                Ns::Cluster => String::new(),
            };
            (a.verb, res, ns)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A k8s function added without its permissions here would be missed by preflight.
    #[test]
    fn every_k8s_function_has_its_permissions_listed() {
        let fns: BTreeSet<String> = crate::script_api::functions()
            .into_iter()
            .filter(|(m, ..)| m == "k8s")
            .map(|(_, n, ..)| n)
            .collect();
        assert!(fns.len() > 20, "{fns:?}");
        let missing: Vec<&String> = fns
            .iter()
            .filter(|n| primitive_accesses(n).is_empty() && !NO_ACCESS.contains(&n.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "k8s functions without permissions in primitive_accesses: {missing:?}"
        );
        for (name, n) in [
            ("scale", 3),
            ("get", 3),
            ("pvc_resize", 3),
            ("follow_logs", 5),
            ("list", 3),
            ("wait_deleted", 4),
        ] {
            assert!(takes_opts(name, n), "k8s::{name} with {n} arguments takes options last");
        }
        for (name, n) in [("scale", 2), ("list", 2), ("follow_logs", 4)] {
            assert!(!takes_opts(name, n), "k8s::{name} with {n} arguments takes no options");
        }
    }
}
