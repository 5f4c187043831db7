//! Result files (JSON lines) and the markdown report.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::peer::BoxError;
use crate::scenario::ScenarioResult;

pub fn append_jsonl(path: &Path, r: &ScenarioResult) -> Result<(), BoxError> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{}", serde_json::to_string(r)?)?;
    Ok(())
}

pub fn read_jsonl(path: &Path) -> Result<Vec<ScenarioResult>, BoxError> {
    let text = std::fs::read_to_string(path)?;
    let mut v = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        v.push(serde_json::from_str(line)?);
    }
    Ok(v)
}

pub fn write_report(_files: &[PathBuf], _out: &Path, _notes: &str) -> Result<(), BoxError> {
    Err("not yet".into())
}
