//! Earlier runs in a tools dir, as scripts see them through `last_run` (rollbacks find
//! what to restore this way). A run never finds itself or the attempts it continues.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::journal;
use crate::engine::host::RunHistory;

/// The journal of a tools dir, without the runs of the current `--resume` chain.
pub struct JournalHistory {
    tools: PathBuf,
    chain: Vec<String>,
}

impl JournalHistory {
    pub fn new(tools: &Path, chain: Vec<String>) -> Self {
        JournalHistory {
            tools: tools.to_owned(),
            chain,
        }
    }
}

impl RunHistory for JournalHistory {
    fn last_run(&self, script: &str, filter: Option<&Map<String, Value>>) -> Option<Map<String, Value>> {
        let found = journal::list_runs(&self.tools).into_iter().find(|r| {
            r.script == script
                && !self.chain.contains(&r.id)
                && match filter {
                    Some(f) => f.iter().all(|(k, v)| r.remembered.get(k) == Some(v)),
                    None => r.changes() > 0,
                }
        })?;
        let mut m = found.remembered.clone();
        m.insert("run_id".into(), found.id.clone().into());
        m.insert("started".into(), found.started.clone().into());
        m.insert("ok".into(), (found.exit_code == Some(0)).into());
        m.insert("chain".into(), found.chain().into());
        Some(m)
    }
}
