//! Escaping of server-controlled text.
//!
//! A certificate name, a banner or an NTLM computer name is chosen by whoever runs the
//! server. Before such text becomes part of a report (one-line `detail` and `message`
//! fields, the human report, log lines) it goes through [`escape`], so that a hostile server
//! can neither start a line of its own (a forged `verdict: connected`), nor drive the
//! terminal with escape sequences, nor reorder what the reader sees with Unicode bidi
//! controls.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as itself: control characters (C0, DEL, C1:
/// newlines, carriage returns, escape sequences), line and paragraph separators, the
/// Unicode bidi controls (embeddings, overrides and isolates U+202A..U+202E,
/// U+2066..U+2069, the marks U+061C, U+200E, U+200F) and the invisible zero-width
/// characters (U+200B..U+200D, U+FEFF) that make a name look like another.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `text` with every [unsafe](is_unsafe) character replaced by its `\u{..}` escape; the
/// result is one line of visible characters. Borrowed when nothing needed escaping.
/// Escaping twice changes nothing more.
pub fn escape(text: &str) -> Cow<'_, str> {
    if is_safe(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether nothing in `text` needs escaping: printable ASCII is checked a byte at a time
/// (most report text), anything else a character at a time.
fn is_safe(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b)) || !text.chars().any(is_unsafe)
}

/// [`escape`] into an owned `String`.
pub fn escaped(text: &str) -> String {
    escape(text).into_owned()
}

/// [`escape`] of an owned `String`: the same `String` back when nothing needed escaping.
pub fn escape_owned(text: String) -> String {
    if is_safe(&text) {
        text
    } else {
        escaped(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_line_breaks_escape_sequences_and_bidi_controls() {
        assert_eq!(
            escape("CN=a\nverdict: connected"),
            "CN=a\\u{a}verdict: connected"
        );
        assert_eq!(escape("x\r\u{1b}[2J\u{7}"), "x\\u{d}\\u{1b}[2J\\u{7}");
        assert_eq!(escape("\u{202E}gpj.exe"), "\\u{202e}gpj.exe");
        assert_eq!(escape("a\u{2066}b\u{2069}"), "a\\u{2066}b\\u{2069}");
        assert_eq!(escape("\u{85}\u{2028}"), "\\u{85}\\u{2028}");
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in [
            "CN=rdp.example.com, O=Example",
            "Ärger über Zertifikate",
            "日本語",
            "",
        ] {
            assert!(matches!(escape(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn escaping_is_idempotent() {
        let once = escaped("a\nb\u{202E}c\u{0}");
        assert_eq!(escape(&once), once);
    }
}
