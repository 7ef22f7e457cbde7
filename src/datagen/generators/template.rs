//! `template`: text with placeholders: `{n}` (the row's 1-based position in its
//! table), `{column}` (an earlier column of the same row), `{table.column}` (a column
//! of an ancestor row), each optionally filtered with `:slug`, `:lower` or `:upper`.
//! `{{` and `}}` are literal braces; a NULL column renders as nothing. `"run-{n}"`, `"https://ci.example/{organizations.name:slug}/{n}"`.

use std::fmt::Write;

use serde::Deserialize;

use super::{ColumnGenerator, Reads, RowContext, Scope};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// `kind = "template"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub template: String,
    #[serde(skip)]
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    RowNumber(Filter),
    OwnColumn(usize, Filter),
    AncestorColumn(usize, usize, Filter),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Filter {
    None,
    Slug,
    Lower,
    Upper,
}

impl ColumnGenerator for Template {
    fn resolve(&mut self, scope: &Scope) -> Result<ValueKind, String> {
        self.pieces = parse(&self.template, scope)?;
        Ok(ValueKind::Text)
    }

    fn reads(&self, reads: &mut Reads) {
        for piece in &self.pieces {
            if let Piece::AncestorColumn(table, column, _) = piece {
                reads.columns.push((*table, *column));
            }
        }
    }

    fn generate(&mut self, _rng: &mut SeededRng, row: &RowContext, _pick: &mut u32) -> Value {
        Value::Text(render(&self.pieces, row))
    }
}

fn parse(template: &str, scope: &Scope) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(position) = rest.find(['{', '}']) {
        text.push_str(&rest[..position]);
        let tail = &rest[position..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            text.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err(format!(
                "template {template:?} has an unmatched }}; write }}}} for a literal brace"
            ));
        }
        let end = tail.find('}').ok_or_else(|| {
            format!("template {template:?} has an unclosed {{; write {{{{ for a literal brace")
        })?;
        let placeholder = &tail[1..end];
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(placeholder_piece(placeholder, scope)?);
        rest = &tail[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn placeholder_piece(placeholder: &str, scope: &Scope) -> Result<Piece, String> {
    let (name, filter) = match placeholder.split_once(':') {
        None => (placeholder, Filter::None),
        Some((name, "slug")) => (name, Filter::Slug),
        Some((name, "lower")) => (name, Filter::Lower),
        Some((name, "upper")) => (name, Filter::Upper),
        Some((_, other)) => {
            return Err(format!(
                "unknown filter {other:?} in {{{placeholder}}}; filters: slug, lower, upper"
            ));
        }
    };
    if name == "n" {
        return Ok(Piece::RowNumber(filter));
    }
    if name.contains('.') {
        let (table, column, _) = scope.table_column(name)?;
        if !scope.is_ancestor(table) {
            return Err(format!(
                "{{{name}}}: {} is not an ancestor of {}; a template reads ancestors' columns and its own row's",
                scope.tables[table].name,
                scope.tables[scope.own()].name
            ));
        }
        return Ok(Piece::AncestorColumn(table, column, filter));
    }
    Ok(Piece::OwnColumn(scope.own_column(name)?.0, filter))
}

fn render(pieces: &[Piece], row: &RowContext) -> String {
    let mut out = String::with_capacity(64);
    for piece in pieces {
        let (value, filter) = match piece {
            Piece::Text(text) => {
                out.push_str(text);
                continue;
            }
            Piece::RowNumber(filter) => {
                if *filter == Filter::None {
                    let _ = write!(out, "{}", row.row + 1);
                    continue;
                }
                (Value::Int(row.row as i64 + 1), *filter)
            }
            Piece::OwnColumn(column, filter) => (
                row.values.get(*column).cloned().unwrap_or(Value::Null),
                *filter,
            ),
            Piece::AncestorColumn(table, column, filter) => {
                let ancestor = row.ancestors.get(*table).copied().unwrap_or(u32::MAX);
                (row.value_in(*table, *column, ancestor).clone(), *filter)
            }
        };
        // A NULL renders as nothing, as `concat` does in SQL.
        let text = if value == Value::Null {
            String::new()
        } else {
            value.to_string()
        };
        match filter {
            Filter::None => out.push_str(&text),
            Filter::Lower => out.push_str(&text.to_lowercase()),
            Filter::Upper => out.push_str(&text.to_uppercase()),
            Filter::Slug => out.push_str(&crate::slug::slug(&text)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::{Materialized, TableSignature};
    use crate::datagen::rng::stream;

    fn scope() -> Vec<TableSignature> {
        vec![
            TableSignature {
                name: "orgs".into(),
                columns: vec![("name".into(), ValueKind::Text)],
                ancestors: vec![],
                references: vec![],
            },
            TableSignature {
                name: "runs".into(),
                columns: vec![("state".into(), ValueKind::Text)],
                ancestors: vec![0],
                references: vec![],
            },
        ]
    }

    #[test]
    fn placeholders_and_filters_render() {
        let signatures = scope();
        let mut template: Template =
            toml::from_str("template = \"https://ci/{orgs.name:slug}/{state:upper}/{n}{{x}}\"")
                .unwrap();
        template
            .resolve(&Scope {
                tables: &signatures,
                as_of_micros: 0,
            })
            .unwrap();
        let tables = vec![Materialized {
            parent: vec![u32::MAX],
            columns: vec![Some(vec![Value::Text("Acme & Sons, Inc.".into())])],
        }];
        let values = [Value::Text("ok".into())];
        let ancestors = [0, u32::MAX];
        let row = RowContext {
            row: 41,
            values: &values,
            ancestors: &ancestors,
            picks: &[],
            tables: &tables,
        };
        let mut pick = u32::MAX;
        assert_eq!(
            template.generate(&mut stream(0, "runs", "url"), &row, &mut pick),
            Value::Text("https://ci/acme-sons-inc/OK/42{x}".into())
        );
    }

    #[test]
    fn unknown_names_and_broken_braces_are_refused() {
        let signatures = scope();
        let scope = Scope {
            tables: &signatures,
            as_of_micros: 0,
        };
        for (template, expected) in [
            ("{nope}", "nope"),
            ("{orgs.nope}", "nope"),
            ("{n:title}", "unknown filter"),
            ("run-{n", "unclosed"),
        ] {
            let mut parsed = Template {
                template: template.into(),
                pieces: vec![],
            };
            let error = parsed.resolve(&scope).unwrap_err();
            assert!(error.contains(expected), "{template}: {error}");
        }
    }
}
