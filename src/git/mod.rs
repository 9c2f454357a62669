//! `git`: the runbook's `git pull` in the tools dir, and read-only status.

use std::path::PathBuf;
use std::time::Duration;

use rhai::NativeCallContext;
use rhai::plugin::*;

use crate::engine::{RhaiResultOf, fail, host};

/// Registers the `git` script module.
pub fn register(engine: &mut rhai::Engine) {
    engine.register_static_module("git", rhai::exported_module!(git).into());
}

fn tools(ctx: &NativeCallContext) -> RhaiResultOf<PathBuf> {
    host(ctx)?
        .target
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
        let r = crate::gradle::run_process("git", &args, &dir, |l| {
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
        let before = git_out(&ctx, &["rev-parse", "HEAD"], true)?;
        if h.dry_run {
            h.effect("git.pull", "tools dir", Some(before.clone().into()), None, "dry-run");
            return Ok(before);
        }
        git_out(&ctx, &["pull", "--ff-only"], false)?;
        let after = git_out(&ctx, &["rev-parse", "HEAD"], true)?;
        h.effect("git.pull", "tools dir", Some(before.into()), Some(after.clone().into()), "done");
        Ok(after)
    }

    /// `git status --porcelain` of the tools dir: an empty string when clean.
    #[rhai_fn(return_raw)]
    pub fn status(ctx: NativeCallContext) -> RhaiResultOf<String> {
        git_out(&ctx, &["status", "--porcelain"], true)
    }

    /// The commit the tools dir is on.
    #[rhai_fn(return_raw)]
    pub fn head(ctx: NativeCallContext) -> RhaiResultOf<String> {
        git_out(&ctx, &["rev-parse", "HEAD"], true)
    }
}
