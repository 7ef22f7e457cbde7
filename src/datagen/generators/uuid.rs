//! `uuid`: a random version-4 UUID from the column's seeded stream.

use serde::Deserialize;

use super::{ColumnGenerator, RowContext, Scope};
use crate::datagen::rng::{SeededRng, uuid_from};
use crate::value::{Value, ValueKind};

/// `kind = "uuid"` (no parameters).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UuidGen {}

impl ColumnGenerator for UuidGen {
    fn resolve(&mut self, _scope: &Scope) -> Result<ValueKind, String> {
        Ok(ValueKind::Uuid)
    }

    fn generate(&mut self, rng: &mut SeededRng, _row: &RowContext, _pick: &mut u32) -> Value {
        Value::Uuid(uuid_from(rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::generate_alone;
    use crate::datagen::rng::stream;

    #[test]
    fn same_stream_same_ids_and_no_repeats() {
        let ids = |seed| {
            let mut rng = stream(seed, "t", "id");
            (0..10_000)
                .map(|_| generate_alone(&mut UuidGen {}, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(1), ids(1));
        assert_ne!(ids(1), ids(2));
        let distinct: std::collections::HashSet<String> =
            ids(1).iter().map(Value::to_string).collect();
        assert_eq!(distinct.len(), 10_000);
    }
}
