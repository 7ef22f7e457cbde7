//! How numbers, sizes, durations and parser messages read in plancheck's messages
//! and reports: one wording for every stage, so a count in an error and in a report
//! look the same. Part of the model layer: it imports nothing of the stages.

use std::time::Duration;

/// Formats a row count with thousands separators, the way reports show them.
pub fn format_count(count: f64) -> String {
    let digits = format!("{:.0}", count.max(0.0));
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// `bytes` for people: `1.2 GiB`, `340 MiB`, `12 KiB`, rounded to two or three
/// significant digits.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes.max(0.0);
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match value {
        _ if unit == 0 => format!("{value:.0} B"),
        v if v < 10.0 => format!("{v:.1} {}", UNITS[unit]).replace(".0 ", " "),
        v => format!("{v:.0} {}", UNITS[unit]),
    }
}

/// Formats a duration in milliseconds with a precision that suits its size.
pub fn format_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

/// A time budget as reports write it: `60 s`, `1.5 s`, `250 ms`.
pub fn format_budget(budget: Duration) -> String {
    if budget.as_millis().is_multiple_of(1000) {
        format!("{} s", budget.as_secs())
    } else if budget < Duration::from_secs(1) {
        format!("{} ms", budget.as_millis())
    } else {
        format!("{} s", budget.as_secs_f64())
    }
}

/// A parser message in plancheck's words: serde calls an enum's values "variants",
/// which scenario files use for something else.
pub fn serde_words(message: &str) -> String {
    let mut message = message
        .trim_end()
        .replace("unknown variant", "unknown value");
    // serde names Rust types; say what to write instead.
    for (rust, words) in [
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected usize", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
    ] {
        message = message.replace(rust, words);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_in_thousands() {
        assert_eq!(format_count(0.0), "0");
        assert_eq!(format_count(999.0), "999");
        assert_eq!(format_count(1000.0), "1,000");
        assert_eq!(format_count(1_905_483.0), "1,905,483");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(1536.0), "1.5 KiB");
        assert_eq!(format_bytes(340.0 * 1024.0 * 1024.0), "340 MiB");
        assert_eq!(format_bytes(28e12), "25 TiB");
    }

    #[test]
    fn budgets_read_in_the_unit_they_were_given() {
        assert_eq!(format_budget(Duration::from_secs(60)), "60 s");
        assert_eq!(format_budget(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(format_budget(Duration::from_millis(250)), "250 ms");
    }

    #[test]
    fn parser_messages_name_what_to_write_not_rust_types() {
        assert_eq!(
            serde_words("invalid type: string, expected u64"),
            "invalid type: string, expected a whole number"
        );
        assert_eq!(serde_words("unknown variant `x`"), "unknown value `x`");
    }
}
