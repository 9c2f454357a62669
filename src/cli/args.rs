//! The command line's arguments: every subcommand and flag, as clap reads them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;

use crate::run::report::Lang;

#[derive(Parser, Debug)]
#[command(name = "vscript", version, about = "Vantiq maintenance runbooks as safe, rehearsable Rhai scripts", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run a procedure (a script path, or a name like `license_renew`).
    Run(RunArgs),
    /// The incident console: an interactive Rhai prompt with every script function.
    Repl(ReplArgs),
    /// Read-only checks of what a procedure needs on the installation, before the window:
    /// the API, every Kubernetes permission it uses, its objects, the tools dir, the login.
    Preflight {
        /// The procedure (name or path); without it, what every procedure needs in common.
        script: Option<String>,
        /// A parameter (repeatable), as for `run`: --set shared_namespace=shared
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Compile and lint scripts without running them (syntax, unknown functions).
    Check {
        /// Scripts or directories of scripts (default: the shipped scripts).
        paths: Vec<PathBuf>,
    },
    /// List the procedures available, with where each comes from.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Copy a shipped procedure or stdlib module into the tools dir to adapt it for a customer.
    Customize {
        /// A procedure (`minor_upgrade`) or stdlib module (`vantiq`).
        #[arg(add = ArgValueCompleter::new(super::complete::procedures_and_modules))]
        name: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Show customised files' changes against their origin, and upstream changes not taken yet.
    Diff {
        #[arg(add = ArgValueCompleter::new(super::complete::procedures_and_modules))]
        name: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Past runs from the tools dir's journal; with an id, that run's events.
    Runs {
        id: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// The reference: a procedure (header, parameters, steps), a stdlib module, or the script functions.
    Doc {
        /// A procedure (`minor_upgrade`), a stdlib module (`vantiq`, `incident`), a function
        /// (`k8s::scale`, `scale`) or a module of functions (`k8s`); nothing: every function.
        #[arg(add = ArgValueCompleter::new(super::complete::procedures_and_modules))]
        name: Option<String>,
        /// Write Rhai definition files (`*.d.rhai`) for editors into DIR instead.
        #[arg(long, value_name = "DIR", conflicts_with = "name")]
        definitions: Option<PathBuf>,
    },
    /// Many installations at once.
    #[command(subcommand)]
    Fleet(FleetCmd),
    /// Shell completions.
    Completions { shell: clap_complete::Shell },
    /// The simulated Vantiq cluster.
    #[command(subcommand)]
    Sim(SimCmd),
}

#[derive(Subcommand, Debug)]
pub enum SimCmd {
    /// Start a simulated installation in DIR and serve it until Ctrl-C.
    Start {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Time scale: every delay is divided by this.
        #[arg(long)]
        speed: Option<f64>,
        /// Copy and simulate this existing tools dir instead of generating one.
        #[arg(long)]
        tools: Option<PathBuf>,
    },
    /// Print the simulator's invariant violations; exit 0 only when there are none.
    Check {
        #[arg(long)]
        dir: PathBuf,
    },
    /// The gradlew shim (called by the simulated tools dir's ./gradlew).
    #[command(hide = true)]
    Gradle {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Which cluster and tools dir to act on.
#[derive(Args, Debug, Clone, Default)]
pub struct TargetArgs {
    /// The k8sdeploy_tools checkout (default: $VSCRIPT_TOOLS, or the current dir if it has targetCluster/).
    #[arg(long, env = "VSCRIPT_TOOLS")]
    pub tools: Option<PathBuf>,
    /// The cluster name passed to gradle as -Pcluster (default: targetCluster's git branch).
    #[arg(long)]
    pub cluster: Option<String>,
    /// The Vantiq namespace (default: vantiq.installation in cluster.properties).
    #[arg(short = 'n', long = "namespace", add = ArgValueCompleter::new(super::complete::namespaces))]
    pub namespace: Option<String>,
    /// The kube context (default: the kubeconfig's current context).
    #[arg(long, add = ArgValueCompleter::new(super::complete::contexts))]
    pub context: Option<String>,
    /// The kubeconfig (default: targetCluster/kubeconfig).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Run against a built-in simulated cluster (seeded from --tools if given, which is only copied).
    #[arg(long)]
    pub rehearse: bool,
    /// Simulator speed for --rehearse.
    #[arg(long, hide = true)]
    pub speed: Option<f64>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Script path or procedure name.
    #[arg(add = ArgValueCompleter::new(super::complete::procedures))]
    pub script: String,
    /// A parameter (repeatable): --set tag=1.31.0
    #[arg(long = "set", value_name = "KEY=VALUE", add = ArgValueCompleter::new(super::complete::set_params))]
    pub set: Vec<String>,
    /// Read for real; write nothing: Kubernetes writes go with dryRun=All, file edits show a diff.
    #[arg(long)]
    pub dry_run: bool,
    /// Answer yes to confirmations (unattended runs).
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Also write the Markdown summary for the customer's report to FILE.
    #[arg(long, value_name = "FILE.md")]
    pub report: Option<PathBuf>,
    /// The language of `--report`.
    #[arg(long, value_enum, default_value_t = crate::run::report::Lang::En)]
    pub lang: crate::run::report::Lang,
    /// The time zone of `--report`'s times: an IANA name (Asia/Tokyo), UTC, or +09:00
    /// (default: JST for --lang ja, the machine's zone for en).
    #[arg(long, value_name = "ZONE", value_parser = crate::run::report::Zone::parse)]
    pub tz: Option<crate::run::report::Zone>,
    /// Keep a successful rehearsal's files (the simulator's directory, the run's temp dir).
    #[arg(long)]
    pub keep: bool,
    /// Continue a failed or interrupted run: completed steps are skipped, its parameters and remembered values reused.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Remove another run's maintenance lock first (asks for confirmation unless --yes).
    #[arg(long)]
    pub force_unlock: bool,
}

#[derive(Args, Debug)]
pub struct ReplArgs {
    /// A parameter (repeatable), readable with `param()`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Writes go with dryRun=All, file edits show a diff.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub target: TargetArgs,
    /// History file (default: the user's data dir, vscript/history).
    #[arg(long, hide = true)]
    pub history: Option<PathBuf>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum FleetCmd {
    /// Run one procedure on many installations concurrently, then print one summary.
    Run(FleetRunArgs),
}

#[derive(Args, Debug)]
pub struct FleetRunArgs {
    /// Script path or procedure name (resolved in each installation's tools dir).
    pub script: String,
    /// A tools dir (repeatable); the cluster is named after its targetCluster branch.
    #[arg(long = "target", value_name = "TOOLS_DIR")]
    pub target: Vec<PathBuf>,
    /// A fleet file: `[[target]] name = "acme-prod" tools = "/path" set = { ... }`.
    #[arg(long = "targets", value_name = "FLEET.toml")]
    pub targets: Option<PathBuf>,
    /// How many installations run at the same time.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Stop everything at the first failure: running ones are interrupted, the rest skipped.
    #[arg(long)]
    pub fail_fast: bool,
    /// A parameter for every installation (repeatable); a fleet file's `set` wins.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Rehearse each installation on its own simulated cluster (tools dirs are only copied).
    #[arg(long)]
    pub rehearse: bool,
    /// Simulator speed for --rehearse.
    #[arg(long, hide = true)]
    pub speed: Option<f64>,
    /// Every run is a dry run.
    #[arg(long)]
    pub dry_run: bool,
    /// Write each installation's Markdown report to DIR/<cluster>.md.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// The language of the Markdown reports.
    #[arg(long, value_enum, default_value_t = Lang::En)]
    pub lang: Lang,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}
