//! The `git` script module: the runbook's `git pull` in the tools dir, and read-only status.

use std::path::PathBuf;
use std::time::Duration;

use rhai::NativeCallContext;
use rhai::plugin::*;
use serde_json::json;

use super::client::read_head;
use crate::engine::{Change, Mode, OrFail, RhaiResultOf, fail, host};

fn tools(ctx: &NativeCallContext) -> RhaiResultOf<PathBuf> {
    host(ctx)?
        .target()
        .tools_dir
        .clone()
        .ok_or_else(|| fail(ctx, "git needs a tools dir: pass --tools DIR"))
}

fn git_out(ctx: &NativeCallContext, args: &[&str], quiet: bool) -> RhaiResultOf<String> {
    let h = host(ctx)?;
    let dir = tools(ctx)?;
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let hh = h.clone();
    let r = h.block(&format!("running `git {}`", args.join(" ")), Duration::from_secs(300), async move {
        let mut all = Vec::new();
        let r = crate::process::run_process("git", &args, &dir, |l| {
            if !quiet {
                hh.say("  │", "2", l);
            }
            all.push(l.to_owned());
        })
        .await;
        r.map(|_| all.join("\n"))
    });
    r.map_err(|e| fail(ctx, e))
}

fn head_commit(ctx: &NativeCallContext) -> RhaiResultOf<String> {
    match read_head(&tools(ctx)?) {
        Some(h) => Ok(h),
        None => git_out(ctx, &["rev-parse", "HEAD"], true),
    }
}

#[export_module]
pub mod git {
    use super::*;

    /// `git pull --ff-only` in the tools dir (runbook: update k8sdeploy_tools first).
    /// Under `--dry-run` it is listed, not run. Returns the new HEAD commit.
    /// ```rhai
    /// git::pull();
    /// ```
    #[rhai_fn(return_raw)]
    pub fn pull(ctx: NativeCallContext) -> RhaiResultOf<String> {
        let h = host(&ctx)?;
        let before = head_commit(&ctx)?;
        let change = Change::new("git.pull", "tools dir").before(json!(before));
        h.change(change, |mode, _| match mode {
            Mode::DryRun => Ok(before.clone()),
            Mode::Real => {
                git_out(&ctx, &["pull", "--ff-only"], false)?;
                head_commit(&ctx)
            }
        })
        .or_fail(&ctx)
    }

    /// `git status --porcelain` of the tools dir: an empty string when clean.
    #[rhai_fn(return_raw)]
    pub fn status(ctx: NativeCallContext) -> RhaiResultOf<String> {
        let h = host(&ctx)?;
        h.observe(json!(["git.status"]), || git_out(&ctx, &["status", "--porcelain"], true))
            .or_fail(&ctx)
    }

    /// The commit the tools dir is on.
    #[rhai_fn(return_raw)]
    pub fn head(ctx: NativeCallContext) -> RhaiResultOf<String> {
        let h = host(&ctx)?;
        h.observe(json!(["git.head"]), || head_commit(&ctx)).or_fail(&ctx)
    }

    /// The branch targetCluster/ is on (= the cluster name), or `()` when it is not a git
    /// checkout on a branch.
    /// ```rhai
    /// if git::cluster_branch() == () { throw "targetCluster/ is not a git checkout"; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cluster_branch(ctx: NativeCallContext) -> RhaiResultOf<Dynamic> {
        let dir = tools(&ctx)?.join("targetCluster");
        let h = host(&ctx)?;
        let b = h
            .observe(json!(["git.cluster_branch"]), || {
                Ok::<_, std::convert::Infallible>(crate::git::client::branch(&dir))
            })
            .or_fail(&ctx)?;
        Ok(b.map(Dynamic::from).unwrap_or(Dynamic::UNIT))
    }
}
