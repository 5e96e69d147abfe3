//! Quoting bad values in rule errors (rules, host patterns, prefixes share it).

/// Longest part of a bad value an error quotes: enough to find a typo, too short to echo a file
/// that is not a rule file (a prefix file pointing at `/etc/shadow`).
pub const QUOTE_MAX: usize = 32;

/// `value` in double quotes for a message: at most [`QUOTE_MAX`] characters, control characters,
/// quotes and backslashes escaped, `…` when cut.
pub fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in value.chars().enumerate() {
        if i == QUOTE_MAX {
            out.push('…');
            break;
        }
        match c {
            '"' | '\\' => out.extend(['\\', c]),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
