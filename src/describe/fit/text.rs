//! Text columns: a weighted `choice` of the most common values with `others` for the
//! rest, `hex` of the column's width from a pool sized to ANALYZE's distinct count, or
//! unique text for a unique column.

use super::super::stats::{ColumnFacts, ColumnStats, Table};
use super::histogram::choice;
use super::skew::Skew;
use super::values::{COMMON_VALUES, Fit, MCV_COVERS_ALL};
use super::{format_count, inline, insert, round};

/// What ANALYZE saw of a text column's values: its estimated distinct count, how
/// many of those it listed as most common, the rows holding the others and all
/// non-NULL rows, and the share of the table it sampled.
pub(super) struct Spread {
    pub distinct: f64,
    pub listed: f64,
    pub others_rows: f64,
    pub non_null_rows: f64,
    pub sampled: f64,
}

/// The generator of a text column.
pub(super) fn fit_text(
    table: &Table,
    column: &ColumnFacts,
    stats: &ColumnStats,
    skew: &Skew,
    note: &mut String,
) -> Result<Fit, String> {
    let rows = table.rows;
    let non_null = (1.0 - stats.null_frac).max(f64::EPSILON);
    let covered: f64 = skew.common.iter().map(|(_, f)| f).sum::<f64>() / non_null;
    let limit = column.max_length.map(f64::from);
    let width = (stats.avg_width - 1.0).max(1.0);
    let width = limit.map_or(width, |limit| width.min(limit));
    if column.unique {
        note.push_str("; unique");
        return Ok((unique_text(width, limit, rows)?, None));
    }
    let spread = Spread {
        distinct: skew.distinct,
        listed: skew.common.len() as f64,
        others_rows: rows * skew.rest,
        non_null_rows: rows * non_null,
        sampled: (300.0 * f64::from(table.statistics_target) / rows.max(1.0)).min(1.0),
    };
    if skew.common.is_empty() || covered < 1.0 - MCV_COVERS_ALL {
        return Ok((text_of_width(width, limit, &spread)?, None));
    }
    let values = skew
        .common
        .iter()
        .map(|(value, _)| toml::Value::String(value.clone()))
        .collect();
    let mut generator = choice(values, &skew.common);
    let others_distinct = (skew.distinct - skew.common.len() as f64).max(0.0);
    if covered < MCV_COVERS_ALL && others_distinct >= 1.0 {
        add_others(&mut generator, skew, non_null, width, limit, &spread)?;
    }
    Ok((generator, Some(COMMON_VALUES)))
}

/// Gives a `choice` of the most common values its `others`: text of the width the
/// other values must have for the column's average, and their weight.
fn add_others(
    generator: &mut toml::Value,
    skew: &Skew,
    non_null: f64,
    width: f64,
    limit: Option<f64>,
    spread: &Spread,
) -> Result<(), String> {
    let covered: f64 = skew.common.iter().map(|(_, f)| f).sum::<f64>() / non_null;
    let mean_common_width = skew
        .common
        .iter()
        .map(|(v, f)| v.chars().count() as f64 * f)
        .sum::<f64>()
        / (covered * non_null);
    let others_width = ((width * non_null - mean_common_width * covered * non_null)
        / (non_null - covered * non_null))
        .max(2.0);
    insert(
        generator,
        "others",
        text_of_width(
            limit.map_or(others_width, |limit| others_width.min(limit)),
            limit,
            spread,
        )?,
    );
    // The values' weights are scaled to 1000 for the most common one.
    let top = skew
        .common
        .iter()
        .map(|c| c.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    insert(
        generator,
        "others_weight",
        round(skew.rest / top * 1000.0, 3).into(),
    );
    Ok(())
}

/// Text of about `width` characters (at most `limit`, a `varchar(n)`'s n) for the
/// values not listed: `hex`, from a pool sized so that ANALYZE estimates the column's
/// distinct count, or fresh values when nearly every row has its own.
fn text_of_width(width: f64, limit: Option<f64>, spread: &Spread) -> Result<toml::Value, String> {
    if limit.is_some_and(|limit| limit < 2.0) {
        return Err("a one-character column with values beyond its most common ones: write its choice by hand".into());
    }
    let most = limit.map_or(2048.0, |limit| limit);
    let bytes = (width.min(most) / 2.0).floor().clamp(1.0, 1024.0) as i64;
    let mut generator = inline(&[("kind", "hex".into()), ("bytes", bytes.into())]);
    let others = (spread.distinct - spread.listed).max(0.0);
    if others < 0.5 * spread.others_rows && others >= 1.0 {
        let pool = pool_for(spread).min(1_000_000.0);
        insert(&mut generator, "pool", (pool as i64).into());
    }
    Ok(generator)
}

/// Unique text of about `width` characters, within `limit`: random hex when that is
/// wide enough never to repeat, else the row's number padded to the width.
fn unique_text(width: f64, limit: Option<f64>, rows: f64) -> Result<toml::Value, String> {
    if width >= 16.0 {
        return Ok(inline(&[
            ("kind", "hex".into()),
            ("bytes", ((width / 2.0).floor() as i64).into()),
        ]));
    }
    let digits = (rows.max(1.0).log10().floor() as usize) + 1;
    if limit.is_some_and(|limit| (limit as usize) < digits) {
        return Err(format!(
            "unique in at most {} characters over {} rows: no generator numbers rows that tightly; write a choice or a template by hand",
            limit.unwrap_or_default(),
            format_count(rows)
        ));
    }
    let pad = (width.round() as usize).saturating_sub(digits + 1);
    let template = match pad {
        0 => "{n}".to_owned(),
        pad => format!("{}-{{n}}", "x".repeat(pad)),
    };
    Ok(inline(&[
        ("kind", "template".into()),
        ("template", template.into()),
    ]))
}

/// The pool size P for which ANALYZE estimates the column's distinct count: what the
/// planner reads is the estimate, and its estimator (Haas and Stokes' Duj1 in
/// `analyze.c`: n·d / (n − f1 + f1·n/N), over the n sampled non-NULL rows of N, with d
/// values seen and f1 seen once) undercounts values that repeat a few times, so a
/// pool sized to the estimate alone shows 10-20% fewer. The listed values are taken
/// as seen more than once; the pool's draws are Poisson in the sample.
pub(super) fn pool_for(spread: &Spread) -> f64 {
    let n = spread.sampled * spread.non_null_rows;
    let big_n = spread.non_null_rows.max(1.0);
    let estimate = |pool: f64| {
        let lambda = spread.sampled * spread.others_rows / pool;
        let seen = spread.listed + pool * (1.0 - (-lambda).exp());
        let once = pool * lambda * (-lambda).exp();
        n * seen / ((n - once) + once * n / big_n)
    };
    let target = spread.distinct;
    let (mut low, mut high) = (1.0, target * 50.0 + 1.0);
    for _ in 0..80 {
        let middle = (low + high) / 2.0;
        if estimate(middle) < target {
            low = middle;
        } else {
            high = middle;
        }
    }
    high.round().max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_is_larger_than_the_estimate_it_is_sized_for() {
        let spread = |sampled| Spread {
            distinct: 5_000.0,
            listed: 0.0,
            others_rows: 20_000.0,
            non_null_rows: 20_000.0,
            sampled,
        };
        // Read whole, a pool's estimate is its distinct draws.
        let whole = pool_for(&spread(1.0));
        let seen = whole * (1.0 - (-20_000.0 / whole).exp());
        assert!((seen - 5_000.0).abs() < 2.0, "{whole} {seen}");
        // Sampled, the estimator undercounts, so the pool is larger.
        assert!(pool_for(&spread(0.3)) > whole);
    }
}
