//! The command line: the top floor. It parses the arguments, hands each subcommand to
//! the layer that does it (`run`, `repl`, `fleet`, …), and is the one place that prints
//! errors and picks exit codes (0 ok, 1 script failed, 2 usage, 3 aborted by the
//! operator, 4 safety refusal).

pub mod args;
mod check;
mod complete;
mod customize;
mod doc;
mod list;
mod runs;
mod sim;

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

pub use crate::run::{EXIT_ABORTED, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Failure};
use crate::run::{RunRequest, TargetSpec};
use args::{Cli, Cmd, FleetCmd, FleetRunArgs, OutputFormat, RunArgs, TargetArgs};

pub fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // `COMPLETE=bash vscript -- …`: the shell asks for completions (see `complete`).
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let code = match cli.cmd {
        Cmd::Run(args) => run(args),
        Cmd::Repl(args) => {
            parse_sets(&args.set).and_then(|p| crate::repl::main(&args.target.spec(), p, args.dry_run, args.history.clone()))
        }
        Cmd::Preflight { script, set, target } => parse_sets(&set).and_then(|params| {
            crate::run::preflight::preflight(crate::run::preflight::PreflightRequest {
                script,
                params,
                target: target.spec(),
            })
        }),
        Cmd::Check { paths } => check::check(&paths),
        Cmd::List { target } => list::list(&target),
        Cmd::Customize { name, target } => customize::customize(&name, &target),
        Cmd::Diff { name, target } => customize::diff(name.as_deref(), &target),
        Cmd::Runs { id, target } => runs::runs(id.as_deref(), &target),
        Cmd::Doc {
            definitions: Some(dir), ..
        } => doc::write_definitions(&dir),
        Cmd::Doc { name, .. } => doc::doc(name.as_deref()),
        Cmd::Fleet(FleetCmd::Run(args)) => fleet(args),
        Cmd::Completions { shell } => match complete::registration(shell) {
            Ok(text) => {
                out(&text);
                Ok(EXIT_OK)
            }
            Err(e) => Err(Failure::usage(e)),
        },
        Cmd::Sim(cmd) => sim::sim(cmd),
    };
    match code {
        Ok(c) => ExitCode::from(c),
        Err(f) => {
            use std::io::Write;
            let msg = if f.message.starts_with("error") {
                f.message
            } else {
                format!("error: {}", f.message)
            };
            let _ = writeln!(std::io::stderr(), "{msg}");
            ExitCode::from(f.code)
        }
    }
}

/// Parses `--set key=value` arguments.
pub fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for s in sets {
        let Some((k, v)) = s.split_once('=') else {
            return Err(Failure::usage(format!("bad --set `{s}`: expected KEY=VALUE")));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-') {
            return Err(Failure::usage(format!(
                "bad --set `{s}`: the key must be letters, digits, `_`, `-` or `.`"
            )));
        }
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}

impl TargetArgs {
    /// The target as the run layer takes it.
    pub fn spec(&self) -> TargetSpec {
        TargetSpec {
            tools: self.tools.clone(),
            cluster: self.cluster.clone(),
            namespace: self.namespace.clone(),
            context: self.context.clone(),
            kubeconfig: self.kubeconfig.clone(),
            rehearse: self.rehearse,
            speed: self.speed,
        }
    }
}

fn run(args: RunArgs) -> Result<u8, Failure> {
    crate::run::run(RunRequest {
        script: args.script,
        params: parse_sets(&args.set)?,
        target: args.target.spec(),
        dry_run: args.dry_run,
        yes: args.yes,
        json: args.output == OutputFormat::Json,
        report: args.report,
        lang: args.lang,
        resume: args.resume,
        force_unlock: args.force_unlock,
        tz: args.tz,
        keep: args.keep,
    })
}

fn fleet(args: FleetRunArgs) -> Result<u8, Failure> {
    crate::fleet::run(crate::fleet::FleetRequest {
        params: parse_sets(&args.set)?,
        script: args.script,
        target: args.target,
        targets: args.targets,
        parallel: args.parallel,
        fail_fast: args.fail_fast,
        rehearse: args.rehearse,
        speed: args.speed,
        dry_run: args.dry_run,
        report_dir: args.report_dir,
        lang: args.lang,
        json: args.output == OutputFormat::Json,
    })
}

/// Prints to stdout, ignoring a closed pipe (`vscript doc | head`).
fn out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
