//! A workload query file's front matter: the lines starting with `--+` are TOML that
//! says what the query is run with (its parameter sets, its own limits), and the rest
//! of the file is the query. Lines of front matter are SQL comments, so the file runs
//! as it is in psql or an application.
//!
//! ```sql
//! -- A sparse or dense organization's newest runs.
//! --+ params.sparse = ["sparse_org.id", { literal = 20 }]
//! --+ params.dense = ["dense_org.id", { literal = 20 }]
//! --+ limits.rows_examined = { ratio = 1.5 }
//! SELECT …
//! ```

/// What marks a line of front matter.
pub const MARK: &str = "--+";

/// The front matter's TOML (each marked line without its mark, other lines left
/// empty so that TOML's line numbers are the file's) and whether the file has any.
pub fn split(sql: &str) -> (String, bool) {
    let mut toml = String::new();
    let mut any = false;
    for line in sql.lines() {
        if let Some(rest) = line.trim_start().strip_prefix(MARK) {
            toml.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            any = true;
        }
        toml.push('\n');
    }
    (toml, any)
}

/// The SQL a server runs, without comments and with every run of spacing made one
/// space: a change to a comment, the front matter or the layout of a query leaves it
/// as it was. Quoted strings and identifiers, and dollar-quoted bodies, are kept whole.
pub fn normalized(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    let mut space = false;
    while let Some(character) = rest.chars().next() {
        let taken = match character {
            '-' if rest.starts_with("--") => rest.find('\n').unwrap_or(rest.len()),
            '/' if rest.starts_with("/*") => block_comment(rest),
            '\'' | '"' => quoted(rest, character),
            '$' => dollar_quoted(rest).unwrap_or(1),
            _ => character.len_utf8(),
        };
        let (piece, after) = rest.split_at(taken);
        rest = after;
        let is_comment = piece.starts_with("--") || piece.starts_with("/*");
        if is_comment || piece.chars().all(char::is_whitespace) {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push_str(piece);
    }
    out.trim_end_matches(';').trim_end().to_owned()
}

/// The length of a `/* … */` comment at the start of `text` (nested, as PostgreSQL
/// reads them), or the rest of the text when it does not end.
fn block_comment(text: &str) -> usize {
    let mut depth = 0;
    let mut index = 0;
    let bytes = text.as_bytes();
    while index + 1 < bytes.len() {
        match (bytes[index], bytes[index + 1]) {
            (b'/', b'*') => {
                depth += 1;
                index += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                index += 2;
                if depth == 0 {
                    return index;
                }
            }
            _ => index += 1,
        }
    }
    text.len()
}

/// The length of a string or identifier quoted with `quote` at the start of `text`
/// (a doubled quote inside it is part of it).
fn quoted(text: &str, quote: char) -> usize {
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((index, character)) = chars.next() {
        if character == quote {
            if chars.peek().is_some_and(|(_, next)| *next == quote) {
                chars.next();
                continue;
            }
            return index + 1;
        }
    }
    text.len()
}

/// The length of a dollar-quoted body (`$tag$ … $tag$`) at the start of `text`, or
/// `None` when `$` starts a parameter (`$1`) or nothing.
fn dollar_quoted(text: &str) -> Option<usize> {
    let tag_end = text[1..].find('$')? + 2;
    let tag = &text[..tag_end];
    let valid = tag[1..tag_end - 1]
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_')
        && !tag[1..].starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return None;
    }
    let close = text[tag_end..].find(tag)?;
    Some(tag_end + close + tag.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_keeps_its_line_numbers_and_the_sql_is_left_alone() {
        let sql = "-- note\n--+ params.a = [1]\nSELECT 1\n  --+ gate = true\n";
        let (toml, any) = split(sql);
        assert!(any);
        assert_eq!(toml, "\nparams.a = [1]\n\ngate = true\n");
        assert!(!split("SELECT 1").1);
    }

    #[test]
    fn comments_spacing_and_front_matter_do_not_change_the_normalized_sql() {
        let plain = "SELECT id FROM runs WHERE org = $1 ORDER BY id LIMIT 20";
        let dressed = "-- the newest runs\n--+ params.a = [\"x.id\"]\nSELECT  id\n  FROM runs /* a /* nested */ note */\n WHERE org = $1\n ORDER BY id\n LIMIT 20;\n";
        assert_eq!(normalized(dressed), plain);
        assert_eq!(normalized(plain), plain);
    }

    #[test]
    fn quoted_text_keeps_its_spacing_and_comment_marks() {
        assert_eq!(
            normalized("SELECT 'a  -- b', \"x  y\", $body$ /* c */ $body$, $1  FROM t"),
            "SELECT 'a  -- b', \"x  y\", $body$ /* c */ $body$, $1 FROM t"
        );
        assert_eq!(normalized("SELECT 'it''s  so'"), "SELECT 'it''s  so'");
        assert_ne!(normalized("SELECT 1 FROM a"), normalized("SELECT 1 FROM b"));
    }
}
