//! The `gradle` script module.

use std::time::Duration;

use rhai::plugin::*;
use rhai::{Map, NativeCallContext};
use serde_json::json;

use crate::engine::{Change, Mode, RhaiResultOf, fail, host};

#[export_module]
pub mod gradle {
    use super::*;

    /// Runs `./gradlew -Pcluster=<cluster> <task>` in the tools dir, streaming its output;
    /// fails with the last lines of output when the task fails. Default timeout 30 minutes.
    /// ```rhai
    /// gradle::run("generateSecrets");
    /// ```
    #[rhai_fn(return_raw, name = "run")]
    pub fn run(ctx: NativeCallContext, task: &str) -> RhaiResultOf<()> {
        run_with(ctx, task, Map::new())
    }

    /// Runs a gradle task with options: `#{ timeout: 3600 }` (seconds).
    /// ```rhai
    /// gradle::run("deployVantiq", #{ timeout: 3600 });
    /// ```
    #[rhai_fn(return_raw, name = "run")]
    pub fn run_with(ctx: NativeCallContext, task: &str, opts: Map) -> RhaiResultOf<()> {
        let h = host(&ctx)?;
        let tools = h
            .target()
            .tools_dir
            .clone()
            .ok_or_else(|| fail(&ctx, "gradle needs a tools dir: pass --tools DIR (the k8sdeploy_tools checkout)"))?;
        let cluster = h.target().cluster.clone().ok_or_else(|| {
            fail(
                &ctx,
                "gradle needs the cluster name: targetCluster/ is not a git checkout on a branch (or pass --cluster NAME)",
            )
        })?;
        let timeout = opts.get("timeout").and_then(|v| v.as_int().ok()).unwrap_or(1800);
        if timeout <= 0 {
            return Err(fail(&ctx, format!("timeout must be a positive number of seconds, not {timeout}")));
        }
        let gradlew = tools.join("gradlew");
        if !gradlew.is_file() {
            return Err(fail(
                &ctx,
                format!("`{}` not found: is --tools the k8sdeploy_tools checkout?", gradlew.display()),
            ));
        }
        if h.state().has_written(&crate::engine::host::sandbox_resolved(&gradlew)) {
            return Err(fail(&ctx, "refusing to run ./gradlew: this run wrote to it"));
        }
        let args = vec![format!("-Pcluster={cluster}"), task.to_owned()];
        let shown = format!("./gradlew {}", args.join(" "));
        let change = Change::new("gradle.run", shown.clone()).detail(json!(task));
        h.change(change, |mode, _| {
            if mode == Mode::DryRun {
                return Ok(());
            }
            h.say("  $", "2", &shown);
            let hh = h.clone();
            let prog = gradlew.display().to_string();
            let (args, tools) = (args.clone(), tools.clone());
            h.block(&format!("running `{shown}`"), Duration::from_secs(timeout as u64), async move {
                crate::process::run_process(&prog, &args, &tools, |l| hh.say("  │", "2", l)).await
            })
            .map(|_| ())
        })
        .map_err(|e| fail(&ctx, format!("gradle task `{task}` failed: {}", h.secrets().redact(&e.to_string()))))
    }
}
