//! The console's loops and signals: the interactive loop on a terminal (line editing,
//! history, completion, hints), piped input read entry by entry, and Ctrl-C, which stops
//! the running command (three presses for one command that does not stop leave vscript).

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Cmd, Config, EditMode, Editor, KeyCode, KeyEvent, Modifiers};

use super::Repl;
use super::helper::{self, ReplHelper};
use crate::engine::host::Cancel;
use crate::run::{EXIT_ABORTED, EXIT_FAILED, EXIT_OK};

/// `~/.local/share/vscript/history` (the user's data dir).
pub(super) fn default_history() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("vscript").join("history"))
}

/// The cancel token of the command being evaluated (`None` at the prompt).
pub(super) type CancelSlot = Arc<Mutex<Option<Cancel>>>;

/// Ctrl-C while a command runs trips its token (waits, log follows and script loops stop);
/// pressing it three times for one command that does not stop exits with code 3.
pub(super) fn install_ctrl_c(rt: &tokio::runtime::Runtime, slot: CancelSlot) {
    rt.spawn(async move {
        let mut presses = 0;
        while tokio::signal::ctrl_c().await.is_ok() {
            let current = slot.lock().unwrap().clone();
            let Some(c) = current else { continue };
            if !c.is_tripped() {
                presses = 1;
                crate::errln!("\nvscript: Ctrl-C — stopping the running command");
                c.trip();
            } else {
                presses += 1;
                if presses >= 3 {
                    crate::errln!("vscript: the command does not stop; leaving");
                    std::process::exit(i32::from(EXIT_ABORTED));
                }
                crate::errln!("still stopping (Ctrl-C once more to leave vscript)");
            }
        }
    });
}

impl Repl<'_> {
    /// The interactive loop (a terminal): line editing, history, completion, hints.
    pub fn interactive(&mut self, history: Option<PathBuf>) -> u8 {
        let config = Config::builder()
            .edit_mode(EditMode::Emacs)
            .completion_type(rustyline::CompletionType::List)
            .history_ignore_space(true)
            .auto_add_history(false)
            .max_history_size(5000)
            .map(|b| b.build())
            .unwrap_or_default();
        let mut rl: Editor<ReplHelper, DefaultHistory> = match Editor::with_config(config) {
            Ok(r) => r,
            Err(e) => {
                crate::errln!("error: cannot start the line editor: {e}");
                return EXIT_FAILED;
            }
        };
        rl.set_helper(Some(self.helper()));
        rl.bind_sequence(KeyEvent(KeyCode::Enter, Modifiers::CTRL), Cmd::Newline);
        rl.bind_sequence(KeyEvent(KeyCode::Enter, Modifiers::ALT), Cmd::Newline);
        if let Some(h) = &history {
            if let Some(dir) = h.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if h.exists()
                && let Err(e) = rl.load_history(h)
            {
                crate::errln!("vscript: warning: cannot read history {}: {e}", h.display());
            }
        }
        crate::errln!("Type :help for help, Tab to complete, Ctrl-D to leave.");
        loop {
            let prompt = self.prompt();
            let styled = if self.host.out().color {
                format!("\x1b[1;34m{prompt}\x1b[0m")
            } else {
                prompt.clone()
            };
            match rl.readline(&(prompt.as_str(), styled.as_str())) {
                Ok(line) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    if rl.add_history_entry(line.as_str()).unwrap_or(false)
                        && let Some(h) = &history
                        && let Err(e) = rl.append_history(h)
                    {
                        crate::errln!("vscript: warning: cannot write history {}: {e}", h.display());
                    }
                    let reply = self.handle(&line);
                    reply.print();
                    if reply.quit {
                        break;
                    }
                }
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => {
                    crate::errln!("error: reading the terminal: {e}");
                    return EXIT_FAILED;
                }
            }
        }
        EXIT_OK
    }

    /// Piped input: each entry (lines joined while a block is unfinished) in order; results
    /// on stdout, errors on stderr; 0 when every entry succeeded, 1 otherwise, 3 when one was
    /// stopped with Ctrl-C.
    pub fn piped(&mut self, input: impl BufRead) -> u8 {
        let mut all_ok = true;
        let mut buf = String::new();
        for line in input.lines() {
            let Ok(line) = line else { break };
            if buf.is_empty() && line.trim().is_empty() {
                continue;
            }
            buf.push_str(&line);
            buf.push('\n');
            if helper::is_incomplete(&self.parser, &buf) {
                continue;
            }
            let reply = self.handle(&buf);
            buf.clear();
            reply.print();
            all_ok &= reply.ok;
            if reply.cancelled {
                return EXIT_ABORTED;
            }
            if reply.quit {
                break;
            }
        }
        if !buf.trim().is_empty() {
            let reply = self.handle(&buf);
            reply.print();
            all_ok &= reply.ok;
        }
        if all_ok { EXIT_OK } else { EXIT_FAILED }
    }
}
