//! `literal`: the same value in every row (any TOML value: string, number, boolean,
//! date-time, array, or a table, which becomes a JSON document).

use serde::Deserialize;

use crate::value::{Value, ValueKind};

/// `kind = "literal"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Literal {
    pub value: toml::Value,
    #[serde(skip)]
    resolved: Option<Value>,
}

impl Literal {
    pub(super) fn resolve(&mut self) -> ValueKind {
        let value = Value::from_toml(&self.value);
        let kind = value.kind();
        self.resolved = Some(value);
        kind
    }

    pub(super) fn generate(&self) -> Value {
        self.resolved.clone().unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_values_become_values_of_their_kind() {
        let mut literal = Literal {
            value: toml::Value::Integer(7),
            resolved: None,
        };
        assert_eq!(literal.resolve(), ValueKind::Int);
        assert_eq!(literal.generate(), Value::Int(7));
        let mut table: Literal = toml::from_str("value = { a = 1 }").unwrap();
        assert_eq!(table.resolve(), ValueKind::Json);
        assert_eq!(table.generate(), Value::Json("{\"a\":1}".into()));
    }
}
