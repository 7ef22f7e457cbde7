//! Which copied text values look like people's: emails, phone numbers, IBANs, IP
//! addresses, long digit strings (card, account or national numbers). Said on stderr
//! when the file holds them as production has them, so that `--anonymize` is a choice
//! made knowingly.

use super::super::stats::Table;
use super::RealValues;
use super::values::{Shape, shape};

/// Digits in a row from which a number in text is taken for an account or card number.
const LONG_DIGITS: usize = 9;

/// `table.column (kinds)` for each column of `real` whose text values look personal.
pub(super) fn columns(real: &[RealValues], tables: &[&Table]) -> Vec<String> {
    real.iter()
        .filter_map(|real| {
            let (table, column) = real.column.rsplit_once('.')?;
            let facts = tables
                .iter()
                .find(|t| t.name == table)?
                .columns
                .iter()
                .find(|c| c.name == column)?;
            if shape(facts) != Shape::Text {
                return None;
            }
            let mut kinds: Vec<&str> = facts
                .stats
                .as_ref()?
                .mcv
                .iter()
                .flatten()
                .filter_map(|value| kind(value))
                .collect();
            kinds.sort_unstable();
            kinds.dedup();
            (!kinds.is_empty()).then(|| format!("{} ({})", real.column, kinds.join(", ")))
        })
        .collect()
}

/// What a value looks like, if like something personal.
fn kind(value: &str) -> Option<&'static str> {
    let value = value.trim();
    if is_email(value) {
        Some("emails")
    } else if is_iban(value) {
        Some("IBANs")
    } else if is_ip(value) {
        Some("IP addresses")
    } else if is_phone(value) {
        Some("phone numbers")
    } else if longest_digit_run(value) >= LONG_DIGITS {
        Some("long digit strings")
    } else {
        None
    }
}

fn is_email(value: &str) -> bool {
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Two letters, two check digits, then 11 to 30 letters and digits (spaces allowed).
fn is_iban(value: &str) -> bool {
    let compact: Vec<char> = value.chars().filter(|c| *c != ' ').collect();
    (15..=34).contains(&compact.len())
        && compact[..2].iter().all(|c| c.is_ascii_uppercase())
        && compact[2..4].iter().all(|c| c.is_ascii_digit())
        && compact[4..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && compact[4..].iter().any(|c| c.is_ascii_digit())
}

/// An IPv4 or IPv6 address, with or without a prefix length.
fn is_ip(value: &str) -> bool {
    let address = value.split_once('/').map_or(value, |(address, _)| address);
    address.parse::<std::net::IpAddr>().is_ok()
}

/// A number of 7 to 15 digits written with a leading `+` or with separators between
/// groups (spaces, dashes, dots, parentheses), and nothing else; not a decimal number
/// nor a date.
fn is_phone(value: &str) -> bool {
    let number_or_date = value.parse::<f64>().is_ok()
        || chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok();
    if number_or_date {
        return false;
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let only_phone_characters = value
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let written_as_phone = value.starts_with('+') || value.contains([' ', '-', '(', '.']);
    only_phone_characters && written_as_phone && (7..=15).contains(&digits)
}

fn longest_digit_run(value: &str) -> usize {
    value
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_looking_values_are_told_from_labels() {
        assert_eq!(kind("secret-alice@example.com"), Some("emails"));
        assert_eq!(kind("+44 20 7946 0001"), Some("phone numbers"));
        assert_eq!(kind("(555) 123-4567"), Some("phone numbers"));
        assert_eq!(kind("DE89 3704 0044 0532 0130 00"), Some("IBANs"));
        assert_eq!(kind("192.168.10.4"), Some("IP addresses"));
        assert_eq!(kind("2001:db8::1/64"), Some("IP addresses"));
        assert_eq!(kind("4111111111111111"), Some("long digit strings"));
        assert_eq!(kind("customer 123456789"), Some("long digit strings"));
        for label in [
            "Secretville",
            "eu-west",
            "pro",
            "v1.2.3",
            "2026-05-01",
            "order 12345",
            "EUR",
            "1234.5678",
        ] {
            assert_eq!(kind(label), None, "{label}");
        }
    }
}
