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

/// A pattern a CHECK holds a column's text to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Pattern {
    /// `LIKE` (printed `~~`), or `ILIKE` (`~~*`) when `insensitive`, as written.
    Like { pattern: String, insensitive: bool },
    /// A regular expression (`~`, `~*`, and `SIMILAR TO`, printed as `~
    /// similar_to_escape(…)`), or a pattern that is no literal: not read here.
    Other,
}

/// The patterns `check` holds `column` to. What it rules out (`NOT LIKE`, printed
/// `!~~`, and `!~`) is left out: generated values meet such a pattern only by chance.
pub(super) fn patterns(check: &CheckConstraint, column: &str) -> Vec<Pattern> {
    let text = &check.definition;
    let mut found = Vec::new();
    for (operator, like, insensitive) in [
        (" ~~ ", true, false),
        (" ~~* ", true, true),
        (" ~ ", false, false),
        (" ~* ", false, true),
    ] {
        let mut from = 0;
        while let Some(offset) = text[from..].find(operator) {
            let at = from + offset;
            from = at + operator.len();
            if compared_column(&text[..at]).as_deref() != Some(column) {
                continue;
            }
            let literal = text[from..].strip_prefix('\'').map(unquote);
            found.push(match (like, literal) {
                (true, Some((pattern, _))) => Pattern::Like {
                    pattern,
                    insensitive,
                },
                _ => Pattern::Other,
            });
        }
    }
    found
}

/// One piece of a `LIKE` pattern.
#[derive(Clone, Copy, PartialEq)]
enum Piece {
    /// `%`: any run of characters.
    Run,
    /// `_`: one character.
    One,
    Char(char),
}

/// Whether `value` is `LIKE` `pattern` (`%` any run, `_` one character, `\` taking
/// the next character as it is), compared in lower case when `insensitive`.
pub(super) fn like(value: &str, pattern: &str, insensitive: bool) -> bool {
    let fold = |text: &str| match insensitive {
        true => text.to_lowercase(),
        false => text.to_owned(),
    };
    let value: Vec<char> = fold(value).chars().collect();
    let mut pieces = Vec::new();
    let mut chars = fold(pattern).chars().collect::<Vec<_>>().into_iter();
    while let Some(c) = chars.next() {
        pieces.push(match c {
            '%' => Piece::Run,
            '_' => Piece::One,
            '\\' => Piece::Char(chars.next().unwrap_or('\\')),
            c => Piece::Char(c),
        });
    }
    // `reached[i]`: the pieces so far can have read exactly `value[..i]`.
    let mut reached = vec![false; value.len() + 1];
    reached[0] = true;
    for piece in pieces {
        let mut next = vec![false; value.len() + 1];
        for i in 0..=value.len() {
            next[i] = match piece {
                Piece::Run => reached[i] || (i > 0 && next[i - 1]),
                Piece::One => i > 0 && reached[i - 1],
                Piece::Char(c) => i > 0 && reached[i - 1] && value[i - 1] == c,
            };
        }
        reached = next;
    }
    reached[value.len()]
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
    // Only the operand right before the operator: an earlier clause of the check (and
    // its casts) is no part of it.
    let operand = [" AND ", " OR ", "NOT "]
        .iter()
        .filter_map(|word| before.rfind(word).map(|at| at + word.len()))
        .max()
        .map_or(before, |start| &before[start..]);
    let mut text = operand.trim_end();
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
    fn a_check_s_patterns_are_read_for_the_column_they_compare_and_like_matches() {
        let definition = "CHECK (((code)::text ~~ 'QZ-%'::text) AND (mail !~~ '%@x.test'::text) AND (mail ~~* '%@%'::text) AND (tag ~ '^a+$'::text))";
        let check = check(definition, &["code", "mail", "tag"]);
        assert_eq!(
            patterns(&check, "code"),
            [Pattern::Like {
                pattern: "QZ-%".into(),
                insensitive: false
            }]
        );
        assert_eq!(
            patterns(&check, "mail"),
            [Pattern::Like {
                pattern: "%@%".into(),
                insensitive: true
            }]
        );
        assert_eq!(patterns(&check, "tag"), [Pattern::Other]);
        assert!(patterns(&check, "other").is_empty());
        for (value, pattern, insensitive, matches) in [
            ("QZ-17", "QZ-%", false, true),
            ("QM-17", "QZ-%", false, false),
            ("u1@mail.test", "%@%", false, true),
            ("u1mail.test", "%@%", false, false),
            ("ab", "a_", false, true),
            ("abc", "a_", false, false),
            ("50%", "50\\%", false, true),
            ("500", "50\\%", false, false),
            ("Q", "q", true, true),
            ("", "%", false, true),
        ] {
            assert_eq!(
                like(value, pattern, insensitive),
                matches,
                "{value} LIKE {pattern}"
            );
        }
    }

    #[test]
    fn an_in_list_after_another_clause_of_the_check_is_read_too() {
        // As the catalog prints `CHECK (plan IN (…) AND tier IN (…))` on text columns:
        // the second column has no cast, and the cast before it was taken for its own.
        let two = check(
            "CHECK (((plan = ANY (ARRAY['free'::text, 'pro'::text])) AND (tier = ANY (ARRAY['gold'::text, 'silver'::text]))))",
            &["plan", "tier"],
        );
        assert_eq!(listed_values(&two, "plan"), vec!["free", "pro"]);
        assert_eq!(listed_values(&two, "tier"), vec!["gold", "silver"]);
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
