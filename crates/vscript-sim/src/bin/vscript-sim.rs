//! `vscript-sim`: the simulator on its own (`start`, `check`, `gradle`), for tests and
//! for running a rehearsal cluster without the main `vscript` binary.

use std::path::PathBuf;
use std::process::ExitCode;

use vscript_sim::world::{SimOptions, check, gradle_main, run_foreground};

const USAGE: &str = "usage: vscript-sim start --dir DIR [--port N] [--speed F] [--tools PATH]\n       vscript-sim check --dir DIR\n       vscript-sim gradle [gradle args...]";

fn code(n: i32) -> ExitCode {
    ExitCode::from(u8::try_from(n).unwrap_or(1))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(cmd) = args.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest: Vec<String> = args.collect();
    if cmd == "gradle" {
        return code(gradle_main(rest));
    }
    let (mut dir, mut port, mut speed, mut tools) = (None, 0u16, vscript_sim::world::clock::DEFAULT_SPEED, None);
    let mut it = rest.into_iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_default();
        match a.as_str() {
            "--dir" => dir = Some(PathBuf::from(val())),
            "--port" => port = val().parse().unwrap_or(0),
            "--speed" => speed = val().parse().unwrap_or(speed),
            "--tools" => tools = Some(PathBuf::from(val())),
            _ => {
                eprintln!("unexpected argument `{a}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("--dir is required\n{USAGE}");
        return ExitCode::from(2);
    };
    match cmd.as_str() {
        "start" => {
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "vscript-sim".into());
            let mut opts = SimOptions::new(dir, vec![exe, "gradle".into()]);
            opts.port = port;
            opts.speed = speed;
            opts.tools = tools;
            code(run_foreground(opts))
        }
        "check" => match check(&dir) {
            Ok(v) if v.is_empty() => {
                println!("no violations");
                ExitCode::SUCCESS
            }
            Ok(v) => {
                for x in &v {
                    println!("{}  {}  {}", x.at, x.rule, x.message);
                }
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
