//! Event sources for runs: JSON lines from a file or stdin, or one event repeated.

use std::io::BufRead;

use bytes::Bytes;

/// An event source that could not be read; names the source and, where it applies, the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSourceError(pub String);

impl std::fmt::Display for EventSourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EventSourceError {}

/// Reads JSON lines: one event per non-blank line. A line that is not JSON is an error
/// naming `source` and its line number (1-based).
pub fn read_json_lines(reader: impl BufRead, source: &str) -> Result<Vec<Bytes>, EventSourceError> {
    let mut events = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line =
            line.map_err(|e| EventSourceError(format!("{source}:{number}: cannot read: {e}")))?;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(trimmed) {
            return Err(EventSourceError(format!(
                "{source}:{number}: not a JSON event: {e} (each line must hold one complete JSON value)"
            )));
        }
        events.push(Bytes::from(trimmed.to_string()));
    }
    if events.is_empty() {
        return Err(EventSourceError(format!(
            "{source}: no events (the file has no non-blank line)"
        )));
    }
    Ok(events)
}

/// `count` copies of one JSON event given on the command line.
pub fn repeat_event(json: &str, count: usize) -> Result<Vec<Bytes>, EventSourceError> {
    serde_json::from_str::<serde::de::IgnoredAny>(json)
        .map_err(|e| EventSourceError(format!("--event: not JSON: {e}")))?;
    Ok(vec![Bytes::from(json.to_string()); count])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_line_is_named_by_number() {
        let input = "{\"a\":1}\n\n{\"b\": \n{\"c\":3}\n";
        let err = read_json_lines(input.as_bytes(), "events.jsonl").unwrap_err();
        assert!(
            err.0.starts_with("events.jsonl:3: not a JSON event"),
            "{err}"
        );
    }

    #[test]
    fn blank_lines_are_skipped() {
        let events = read_json_lines("{\"a\":1}\n\n  \n[2]\n".as_bytes(), "x").unwrap();
        assert_eq!(events, vec![Bytes::from("{\"a\":1}"), Bytes::from("[2]")]);
    }

    #[test]
    fn an_empty_source_is_an_error() {
        let err = read_json_lines("\n\n".as_bytes(), "empty.jsonl").unwrap_err();
        assert!(err.0.contains("no events"), "{err}");
    }

    #[test]
    fn a_repeated_event_must_be_json() {
        assert!(repeat_event("{", 3).unwrap_err().0.contains("--event"));
        assert_eq!(repeat_event("{}", 3).unwrap().len(), 3);
    }
}
