//! `sequence`: `start`, `start + step`, … in write order, like a serial column.

use serde::Deserialize;

use super::{ColumnGenerator, RowContext, Scope};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

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

impl ColumnGenerator for Sequence {
    fn resolve(&mut self, _scope: &Scope) -> Result<ValueKind, String> {
        if self.step == 0 {
            return Err("step = 0 would repeat one value; use a literal for that".into());
        }
        Ok(ValueKind::Int)
    }

    fn generate(&mut self, _rng: &mut SeededRng, row: &RowContext, _pick: &mut u32) -> Value {
        Value::Int(
            self.start
                .saturating_add((row.row as i64).saturating_mul(self.step)),
        )
    }
}

impl Sequence {
    /// The value of the last of `rows` rows, or `None` when it would not fit a bigint.
    pub fn last(&self, rows: u64) -> Option<i64> {
        let steps = i64::try_from(rows.saturating_sub(1)).ok()?;
        self.start.checked_add(steps.checked_mul(self.step)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::resolve_alone;
    use crate::datagen::rng::stream;

    #[test]
    fn counts_from_start_by_step() {
        let mut sequence = Sequence { start: 10, step: 5 };
        let mut rng = stream(0, "t", "n");
        let values: Vec<Value> = (0..3)
            .map(|row| {
                let context = RowContext {
                    row,
                    values: &[],
                    ancestors: &[],
                    picks: &[],
                    tables: &[],
                };
                let mut pick = u32::MAX;
                sequence.generate(&mut rng, &context, &mut pick)
            })
            .collect();
        assert_eq!(values, vec![Value::Int(10), Value::Int(15), Value::Int(20)]);
        assert!(resolve_alone(&mut Sequence { start: 1, step: 0 }).is_err());
        assert_eq!(sequence.last(3), Some(20));
        assert_eq!(
            Sequence {
                start: i64::MAX - 5,
                step: 1
            }
            .last(7),
            None
        );
        assert_eq!(
            Sequence {
                start: i64::MAX - 5,
                step: 1
            }
            .last(6),
            Some(i64::MAX)
        );
    }
}
