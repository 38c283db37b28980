//! Text a peer sent (a goodbye reason, a refusal), made safe to write to a log or a screen.

/// Most characters kept of a peer's text; the rest is cut, with an ellipsis.
pub const PEER_TEXT_MAX_CHARS: usize = 200;

/// `text` with every control and format character (terminal escapes, bidirectional overrides,
/// zero-width characters) and every unassigned or private-use one shown as `�`, cut to
/// [`PEER_TEXT_MAX_CHARS`]: what a hostile peer writes can neither drive a terminal nor
/// disguise a log line.
pub fn peer_text(text: &str) -> String {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

    let mut safe = String::with_capacity(text.len().min(PEER_TEXT_MAX_CHARS * 4));
    for (count, c) in text.chars().enumerate() {
        if count == PEER_TEXT_MAX_CHARS {
            safe.push('…');
            break;
        }
        let shown = match c.general_category_group() {
            GeneralCategoryGroup::Other => '\u{FFFD}',
            GeneralCategoryGroup::Separator => ' ',
            _ => c,
        };
        safe.push(shown);
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_overrides_are_replaced_and_length_is_capped() {
        assert_eq!(
            peer_text("bye\u{1B}[2J\u{1B}]0;owned\u{7}"),
            "bye\u{FFFD}[2J\u{FFFD}]0;owned\u{FFFD}"
        );
        assert_eq!(
            peer_text("a\u{202E}b\nc\u{200B}"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}"
        );
        assert_eq!(
            peer_text("server full: try later"),
            "server full: try later"
        );
        let long = peer_text(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), PEER_TEXT_MAX_CHARS + 1);
        assert!(long.ends_with('…'));
    }
}
