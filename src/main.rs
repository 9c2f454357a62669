use std::process::ExitCode;

fn main() -> ExitCode {
    vscript::cli::main()
}
