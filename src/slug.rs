//! Slugs: text reduced to lowercase letters, digits and dashes, for URLs that
//! templates build and for file names that reports derive from variant values.

/// Lowercase letters and digits, other runs of characters as one `-`.
pub fn slug(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_of_other_characters_become_one_dash() {
        assert_eq!(super::slug("Acme & Sons, Inc."), "acme-sons-inc");
        assert_eq!(super::slug("--a--"), "a");
    }
}
