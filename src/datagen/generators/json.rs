//! `json`: a JSON document built from a template whose leaves are literals or other
//! generators. In `value`, a table with a `kind` key is a generator (its value goes
//! there), any other table is a JSON object, arrays are arrays and everything else is
//! a literal. Generators inside draw from the column's own stream.

use serde::Deserialize;

use super::{
    ColumnGenerator, Generator, Materialized, Reads, RowContext, Scope, TableSignature, parse,
};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// `kind = "json"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Json {
    pub value: toml::Value,
    #[serde(skip)]
    tree: Option<Node>,
}

/// The template, with literals and keys serialised once: a document is written
/// straight into its text, never built as a `serde_json::Value` per row.
#[derive(Debug, Clone)]
enum Node {
    /// JSON text.
    Literal(String),
    Generated(Box<Generator>),
    /// Keys as JSON strings, quoted.
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
}

impl ColumnGenerator for Json {
    fn resolve(&mut self, scope: &Scope) -> Result<ValueKind, String> {
        self.tree = Some(build(&self.value, scope, "value")?);
        Ok(ValueKind::Json)
    }

    fn reads(&self, reads: &mut Reads) {
        if let Some(tree) = &self.tree {
            visit(tree, &mut |generator| generator.reads(reads));
        }
    }

    fn prepare(&mut self, tables: &[Materialized], signatures: &[TableSignature]) {
        if let Some(tree) = &mut self.tree {
            visit_mut(tree, &mut |generator| generator.prepare(tables, signatures));
        }
    }

    fn generate(&mut self, rng: &mut SeededRng, row: &RowContext, _pick: &mut u32) -> Value {
        let Some(tree) = &mut self.tree else {
            return Value::Null;
        };
        let mut text = String::with_capacity(256);
        render(tree, rng, row, &mut text);
        Value::Json(text)
    }
}

fn build(value: &toml::Value, scope: &Scope, path: &str) -> Result<Node, String> {
    Ok(match value {
        toml::Value::Table(table) if table.contains_key("kind") => {
            let mut generator = parse(value.clone()).map_err(|error| format!("{path}: {error}"))?;
            generator
                .resolve(scope)
                .map_err(|error| format!("{path}: {error}"))?;
            Node::Generated(Box::new(generator))
        }
        toml::Value::Table(table) => Node::Object(
            table
                .iter()
                .map(|(key, value)| {
                    let quoted = json_text(&serde_json::Value::String(key.clone()));
                    Ok((quoted, build(value, scope, &format!("{path}.{key}"))?))
                })
                .collect::<Result<_, String>>()?,
        ),
        toml::Value::Array(items) => Node::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| build(item, scope, &format!("{path}[{index}]")))
                .collect::<Result<_, String>>()?,
        ),
        other => Node::Literal(json_text(&Value::from_toml(other).to_json())),
    })
}

fn visit(node: &Node, action: &mut impl FnMut(&Generator)) {
    match node {
        Node::Generated(generator) => action(generator),
        Node::Object(fields) => fields.iter().for_each(|(_, child)| visit(child, action)),
        Node::Array(items) => items.iter().for_each(|child| visit(child, action)),
        Node::Literal(_) => {}
    }
}

fn visit_mut(node: &mut Node, action: &mut impl FnMut(&mut Generator)) {
    match node {
        Node::Generated(generator) => action(generator),
        Node::Object(fields) => fields
            .iter_mut()
            .for_each(|(_, child)| visit_mut(child, action)),
        Node::Array(items) => items.iter_mut().for_each(|child| visit_mut(child, action)),
        Node::Literal(_) => {}
    }
}

fn json_text(value: &serde_json::Value) -> String {
    serde_json::to_string(value).expect("JSON values serialise")
}

fn render(node: &mut Node, rng: &mut SeededRng, row: &RowContext, out: &mut String) {
    match node {
        Node::Literal(text) => out.push_str(text),
        Node::Generated(generator) => {
            let mut pick = u32::MAX;
            match generator.generate(rng, row, &mut pick) {
                Value::Json(text) => out.push_str(&text),
                Value::Int(number) => out.push_str(&number.to_string()),
                Value::Null => out.push_str("null"),
                Value::Bool(flag) => out.push_str(if flag { "true" } else { "false" }),
                Value::Text(text) => out.push_str(&json_text(&serde_json::Value::String(text))),
                other => out.push_str(&json_text(&other.to_json())),
            }
        }
        Node::Object(fields) => {
            out.push('{');
            for (index, (key, child)) in fields.iter_mut().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(key);
                out.push(':');
                render(child, rng, row, out);
            }
            out.push('}');
        }
        Node::Array(items) => {
            out.push('[');
            for (index, child) in items.iter_mut().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                render(child, rng, row, out);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::rng::stream;

    #[test]
    fn composes_literals_and_generators() {
        let signatures = vec![TableSignature {
            name: "runs".into(),
            columns: vec![("state".into(), ValueKind::Text)],
            ancestors: vec![],
            references: vec![],
        }];
        let mut json: Json = toml::from_str(
            r#"value = { type = "statement", n = 3, subject = [{ digest = { kind = "hex", bytes = 4 } }], state = { kind = "template", template = "{state}" } }"#,
        )
        .unwrap();
        json.resolve(&Scope {
            tables: &signatures,
            as_of_micros: 0,
        })
        .unwrap();
        let values = [Value::Text("success".into())];
        let row = RowContext {
            row: 0,
            values: &values,
            ancestors: &[],
            picks: &[],
            tables: &[],
        };
        let mut pick = u32::MAX;
        let Value::Json(text) = json.generate(&mut stream(1, "runs", "doc"), &row, &mut pick)
        else {
            panic!()
        };
        let document: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(document["type"], "statement");
        assert_eq!(document["n"], 3);
        assert_eq!(document["state"], "success");
        assert_eq!(document["subject"][0]["digest"].as_str().unwrap().len(), 8);
    }

    #[test]
    fn a_bad_inner_generator_names_its_path() {
        let signatures = vec![TableSignature {
            name: "t".into(),
            columns: vec![],
            ancestors: vec![],
            references: vec![],
        }];
        let mut json: Json =
            toml::from_str(r#"value = { a = { b = { kind = "hexx" } } }"#).unwrap();
        let error = json
            .resolve(&Scope {
                tables: &signatures,
                as_of_micros: 0,
            })
            .unwrap_err();
        assert!(
            error.contains("value.a.b") && error.contains("hexx"),
            "{error}"
        );
    }
}
