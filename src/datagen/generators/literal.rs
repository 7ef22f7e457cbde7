//! `literal`: the same value in every row (any TOML value: string, number, boolean,
//! date-time, array, or a table, which becomes a JSON document).

use serde::Deserialize;

use super::{ColumnGenerator, RowContext, Scope};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

/// `kind = "literal"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Literal {
    pub value: toml::Value,
    #[serde(skip)]
    resolved: Option<Value>,
}

impl ColumnGenerator for Literal {
    fn resolve(&mut self, _scope: &Scope) -> Result<ValueKind, String> {
        let value = Value::from_toml(&self.value);
        let kind = value.kind();
        self.resolved = Some(value);
        Ok(kind)
    }

    fn generate(&mut self, _rng: &mut SeededRng, _row: &RowContext, _pick: &mut u32) -> Value {
        self.resolved.clone().unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::{generate_alone, resolve_alone};
    use crate::datagen::rng::stream;

    #[test]
    fn toml_values_become_values_of_their_kind() {
        let mut literal = Literal {
            value: toml::Value::Integer(7),
            resolved: None,
        };
        let mut rng = stream(0, "t", "c");
        assert_eq!(resolve_alone(&mut literal), Ok(ValueKind::Int));
        assert_eq!(generate_alone(&mut literal, &mut rng), Value::Int(7));
        let mut table: Literal = toml::from_str("value = { a = 1 }").unwrap();
        assert_eq!(resolve_alone(&mut table), Ok(ValueKind::Json));
        assert_eq!(
            generate_alone(&mut table, &mut rng),
            Value::Json("{\"a\":1}".into())
        );
    }
}
