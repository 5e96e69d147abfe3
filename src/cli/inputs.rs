//! tcpdump's habits for inputs and filters: `-r FILE`, and a BPF filter given as the trailing
//! words (`leakscope replay -r x.pcap tcp port 443`, `leakscope replay x.pcap udp`).

use std::path::{Path, PathBuf};

/// Extensions that mark a word as a capture file even when it does not exist (so a typo is
/// reported as a missing file, not as a bad filter).
const CAPTURE_EXTENSIONS: &[&str] = &["pcap", "pcapng", "cap", "gz", "ntar", "dmp"];

fn looks_like_a_file(path: &Path) -> bool {
    let word = path.to_string_lossy();
    word == "-"
        || word.contains('/')
        || path.exists()
        || path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| CAPTURE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Splits `-r` files, positional words and `-f`/`--filter` into inputs and one filter.
///
/// With `-r`, every positional word belongs to the filter. Without, the leading words that name
/// files (`-`, an existing path, anything with a `/` or a capture extension) are inputs and the
/// rest, from the first word that does not, is the filter.
pub fn split(
    read: &[PathBuf],
    words: &[PathBuf],
    filter: Option<&str>,
) -> Result<(Vec<PathBuf>, Option<String>), InputsError> {
    let (inputs, rest): (Vec<PathBuf>, &[PathBuf]) = if read.is_empty() {
        let n = words.iter().take_while(|w| looks_like_a_file(w)).count();
        (words[..n].to_vec(), &words[n..])
    } else {
        (read.to_vec(), words)
    };
    let rest: Vec<String> = rest.iter().map(|w| w.to_string_lossy().into_owned()).collect();
    if inputs.is_empty() {
        return Err(match rest.first() {
            Some(w) => InputsError::NoSuchFile(w.clone()),
            None => InputsError::NoCapture,
        });
    }
    let words_filter = (!rest.is_empty()).then(|| rest.join(" "));
    match (filter, words_filter) {
        (Some(f), Some(w)) => Err(InputsError::TwoFilters { flag: f.to_owned(), words: w }),
        (f, w) => Ok((inputs, f.map(str::to_owned).or(w))),
    }
}

/// A capture's filter from `-f` or the trailing words.
pub fn filter_of(words: &[String], filter: Option<&str>) -> Result<Option<String>, InputsError> {
    match (filter, words.is_empty()) {
        (f, true) => Ok(f.map(str::to_owned)),
        (None, false) => Ok(Some(words.join(" "))),
        (Some(f), false) => {
            Err(InputsError::TwoFilters { flag: f.to_owned(), words: words.join(" ") })
        }
    }
}

/// Inputs and filter that do not make sense together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputsError {
    /// The first word is neither a file nor a filter word after one.
    #[error("{0:?}: no such capture file (name captures, or -r FILE)")]
    NoSuchFile(String),
    /// No input at all.
    #[error("no capture given: name files or directories, `-` or -r FILE")]
    NoCapture,
    /// `-f` and trailing words.
    #[error("two filters: -f {flag:?} and the trailing words {words:?}; give one")]
    TwoFilters {
        /// The `-f` expression.
        flag: String,
        /// The trailing words, joined.
        words: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<PathBuf> {
        s.split_whitespace().map(PathBuf::from).collect()
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn trailing_words_are_the_filter() {
        let (i, f) = split(&[], &w("a.pcap dir/ tcp port 443"), None).unwrap();
        assert_eq!(i, [PathBuf::from("a.pcap"), PathBuf::from("dir/")]);
        assert_eq!(f.as_deref(), Some("tcp port 443"));
        let (i, f) = split(&[PathBuf::from("x")], &w("udp"), None).unwrap();
        assert_eq!(i, [PathBuf::from("x")]);
        assert_eq!(f.as_deref(), Some("udp"));
        let (i, f) = split(&[], &w("-"), Some("udp")).unwrap();
        assert_eq!(i, [PathBuf::from("-")]);
        assert_eq!(f.as_deref(), Some("udp"));
    }

    #[test]
    fn missing_or_doubled_parts_are_errors() {
        assert!(split(&[], &[], None).is_err());
        assert_eq!(split(&[], &w("tcp"), None), Err(InputsError::NoSuchFile("tcp".into())));
        assert!(
            split(&[], &w("a.pcap tcp"), Some("udp"))
                .unwrap_err()
                .to_string()
                .contains("two filters")
        );
        assert!(filter_of(&words("tcp"), Some("udp")).is_err());
        assert_eq!(filter_of(&words("tcp port 1"), None).unwrap().as_deref(), Some("tcp port 1"));
    }
}
