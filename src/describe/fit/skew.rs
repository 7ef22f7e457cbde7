//! How skewed a column is: its most common values' shares against the average value's,
//! and whether the most common one is beyond what sampling a uniform column gives.

use super::super::stats::{ColumnStats, Table};

/// A most common value counts as heavy when it holds at least this share of the
/// rows and this many times the average value's share.
const HEAVY_SHARE: f64 = 0.01;
const HEAVY_TIMES_AVERAGE: f64 = 10.0;
/// The chance, at most, that a column whose values are equally likely shows a most
/// common value as frequent as the one seen: below it, the skew is the data's, not
/// the sample's.
const SAMPLING_CHANCE: f64 = 0.001;

/// The share of non-NULL rows each most common value holds, and the average share
/// of the other distinct values.
pub(super) struct Skew {
    /// `(value, share of all rows)`, most frequent first.
    pub common: Vec<(String, f64)>,
    /// Estimated distinct values.
    pub distinct: f64,
    /// Share of all rows not NULL and not among the common values.
    pub rest: f64,
}

impl Skew {
    pub fn of(stats: &ColumnStats, rows: f64) -> Skew {
        let values = stats.mcv.clone().unwrap_or_default();
        let freqs = stats.mcf.clone().unwrap_or_default();
        let common: Vec<(String, f64)> = values.into_iter().zip(freqs).collect();
        let covered: f64 = common.iter().map(|(_, f)| f).sum();
        Skew {
            distinct: distinct(stats, rows).max(common.len() as f64),
            rest: (1.0 - stats.null_frac - covered).max(0.0),
            common,
        }
    }

    /// The average share of a value that is not among the common ones (or of any
    /// value, when all are).
    pub fn average(&self) -> f64 {
        let others = self.distinct - self.common.len() as f64;
        if others >= 1.0 && self.rest > 0.0 {
            self.rest / others
        } else {
            1.0 / self.distinct.max(1.0)
        }
    }

    pub fn heavy(&self) -> Vec<(String, f64)> {
        let average = self.average();
        self.common
            .iter()
            .filter(|(_, share)| *share >= HEAVY_SHARE && *share >= HEAVY_TIMES_AVERAGE * average)
            .cloned()
            .collect()
    }

    /// The share of the non-NULL rows.
    pub fn non_null(&self) -> f64 {
        self.rest + self.common.iter().map(|(_, share)| share).sum::<f64>()
    }

    /// Whether the most common value holds more of the `sampled` rows ANALYZE read
    /// than a column whose distinct values are equally likely would give any of them,
    /// but with [`SAMPLING_CHANCE`]. A value's count among m sampled non-NULL rows is
    /// then Binomial(m, 1/d); Chernoff's bound P(X ≥ qm) ≤ exp(−m·KL(q‖1/d)), taken
    /// over the d values (the union bound), says how often the largest reaches the
    /// count seen. So 1% against a 0.5% average over 200 parents, in 2,000 rows, is
    /// sampling (a largest count of 20 where 10 is the mean); EUR at 50% of four
    /// currencies is not.
    pub fn beyond_sampling(&self, sampled: f64) -> bool {
        let Some((_, top)) = self.common.first() else {
            return false;
        };
        let rows = sampled * self.non_null();
        let (share, uniform) = (
            top / self.non_null().max(f64::MIN_POSITIVE),
            1.0 / self.distinct,
        );
        if rows < 1.0 || share <= uniform {
            return false;
        }
        let chance = self.distinct * (-rows * divergence(share, uniform)).exp();
        chance < SAMPLING_CHANCE
    }
}

/// The Kullback-Leibler divergence of Bernoulli(q) from Bernoulli(p).
fn divergence(q: f64, p: f64) -> f64 {
    let term = |a: f64, b: f64| if a <= 0.0 { 0.0 } else { a * (a / b).ln() };
    term(q, p) + term(1.0 - q, 1.0 - p)
}

/// The rows ANALYZE sampled of `table`: 300 times the statistics target, or all of a
/// smaller table.
pub(super) fn sampled_rows(table: &Table) -> f64 {
    table
        .rows
        .min(300.0 * f64::from(table.statistics_target))
        .max(1.0)
}

/// `n_distinct` as a count.
pub(super) fn distinct(stats: &ColumnStats, rows: f64) -> f64 {
    if stats.n_distinct < 0.0 {
        -stats.n_distinct * rows
    } else {
        stats.n_distinct
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skew(distinct: f64, common: &[f64]) -> Skew {
        let covered: f64 = common.iter().sum();
        Skew {
            common: common.iter().map(|f| ("v".to_owned(), *f)).collect(),
            distinct,
            rest: 1.0 - covered,
        }
    }

    #[test]
    fn a_value_far_above_the_rest_is_heavy() {
        let stats = ColumnStats {
            null_frac: 0.0,
            n_distinct: 100.0,
            avg_width: 16.0,
            correlation: Some(0.0),
            mcv: Some(vec!["a".into(), "b".into()]),
            mcf: Some(vec![0.9, 0.002]),
            histogram: None,
        };
        let skew = Skew::of(&stats, 1_000_000.0);
        assert_eq!(skew.heavy(), vec![("a".to_owned(), 0.9)]);
    }

    /// 2,000 rows drawn uniformly over 200 parents put about 20 in the busiest one,
    /// twice the mean: sampling, not skew. Twice as many would be skew.
    #[test]
    fn the_top_of_a_uniform_draw_is_sampling_and_a_real_top_is_not() {
        assert!(!skew(200.0, &[0.01, 0.0095, 0.009]).beyond_sampling(2_000.0));
        assert!(skew(200.0, &[0.02, 0.0095, 0.009]).beyond_sampling(2_000.0));
        // The same shares over 30,000 sampled rows are far beyond sampling.
        assert!(skew(200.0, &[0.01, 0.0095, 0.009]).beyond_sampling(30_000.0));
        assert!(skew(4.0, &[0.5, 0.3, 0.15, 0.05]).beyond_sampling(30_000.0));
        assert!(!skew(1.0, &[1.0]).beyond_sampling(30_000.0));
    }

    /// Measured on uniform draws: how often the largest of 200 counts over 2,000 rows
    /// reaches the bound's count, against its promise.
    #[test]
    fn the_bound_holds_for_uniform_draws() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        let mut skewed = 0;
        for _ in 0..2_000 {
            let mut counts = [0u32; 200];
            for _ in 0..2_000 {
                counts[rng.random_range(0..200)] += 1;
            }
            counts.sort_unstable_by(|a, b| b.cmp(a));
            let shares: Vec<f64> = counts[..5]
                .iter()
                .map(|c| f64::from(*c) / 2_000.0)
                .collect();
            if skew(200.0, &shares).beyond_sampling(2_000.0) {
                skewed += 1;
            }
        }
        assert!(skewed <= 2, "{skewed} of 2,000 uniform draws called skewed");
    }
}
