//! Limits checked on a config text before the YAML parser sees it.
//!
//! The parser's time grows with the square of the nesting depth of flow
//! collections (`[...]`, `{...}`): a 100,000-level nested file of 200 kB
//! took it minutes. A settings file nests a few levels and is a few
//! kilobytes, so the limits below refuse only hostile or broken texts, fast
//! and with the line where the limit was passed.
//!
//! The scan is deliberately simple: every `[` or `{` counts as an opening and
//! every `]` or `}` as a closing, quoted or not. It may over-count brackets
//! inside quoted text (a refusal a real file never meets), and the total of
//! openings is bounded as well, so that no arrangement of quotes can hide a
//! deep nesting from it.

/// Largest config text accepted, in bytes.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// Deepest nesting of `[`/`{` accepted.
pub const MAX_NESTING: usize = 64;
/// Most `[`/`{` accepted in one text.
pub const MAX_OPENINGS: usize = 10_000;

/// Why a text was refused before parsing: the 1-based line (when one
/// applies) and the message, which names the limit and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OutOfBounds {
    pub line: Option<usize>,
    pub message: String,
}

/// Checks the size and the bracket nesting of a config text.
pub(super) fn check(text: &str) -> Result<(), OutOfBounds> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(OutOfBounds {
            line: None,
            message: format!(
                "the text is {} bytes, more than the {MAX_CONFIG_BYTES} a settings file may have; fix: \
                 remove what is not settings",
                text.len()
            ),
        });
    }
    let (mut depth, mut openings, mut line) = (0usize, 0usize, 1usize);
    for byte in text.bytes() {
        match byte {
            b'\n' => line += 1,
            b'[' | b'{' => {
                depth += 1;
                openings += 1;
                if depth > MAX_NESTING {
                    return Err(OutOfBounds {
                        line: Some(line),
                        message: format!(
                            "`[`/`{{` nest deeper than {MAX_NESTING} levels at line {line}; fix: settings nest a \
                             few levels, write lists and maps in block style"
                        ),
                    });
                }
                if openings > MAX_OPENINGS {
                    return Err(OutOfBounds {
                        line: Some(line),
                        message: format!(
                            "more than {MAX_OPENINGS} `[`/`{{` by line {line}; fix: write lists and maps in \
                             block style"
                        ),
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_settings_pass() {
        let text = "mappings:\n  contact:\n    - {hubspot: a, salesforce: B, values: [x, y]}\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn a_deep_nesting_is_refused_at_its_line() {
        let text = format!("version: 1\nmappings: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let refused = check(&text).err();
        assert_eq!(refused.as_ref().and_then(|r| r.line), Some(2));
        assert!(refused.is_some_and(|r| r.message.contains("deeper than 64")));
    }

    #[test]
    fn quoted_closings_cannot_hide_a_deep_nesting() {
        let text = format!("mappings: {}\n", "[ \"]\" ".repeat(MAX_OPENINGS + 1));
        assert!(check(&text).is_err());
    }

    #[test]
    fn an_oversized_text_is_refused() {
        assert!(check(&"#".repeat(MAX_CONFIG_BYTES + 1)).is_err());
    }
}
