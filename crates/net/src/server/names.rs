//! Player display names as the server accepts them.

/// Most characters of a display name, combining marks not counted.
pub const NAME_MAX_CHARS: usize = 24;

/// Most combining marks kept on one character: enough for real scripts (Vietnamese stacks two,
/// Devanagari syllables one or two), not for towers of accents over the scoreboard.
const MAX_MARKS_PER_CHAR: usize = 2;

/// Characters that draw nothing although their category is a letter, symbol or mark (so the
/// category rules below let them through): Hangul fillers, the braille blank, the combining
/// grapheme joiner, Khmer inherent vowels.
const INVISIBLE: [char; 8] = [
    '\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}', '\u{034F}', '\u{17B4}', '\u{17B5}',
];

/// Whether `c` only picks a glyph variant of the character before it (the variation selectors,
/// Mongolian's free ones included): kept, "Bob" with a selector would show as "Bob".
fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}' | '\u{180B}'..='\u{180D}' | '\u{180F}')
}

/// `name`, or, when `taken` says another player already has it, the name with the first free
/// number of 2 to 99 after it (the name shortened to keep within [`NAME_MAX_CHARS`]), so no
/// two players in a match show the same name; past 99 the name as it is.
pub fn unique_name(name: String, taken: impl Fn(&str) -> bool) -> String {
    if !taken(&name) {
        return name;
    }
    for number in 2..100 {
        let suffix = format!(" {number}");
        let keep = NAME_MAX_CHARS.saturating_sub(suffix.len());
        let mut base: String = name.chars().take(keep).collect();
        // The name and its number stay one space apart.
        while base.ends_with(' ') {
            base.pop();
        }
        let candidate = format!("{base}{suffix}");
        if !taken(&candidate) {
            return candidate;
        }
    }
    name
}

/// A display name safe to show in the scoreboard and kill feed, so no name can pass for another:
///
/// - no control, format (bidirectional overrides and isolates, zero-width spaces and joiners, the
///   byte order mark, soft hyphens, tags), private-use or unassigned characters, nor the
///   invisible letters (Hangul fillers, the braille blank...);
/// - every run of spaces (any Unicode space or line separator) is one plain space, none at the
///   ends;
/// - at most two combining marks on a character, none without one, and no variation selector;
/// - at most [`NAME_MAX_CHARS`] characters; never empty (`Player`).
pub fn sanitize_name(name: &str) -> String {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

    let mut clean = String::new();
    let mut chars = 0;
    // Marks the previous character may still carry (none after a space or at the start).
    let mut marks_left = 0;
    let mut space_pending = false;
    for c in name.chars() {
        if INVISIBLE.contains(&c) || is_variation_selector(c) {
            continue;
        }
        match c.general_category_group() {
            GeneralCategoryGroup::Other => {}
            GeneralCategoryGroup::Separator => {
                space_pending = chars > 0;
                marks_left = 0;
            }
            GeneralCategoryGroup::Mark => {
                if marks_left > 0 {
                    marks_left -= 1;
                    clean.push(c);
                }
            }
            _ => {
                let width = if space_pending { 2 } else { 1 };
                if chars + width > NAME_MAX_CHARS {
                    break;
                }
                if space_pending {
                    clean.push(' ');
                    space_pending = false;
                }
                clean.push(c);
                chars += width;
                marks_left = MAX_MARKS_PER_CHAR;
            }
        }
    }
    if clean.is_empty() {
        "Player".to_owned()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

    use super::{MAX_MARKS_PER_CHAR, NAME_MAX_CHARS, sanitize_name, unique_name};

    #[test]
    fn bidi_controls_and_zero_width_characters_are_stripped() {
        let hidden = [
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}', // embeddings, overrides
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}', // isolates
            '\u{200E}',
            '\u{200F}',
            '\u{061C}', // marks
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}', // zero width
            '\u{00AD}',
            '\u{180E}',
            '\u{2061}',
            '\u{206F}',
            '\u{FFF9}', // other format
            '\u{E0001}',
            '\u{E0041}',
            '\u{1D173}', // tags, musical format
            '\u{0}',
            '\u{7}',
            '\u{1B}',
            '\u{7F}',
            '\u{85}',
            '\u{9F}',
            '\t',
            '\n',
            '\r', // control
            '\u{E000}',
            '\u{F8FF}',
            '\u{10FFFD}', // private use
            '\u{0378}',   // unassigned
            '\u{3164}',
            '\u{115F}',
            '\u{FFA0}',
            '\u{2800}', // invisible letters
        ];
        for c in hidden {
            assert_eq!(
                sanitize_name(&format!("Bo{c}b")),
                "Bob",
                "U+{:04X}",
                c as u32
            );
            assert_eq!(
                sanitize_name(&c.to_string()),
                "Player",
                "U+{:04X}",
                c as u32
            );
        }
        // The classic: "Bob" written backwards behind a right-to-left override.
        assert_eq!(sanitize_name("\u{202E}boB\u{202C}"), "boB");
        assert_eq!(sanitize_name("\u{1B}[31mred"), "[31mred");
    }

    #[test]
    fn no_format_or_control_character_of_any_kind_survives() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let name = sanitize_name(&format!("a{c}b"));
            for kept in name.chars() {
                let group = kept.general_category_group();
                assert!(
                    group != GeneralCategoryGroup::Other
                        && (group != GeneralCategoryGroup::Separator || kept == ' '),
                    "U+{:04X} left U+{:04X} in {name:?}",
                    c as u32,
                    kept as u32
                );
            }
        }
    }

    #[test]
    fn spaces_collapse_and_trim() {
        assert_eq!(
            sanitize_name("  Ferris  the\u{3000}\u{A0}crab \u{2028} "),
            "Ferris the crab"
        );
        assert_eq!(sanitize_name(" \u{2003} "), "Player");
        assert_eq!(sanitize_name(""), "Player");
    }

    #[test]
    fn combining_mark_floods_are_capped() {
        let zalgo = format!("Z{}a{}", "\u{0301}".repeat(50), "\u{0336}".repeat(50));
        assert_eq!(
            sanitize_name(&zalgo),
            format!(
                "Z{}a{}",
                "\u{0301}".repeat(MAX_MARKS_PER_CHAR),
                "\u{0336}".repeat(MAX_MARKS_PER_CHAR)
            )
        );
        // A mark needs a character to sit on: not at the start, not on a space.
        assert_eq!(sanitize_name("\u{0301}\u{0301}Al \u{0301}B"), "Al B");
        assert_eq!(sanitize_name(&"\u{0301}".repeat(100)), "Player");
    }

    #[test]
    fn real_names_in_many_scripts_are_kept() {
        for name in [
            "Ferris",
            "Zoë",
            "Zoe\u{0308}",
            "Nguye\u{0302}\u{0303}n", // Nguyễn, decomposed: two marks on one letter
            "Nguyễn",
            "हिन्दी",
            "日本語",
            "Ελένη",
            "Владимир",
            "محمد",
            "🦀 crab",
        ] {
            assert_eq!(sanitize_name(name), name);
        }
    }

    #[test]
    fn variation_selectors_are_dropped_so_lookalikes_are_one_name() {
        for selector in ['\u{FE00}', '\u{FE0F}', '\u{E0100}', '\u{E01EF}', '\u{180B}'] {
            assert_eq!(sanitize_name(&format!("Bob{selector}")), "Bob");
            assert_eq!(sanitize_name(&format!("B{selector}ob")), "Bob");
        }
        assert_eq!(sanitize_name("❤\u{FE0F}"), "❤");
    }

    #[test]
    fn a_taken_name_gets_the_first_free_number() {
        let taken = ["Bob", "Bob 2", &"a".repeat(NAME_MAX_CHARS)];
        let is_taken = |name: &str| taken.contains(&name);
        assert_eq!(unique_name("Ada".into(), is_taken), "Ada");
        assert_eq!(unique_name("Bob".into(), is_taken), "Bob 3");
        let long = unique_name("a".repeat(NAME_MAX_CHARS), is_taken);
        assert_eq!(long, format!("{} 2", "a".repeat(NAME_MAX_CHARS - 2)));
        assert_eq!(
            sanitize_name(&long),
            long,
            "a numbered name is still a clean one"
        );
        assert_eq!(
            unique_name("x".into(), |_| true),
            "x",
            "past 99, the name as it is"
        );
    }

    #[test]
    fn long_names_are_cut_at_24_characters() {
        assert_eq!(sanitize_name(&"a".repeat(100)), "a".repeat(NAME_MAX_CHARS));
        // Marks do not count, and are kept with their letter.
        let accented = "e\u{0301}".repeat(30);
        assert_eq!(sanitize_name(&accented), "e\u{0301}".repeat(NAME_MAX_CHARS));
        // A space is never the last character.
        let words = format!("{} b", "a".repeat(NAME_MAX_CHARS - 1));
        assert_eq!(sanitize_name(&words), "a".repeat(NAME_MAX_CHARS - 1));
    }
}
