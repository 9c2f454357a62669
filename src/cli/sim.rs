//! `vscript sim`: the simulated Vantiq cluster (start, check, the gradlew shim).

use super::args::SimCmd;
use super::{EXIT_FAILED, EXIT_OK, Failure};

pub fn sim(cmd: SimCmd) -> Result<u8, Failure> {
    match cmd {
        SimCmd::Start { dir, port, speed, tools } => {
            let exe = std::env::current_exe().map_err(|e| Failure::failed(e.to_string()))?;
            if let Some(t) = &tools
                && !t.is_dir()
            {
                return Err(Failure::usage(format!("tools dir `{}` does not exist", t.display())));
            }
            let mut opts = vscript_sim::SimOptions::new(dir, vec![exe.display().to_string(), "sim".into(), "gradle".into()]);
            opts.port = port;
            opts.tools = tools;
            if let Some(s) = speed {
                if !(s > 0.0) {
                    return Err(Failure::usage("--speed must be greater than 0"));
                }
                opts.speed = s;
            }
            Ok(u8::try_from(vscript_sim::run_foreground(opts)).unwrap_or(EXIT_FAILED))
        }
        SimCmd::Check { dir } => {
            let v = vscript_sim::check(&dir).map_err(|e| Failure::failed(format!("{e:#}")))?;
            if v.is_empty() {
                crate::outln!("no invariant violations");
                Ok(EXIT_OK)
            } else {
                for x in &v {
                    crate::outln!("{} [{}] {}", x.at, x.rule, x.message);
                }
                crate::outln!("{} violation(s)", v.len());
                Ok(EXIT_FAILED)
            }
        }
        SimCmd::Gradle { args } => Ok(u8::try_from(vscript_sim::gradle_main(args)).unwrap_or(EXIT_FAILED)),
    }
}
