//! `timestamp`: an instant in a window of days before the dataset's `as_of`
//! (`days_ago = [recent, oldest]`), spread `uniform`, `recent` (density rising
//! linearly towards the recent end: busy tenants) or `old` (density rising towards the
//! oldest end: activity dying out); or an instant some seconds `after` an earlier
//! column of the same row (`finished_at` after `created_at`).

use rand::RngExt;
use serde::Deserialize;

use super::number::Distribution;
use super::{ColumnGenerator, RowContext, Scope};
use crate::datagen::rng::SeededRng;
use crate::value::{Value, ValueKind};

const DAY_MICROS: f64 = 86_400_000_000.0;

/// How instants spread over their window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Spread {
    #[default]
    Uniform,
    Recent,
    Old,
}

/// `kind = "timestamp"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timestamp {
    /// `[most recent, oldest]` in days before `as_of` (fractions allowed).
    pub days_ago: Option<[f64; 2]>,
    #[serde(default)]
    pub spread: Spread,
    /// An earlier timestamp column of the same row this one follows.
    pub after: Option<String>,
    /// `[min, max]` seconds after `after`.
    pub seconds: Option<[f64; 2]>,
    /// How the seconds spread: `uniform` or `log-uniform`.
    #[serde(default)]
    pub distribution: Distribution,
    #[serde(skip)]
    resolved: Option<Resolved>,
}

#[derive(Debug, Clone, Copy)]
enum Resolved {
    Window {
        oldest_micros: i64,
        span_micros: f64,
        spread: Spread,
    },
    After {
        column: usize,
        min: f64,
        max: f64,
        distribution: Distribution,
    },
}

/// The window of a window timestamp, for write orders sorted by it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub oldest_micros: i64,
    pub span_micros: f64,
    pub spread: Spread,
}

impl Window {
    /// The instant at uniform quantile `u` in [0, 1], through the spread's inverse
    /// distribution function (increasing, so sorted quantiles give sorted instants).
    pub fn at(&self, u: f64) -> i64 {
        let fraction = match self.spread {
            Spread::Uniform => u,
            // Density 2x on [0, 1]: F(x) = x², F⁻¹(u) = √u.
            Spread::Recent => u.sqrt(),
            Spread::Old => 1.0 - (1.0 - u).sqrt(),
        };
        self.oldest_micros + (fraction * self.span_micros) as i64
    }
}

impl Timestamp {
    /// The window, for a timestamp drawn from one.
    pub fn window(&self) -> Option<Window> {
        match self.resolved? {
            Resolved::Window {
                oldest_micros,
                span_micros,
                spread,
            } => Some(Window {
                oldest_micros,
                span_micros,
                spread,
            }),
            Resolved::After { .. } => None,
        }
    }
}

impl ColumnGenerator for Timestamp {
    fn resolve(&mut self, scope: &Scope) -> Result<ValueKind, String> {
        self.resolved = Some(match (&self.days_ago, &self.after) {
            (Some([recent, oldest]), None) => {
                if self.seconds.is_some() || self.distribution != Distribution::Uniform {
                    return Err(
                        "seconds and distribution go with after, not with days_ago (use spread)"
                            .into(),
                    );
                }
                if !(recent.is_finite() && oldest.is_finite() && *recent >= 0.0 && recent < oldest)
                {
                    return Err(format!(
                        "days_ago = [{recent}, {oldest}] is not a window; write [most recent, oldest] days before as_of, most recent < oldest"
                    ));
                }
                Resolved::Window {
                    oldest_micros: scope.as_of_micros - (oldest * DAY_MICROS) as i64,
                    span_micros: (oldest - recent) * DAY_MICROS,
                    spread: self.spread,
                }
            }
            (None, Some(column)) => {
                if self.spread != Spread::Uniform {
                    return Err(
                        "spread goes with days_ago; with after, use distribution for the seconds"
                            .into(),
                    );
                }
                let (index, kind) = scope.own_column(column)?;
                if kind != ValueKind::Timestamp {
                    return Err(format!("after = {column:?} is not a timestamp column"));
                }
                let [min, max] = self.seconds.unwrap_or([0.0, 3600.0]);
                if !(min.is_finite() && max.is_finite() && min <= max && min >= 0.0) {
                    return Err(format!(
                        "seconds = [{min}, {max}] is not a range of seconds"
                    ));
                }
                if self.distribution == Distribution::LogUniform && min <= 0.0 {
                    return Err("log-uniform seconds must start above 0".into());
                }
                if matches!(self.distribution, Distribution::Zipf | Distribution::Normal) {
                    return Err("seconds spread uniform or log-uniform".into());
                }
                Resolved::After {
                    column: index,
                    min,
                    max,
                    distribution: self.distribution,
                }
            }
            (Some(_), Some(_)) => return Err("give days_ago or after, not both".into()),
            (None, None) => {
                return Err("give days_ago = [recent, oldest] or after = \"<column>\"".into());
            }
        });
        Ok(ValueKind::Timestamp)
    }

    fn generate(&mut self, rng: &mut SeededRng, row: &RowContext, _pick: &mut u32) -> Value {
        match self.resolved {
            Some(Resolved::Window {
                oldest_micros,
                span_micros,
                spread,
            }) => Value::Timestamp(
                Window {
                    oldest_micros,
                    span_micros,
                    spread,
                }
                .at(rng.random()),
            ),
            Some(Resolved::After {
                column,
                min,
                max,
                distribution,
            }) => {
                let Some(Value::Timestamp(start)) = row.values.get(column) else {
                    return Value::Null;
                };
                let u: f64 = rng.random();
                let seconds = match distribution {
                    Distribution::LogUniform => (min.ln() + u * (max.ln() - min.ln())).exp(),
                    _ => min + u * (max - min),
                };
                Value::Timestamp(start + (seconds * 1_000_000.0) as i64)
            }
            None => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::TableSignature;
    use crate::datagen::rng::stream;

    const AS_OF: i64 = 1_780_000_000_000_000;

    fn scope(columns: Vec<(String, ValueKind)>) -> Vec<TableSignature> {
        vec![TableSignature {
            name: "t".into(),
            columns,
            ancestors: vec![],
            references: vec![],
        }]
    }

    fn days_ago(value: &Value) -> f64 {
        match value {
            Value::Timestamp(micros) => (AS_OF - micros) as f64 / DAY_MICROS,
            other => panic!("{other:?}"),
        }
    }

    fn window(spread: Spread) -> Timestamp {
        let mut generator: Timestamp = toml::from_str("days_ago = [0, 100]").unwrap();
        generator.spread = spread;
        let tables = scope(vec![]);
        generator
            .resolve(&Scope {
                tables: &tables,
                as_of_micros: AS_OF,
            })
            .unwrap();
        generator
    }

    fn share_in_recent_half(spread: Spread) -> f64 {
        let mut generator = window(spread);
        let mut rng = stream(5, "t", "created_at");
        let row = RowContext {
            row: 0,
            values: &[],
            ancestors: &[],
            picks: &[],
            tables: &[],
        };
        let mut pick = u32::MAX;
        let draws: Vec<f64> = (0..50_000)
            .map(|_| days_ago(&generator.generate(&mut rng, &row, &mut pick)))
            .collect();
        assert!(draws.iter().all(|d| (0.0..=100.0).contains(d)));
        draws.iter().filter(|d| **d < 50.0).count() as f64 / 50_000.0
    }

    #[test]
    fn spreads_put_the_density_where_they_say() {
        assert!((share_in_recent_half(Spread::Uniform) - 0.5).abs() < 0.01);
        // Linear density rising to the recent end: 1 - (1/2)² = 3/4 in the recent half.
        assert!((share_in_recent_half(Spread::Recent) - 0.75).abs() < 0.01);
        assert!((share_in_recent_half(Spread::Old) - 0.25).abs() < 0.01);
    }

    #[test]
    fn after_follows_the_earlier_column_within_its_seconds() {
        let mut generator: Timestamp = toml::from_str(
            "after = \"created_at\"\nseconds = [20, 4000]\ndistribution = \"log-uniform\"",
        )
        .unwrap();
        let tables = scope(vec![("created_at".into(), ValueKind::Timestamp)]);
        generator
            .resolve(&Scope {
                tables: &tables,
                as_of_micros: AS_OF,
            })
            .unwrap();
        let values = [Value::Timestamp(AS_OF)];
        let row = RowContext {
            row: 0,
            values: &values,
            ancestors: &[],
            picks: &[],
            tables: &[],
        };
        let mut rng = stream(5, "t", "finished_at");
        let mut pick = u32::MAX;
        for _ in 0..1000 {
            let Value::Timestamp(at) = generator.generate(&mut rng, &row, &mut pick) else {
                panic!()
            };
            let seconds = (at - AS_OF) as f64 / 1e6;
            assert!((20.0..=4000.0).contains(&seconds), "{seconds}");
        }
    }

    #[test]
    fn bad_windows_and_unknown_columns_are_refused() {
        let tables = scope(vec![]);
        let scope = Scope {
            tables: &tables,
            as_of_micros: AS_OF,
        };
        let mut backwards: Timestamp = toml::from_str("days_ago = [300, 100]").unwrap();
        assert!(
            backwards
                .resolve(&scope)
                .unwrap_err()
                .contains("most recent < oldest")
        );
        let mut unknown: Timestamp = toml::from_str("after = \"started_at\"").unwrap();
        assert!(unknown.resolve(&scope).unwrap_err().contains("started_at"));
    }
}
