//! Recording file names from a template, safe for any Unicode input.
//!
//! Placeholders: `{room}`, `{login}`, `{stream}`, `{start}` (Unix ms of the publish).
//! Each value is cleaned before it is put in: path separators, control characters and the
//! characters Windows forbids become `_`, a leading dot becomes `_` (no hidden files, no `..`),
//! and long values are cut at 64 characters. Letters of every script are kept, so a Cyrillic
//! or CJK login stays readable. The stream name carries a random part and the start time is
//! in milliseconds, so two recordings never share a name.

pub const DEFAULT_TEMPLATE: &str = "{room}-{login}-{stream}-{start}";

const MAX_PART_CHARS: usize = 64;

/// The file name (with extension `.mkv`) for one recording.
pub fn render(
    template: &str,
    room: Option<&str>,
    login: &str,
    stream: &str,
    start_ms: u64,
) -> String {
    let name = template
        .replace("{room}", &clean(room.unwrap_or("noroom")))
        .replace("{login}", &clean(login))
        .replace("{stream}", &clean(stream))
        .replace("{start}", &start_ms.to_string());
    // The template itself may hold separators: clean the whole name once more.
    format!("{}.mkv", clean_whole(&name))
}

fn clean(part: &str) -> String {
    let cleaned: String = part
        .chars()
        .take(MAX_PART_CHARS)
        .map(|c| if is_unsafe(c) { '_' } else { c })
        .collect();
    if cleaned.is_empty() {
        "_".to_string()
    } else {
        cleaned
    }
}

fn clean_whole(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if is_unsafe(c) { '_' } else { c })
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    out
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '\0'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_fill_the_template() {
        assert_eq!(
            render(DEFAULT_TEMPLATE, Some("R"), "alice", "R-alice-1f0c", 1700),
            "R-alice-R-alice-1f0c-1700.mkv"
        );
    }

    #[test]
    fn traversal_and_separators_are_neutralised() {
        let n = render(DEFAULT_TEMPLATE, Some("../../etc"), "a/b\\c", "x\0y", 1);
        assert!(
            !n.contains('/') && !n.contains('\\') && !n.contains('\0'),
            "{n}"
        );
        assert!(!n.starts_with('.'), "{n}");
        let n = render("{login}", None, "..", "s", 1);
        assert_eq!(n, "_..mkv");
    }

    #[test]
    fn unicode_logins_are_kept() {
        let n = render(DEFAULT_TEMPLATE, Some("комната"), "世界👋", "s", 5);
        assert_eq!(n, "комната-世界👋-s-5.mkv");
    }

    #[test]
    fn long_values_are_cut() {
        let long = "я".repeat(500);
        let n = render("{login}", None, &long, "s", 1);
        assert_eq!(n.chars().count(), MAX_PART_CHARS + 4);
    }
}
