//! `sequence`: `start`, `start + step`, … in write order, like a serial column.

use serde::Deserialize;

use super::RowContext;
use crate::datagen::value::{Value, ValueKind};

/// `kind = "sequence"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sequence {
    #[serde(default = "one")]
    pub start: i64,
    #[serde(default = "one")]
    pub step: i64,
}

fn one() -> i64 {
    1
}

impl Sequence {
    pub(super) fn resolve(&self) -> Result<ValueKind, String> {
        if self.step == 0 {
            return Err("step = 0 would repeat one value; use a literal for that".into());
        }
        Ok(ValueKind::Int)
    }

    pub(super) fn generate(&self, row: &RowContext) -> Value {
        Value::Int(
            self.start
                .saturating_add((row.row as i64).saturating_mul(self.step)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_start_by_step() {
        let sequence = Sequence { start: 10, step: 5 };
        let values: Vec<Value> = (0..3)
            .map(|row| {
                sequence.generate(&RowContext {
                    row,
                    values: &[],
                    ancestors: &[],
                    picks: &[],
                    tables: &[],
                })
            })
            .collect();
        assert_eq!(values, vec![Value::Int(10), Value::Int(15), Value::Int(20)]);
        assert!(Sequence { start: 1, step: 0 }.resolve().is_err());
    }
}
