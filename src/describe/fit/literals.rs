//! The values the catalog's own text names: those a CHECK constraint's `IN` list (which
//! PostgreSQL prints as `= ANY (ARRAY[…])`) allows for a column, which a generator needs
//! for the constraint to hold; the literals of an index definition, which `--anonymize`
//! withholds.

use super::super::stats::CheckConstraint;

/// What replaces a withheld literal.
const WITHHELD: &str = "…";

/// The values `check`'s `IN` lists allow `column`, as text (`'free'::text` gives
/// `free`, `ARRAY[1, 2]` gives `1` and `2`).
pub(super) fn listed_values(check: &CheckConstraint, column: &str) -> Vec<String> {
    let text = &check.definition;
    let mut values = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(" = ANY (") {
        let at = from + found;
        from = at + " = ANY (".len();
        let Some(array) = array_after(&text[from..]) else {
            continue;
        };
        if compared_column(&text[..at]).as_deref() == Some(column) {
            values.extend(elements(array));
        }
    }
    values
}

/// The inside of the first `ARRAY[…]` in `text`.
fn array_after(text: &str) -> Option<&str> {
    let start = text.find("ARRAY[")? + "ARRAY[".len();
    let mut quoted = false;
    for (offset, c) in text[start..].char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ']' if !quoted => return Some(&text[start..start + offset]),
            _ => {}
        }
    }
    None
}

/// The column an `= ANY` compares, from the text before it: `((plan)::text` gives
/// `plan`; a function's argument (`length(name)`) gives none.
fn compared_column(before: &str) -> Option<String> {
    let mut text = before.trim_end();
    loop {
        let stripped = text.trim_end_matches(')');
        let cast = stripped.rfind("::").filter(|at| {
            stripped[at + 2..]
                .chars()
                .all(|c| c.is_alphanumeric() || " _[]\"(),".contains(c))
        });
        match cast {
            Some(at) => text = stripped[..at].trim_end(),
            None if stripped.len() != text.len() => text = stripped,
            None => break,
        }
    }
    let (name, rest) = match text.strip_suffix('"') {
        Some(open) => {
            let start = open.rfind('"')?;
            (open[start + 1..].replace("\"\"", "\""), &open[..start])
        }
        None => {
            let start = text
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |at| at + 1);
            (text[start..].to_owned(), &text[..start])
        }
    };
    let called = rest
        .strip_suffix('(')
        .is_some_and(|before| before.ends_with(|c: char| c.is_alphanumeric() || c == '_'));
    (!name.is_empty() && !called).then_some(name)
}

/// The elements of an array's inside: quoted strings unquoted, numbers as written.
fn elements(array: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut rest = array;
    while !rest.trim().is_empty() {
        let item = rest.trim_start();
        let (value, after) = match item.strip_prefix('\'') {
            Some(quoted) => {
                let (text, consumed) = unquote(quoted);
                (text, &quoted[consumed..])
            }
            None => {
                let end = item.find(',').unwrap_or(item.len());
                let number = item[..end]
                    .trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')');
                let number = number.split("::").next().unwrap_or_default();
                (
                    number.trim_matches(|c| c == '(' || c == ')').to_owned(),
                    &item[end..],
                )
            }
        };
        values.push(value);
        rest = after.find(',').map_or("", |comma| &after[comma + 1..]);
    }
    values
}

/// The text of a quoted literal whose opening quote is consumed, and how many bytes
/// of `text` it took (its closing quote included); `''` is a quote.
fn unquote(text: &str) -> (String, usize) {
    let mut value = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|(_, next)| *next == '\'') {
                chars.next();
                value.push('\'');
                continue;
            }
            return (value, at + 1);
        }
        value.push(c);
    }
    (value, text.len())
}

/// The quoted literals of a definition, unquoted.
pub(super) fn quoted(definition: &str) -> Vec<String> {
    let mut literals = Vec::new();
    let mut rest = definition;
    while let Some(open) = rest.find('\'') {
        let (value, consumed) = unquote(&rest[open + 1..]);
        literals.push(value);
        rest = &rest[open + 1 + consumed..];
    }
    literals
}

/// An index definition with its literals withheld: every quoted one, and the numbers
/// of its `WHERE` clause.
pub(super) fn withheld(definition: &str) -> String {
    let predicate = definition.find(" WHERE ").unwrap_or(definition.len());
    let mut out = String::new();
    let mut rest = definition;
    let mut offset = 0;
    while let Some(c) = rest.chars().next() {
        let previous = out.chars().last();
        if c == '\'' {
            let (_, consumed) = unquote(&rest[1..]);
            out.push_str(&format!("'{WITHHELD}'"));
            rest = &rest[1 + consumed..];
            offset += 1 + consumed;
            continue;
        }
        let starts_number = c.is_ascii_digit()
            && offset > predicate
            && !previous.is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '$');
        if starts_number {
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            out.push_str(WITHHELD);
            rest = &rest[end..];
            offset += end;
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
        offset += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(definition: &str, columns: &[&str]) -> CheckConstraint {
        CheckConstraint {
            name: "c".into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            definition: definition.into(),
        }
    }

    #[test]
    fn an_in_list_names_the_values_of_the_column_it_compares() {
        let text = check(
            "CHECK ((plan = ANY (ARRAY['free'::text, 'it''s'::text])))",
            &["plan"],
        );
        assert_eq!(listed_values(&text, "plan"), vec!["free", "it's"]);
        let varchar = check(
            "CHECK (((state)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])))",
            &["state"],
        );
        assert_eq!(listed_values(&varchar, "state"), vec!["a", "b"]);
        let numbers = check(
            "CHECK (((level = ANY (ARRAY[1, 2, '-3'::integer])) AND (name <> ''::text)))",
            &["level", "name"],
        );
        assert_eq!(listed_values(&numbers, "level"), vec!["1", "2", "-3"]);
        assert!(listed_values(&numbers, "name").is_empty());
        let function = check("CHECK ((length(code) = ANY (ARRAY[3, 5])))", &["code"]);
        assert!(listed_values(&function, "code").is_empty());
        let like = check("CHECK ((email ~~ '%@%'::text))", &["email"]);
        assert!(listed_values(&like, "email").is_empty());
    }

    #[test]
    fn an_index_definition_keeps_its_shape_and_withholds_its_literals() {
        assert_eq!(
            withheld(
                "CREATE INDEX people_2026 ON public.people USING btree (email) WHERE ((email <> 'secret@x'::text) AND (score > 4242420))"
            ),
            "CREATE INDEX people_2026 ON public.people USING btree (email) WHERE ((email <> '…'::text) AND (score > …))"
        );
        assert_eq!(
            quoted("WHERE (city = 'Secret''ville'::text) OR (a = 'b')"),
            vec!["Secret'ville", "b"]
        );
    }
}
