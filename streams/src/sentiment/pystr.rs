//! The few Python string and float semantics VADER depends on, reproduced exactly.
//!
//! vaderSentiment runs on CPython `str`: `split()`/`strip()` use Python's whitespace set,
//! `isupper()` uses Python's (Unicode 14, for CPython 3.11) case properties, and the final
//! scores go through `round(x, n)`. Rust's std differs in small ways on each, so the
//! differences are spelled out here.

/// Python's `str.isspace()` for one character (`Py_UNICODE_ISSPACE`).
///
/// Unlike `char::is_whitespace` this includes U+001C..U+001F (bidi class B/S).
pub(super) fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// [`is_space`] for an ASCII byte (the only whitespace below 0x80).
pub(super) const fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | 0x1c..=0x20)
}

/// Python's `str.strip()` without arguments.
pub(super) fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Characters Rust's (newer Unicode) `is_lowercase` accepts but CPython 3.11 does not.
const RUST_ONLY_LOWER: &[(u32, u32)] = &[
    (0x10FC, 0x10FC),
    (0x1C8A, 0x1C8A),
    (0xA7CD, 0xA7CD),
    (0xA7CF, 0xA7CF),
    (0xA7DB, 0xA7DB),
    (0xA7F1, 0xA7F4),
    (0xAB69, 0xAB69),
    (0x10D70, 0x10D85),
    (0x16EBB, 0x16ED3),
    (0x1DF25, 0x1DF2A),
    (0x1E030, 0x1E06D),
];

/// Characters CPython 3.11 calls lowercase that Rust's Unicode data no longer does.
const PYTHON_ONLY_LOWER: &[(u32, u32)] = &[(0x295, 0x295)];

/// Characters Rust's (newer Unicode) `is_uppercase` accepts but CPython 3.11 does not.
const RUST_ONLY_UPPER: &[(u32, u32)] = &[
    (0x1C89, 0x1C89),
    (0xA7CB, 0xA7CC),
    (0xA7CE, 0xA7CE),
    (0xA7D2, 0xA7D2),
    (0xA7D4, 0xA7D4),
    (0xA7DA, 0xA7DA),
    (0xA7DC, 0xA7DC),
    (0x10D50, 0x10D65),
    (0x16EA0, 0x16EB8),
];

/// General category Lt (titlecase letters): Python's `isupper()` is false on them.
const TITLECASE: &[(u32, u32)] = &[
    (0x1C5, 0x1C5),
    (0x1C8, 0x1C8),
    (0x1CB, 0x1CB),
    (0x1F2, 0x1F2),
    (0x1F88, 0x1F8F),
    (0x1F98, 0x1F9F),
    (0x1FA8, 0x1FAF),
    (0x1FBC, 0x1FBC),
    (0x1FCC, 0x1FCC),
    (0x1FFC, 0x1FFC),
];

fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let c = c as u32;
    ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

fn py_is_lower(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_lowercase();
    }
    (c.is_lowercase() && !in_ranges(c, RUST_ONLY_LOWER)) || in_ranges(c, PYTHON_ONLY_LOWER)
}

fn py_is_upper(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_uppercase();
    }
    c.is_uppercase() && !in_ranges(c, RUST_ONLY_UPPER)
}

/// Python's `str.isupper()`: no lowercase or titlecase character and at least one uppercase.
pub(super) fn is_upper(word: &str) -> bool {
    let mut cased = false;
    for c in word.chars() {
        if py_is_lower(c) || (!c.is_ascii() && in_ranges(c, TITLECASE)) {
            return false;
        }
        cased = cased || py_is_upper(c);
    }
    cased
}

/// Python's `round(x, ndigits)` for a float, where `scale` is `10**ndigits` (exact).
///
/// CPython rounds the exact binary value of `x` to `ndigits` decimals, ties to even, and
/// converts that decimal back to the nearest double. `r / scale` with integral `r` is that
/// nearest double (IEEE division is correctly rounded), so only choosing `r` needs care.
pub(super) fn round(x: f64, scale: f64) -> f64 {
    let y = x * scale;
    let floor = y.floor();
    // Both subtractions are exact: `y - floor` keeps y's low bits, and near 0.5 Sterbenz
    // applies.
    let d = (y - floor) - 0.5;
    let round_up = if d.abs() > 1e-6 {
        // The product's rounding error (< 1e-12 for |x| <= 1) cannot cross the midpoint.
        d > 0.0
    } else {
        // Near a tie: recover the exact product as y + err (fma is exact here) and compare
        // the exact fractional part with one half; an exact tie goes to the even integer.
        let err = x.mul_add(scale, -y);
        if d > -err {
            true
        } else if d < -err {
            false
        } else {
            floor % 2.0 != 0.0
        }
    };
    let r = if round_up { floor + 1.0 } else { floor };
    // A zero result keeps x's sign, as Python's round does (round(-0.00001, 4) == -0.0).
    (r / scale).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_whitespace_strip() {
        assert_eq!(strip("\u{85} x \u{1f}"), "x");
        assert_eq!(strip("\u{3000}\u{2028}"), "");
        assert!(!is_space('\u{200b}'));
    }

    #[test]
    fn python_isupper() {
        assert!(is_upper("GOOD"));
        assert!(is_upper("A1!"));
        assert!(!is_upper("1!"));
        assert!(!is_upper("GOOd"));
        assert!(is_upper("ÉCOLE"));
        assert!(!is_upper("ǅA"));
        assert!(!is_upper(""));
    }

    #[test]
    fn python_round_edge_cases() {
        // Values checked against CPython 3.11's round().
        assert_eq!(round(0.0625, 1000.0), 0.062);
        assert_eq!(round(0.9375, 1000.0), 0.938);
        assert_eq!(round(0.0005, 1000.0), 0.001);
        assert_eq!(round(0.4445, 1000.0), 0.445);
        assert_eq!(round(0.00015, 10000.0), 0.0001);
        assert_eq!(round(-0.00015, 10000.0), -0.0001);
        assert_eq!(round(0.12345, 10000.0), 0.1235);
        assert_eq!(round(-0.56785, 10000.0), -0.5678);
        assert_eq!(round(1.0, 1000.0), 1.0);
        assert!(round(-0.00001, 10000.0).is_sign_negative());
    }
}
