//! The console and the maintenance lock: a command that changes something takes the
//! lock for its duration (and releases it afterwards), or is refused while another run
//! holds it. Commands that only read never touch the lock.

use std::sync::{Arc, Mutex, Weak};

use crate::engine::Host;
use crate::run::lock::{self, Held};

/// The lock the running command holds, if any.
#[derive(Clone, Default)]
pub struct CommandLock(Arc<Mutex<Option<Held>>>);

impl CommandLock {
    /// Makes `host`'s changes take the lock first (see the gate's write guard).
    pub fn install(&self, host: &Arc<Host>, bg: tokio::runtime::Handle) {
        let held = self.0.clone();
        let weak: Weak<Host> = Arc::downgrade(host);
        host.state().set_write_guard(Some(Box::new(move || {
            let mut h = held.lock().unwrap();
            if h.is_some() {
                return Ok(());
            }
            let host = weak.upgrade().ok_or("the console is switching targets")?;
            let id = format!("console-{}", std::process::id());
            match lock::take_for(&host, &bg, &lock::identity(&id), false, None) {
                Ok(x) => {
                    *h = Some(x);
                    Ok(())
                }
                Err(f) => Err(format!("{}; the console changes nothing while it is held", f.message)),
            }
        })));
    }

    /// Releases the lock the command took (after every command).
    pub fn release(&self, host: &Host) {
        let taken = self.0.lock().unwrap().take();
        if let Some(held) = taken {
            held.release(host);
            crate::errln!("vscript: released the maintenance lock");
        }
    }
}
