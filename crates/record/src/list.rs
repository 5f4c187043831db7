//! Listing recordings in a folder, for the HTTP layer.

use serde::Serialize;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// File extensions listed as recordings.
pub const RECORDING_EXTENSIONS: &[&str] = &["mkv", "webm", "mp4"];
const MAX_DEPTH: usize = 4;
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingEntry {
    /// Path relative to the listed folder, with `/` separators
    /// (e.g. `room1/alice/stream-1764000000000.mkv`).
    pub name: String,
    #[serde(skip)]
    pub path: PathBuf,
    pub size: u64,
    /// Last modification, ms since the Unix epoch.
    pub modified_unix_ms: u64,
}

/// Lists recording files (`.mkv`, `.webm`, `.mp4`) under `dir`, recursing
/// up to 4 levels, sorted by name. Hidden files, symlinks and unfinished
/// mix outputs (`*.part`) are skipped. A missing folder gives an empty list.
pub fn list_recordings(dir: &Path) -> io::Result<Vec<RecordingEntry>> {
    let mut out = Vec::new();
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
        Ok(m) if !m.is_dir() => {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a folder"))
        }
        Ok(_) => {}
    }
    walk(dir, "", 0, &mut out)?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<RecordingEntry>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        if out.len() >= MAX_ENTRIES {
            break;
        }
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let ft = entry.file_type()?;
        let rel = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        if ft.is_dir() {
            if depth + 1 < MAX_DEPTH {
                walk(&entry.path(), &rel, depth + 1, out)?;
            }
            continue;
        }
        if !ft.is_file() {
            continue;
        }
        let ext_ok = Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| RECORDING_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if !ext_ok {
            continue;
        }
        let meta = entry.metadata()?;
        let modified_unix_ms = meta
            .modified()
            .unwrap_or(SystemTime::UNIX_EPOCH)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        out.push(RecordingEntry {
            name: rel,
            path: entry.path(),
            size: meta.len(),
            modified_unix_ms,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_nested_recordings_only() {
        let dir = std::env::temp_dir().join(format!("huddle-list-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("room1/alice")).unwrap();
        fs::write(dir.join("room1/alice/s-1.mkv"), b"abc").unwrap();
        fs::write(dir.join("room1/mix.webm"), b"abcdef").unwrap();
        fs::write(dir.join("room1/mix.mkv.part"), b"x").unwrap();
        fs::write(dir.join("notes.txt"), b"x").unwrap();
        fs::write(dir.join(".hidden.mkv"), b"x").unwrap();
        let list = list_recordings(&dir).unwrap();
        let names: Vec<_> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["room1/alice/s-1.mkv", "room1/mix.webm"]);
        assert_eq!(list[0].size, 3);
        assert_eq!(list[1].size, 6);
        assert!(list[0].modified_unix_ms > 1_600_000_000_000);
        let json = serde_json::to_value(&list[0]).unwrap();
        assert_eq!(json["name"], "room1/alice/s-1.mkv");
        assert!(json.get("path").is_none());
        assert!(list_recordings(&dir.join("missing")).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
