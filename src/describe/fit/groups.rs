//! Groups on a root table that a skewed key points at: its heavy values one by one,
//! then the tiers of its largest child's key column (bands of common values, the rarer
//! rest, parents with no children), each with its share of that child's rows; other
//! children of the same parent get the shares their own statistics give the heavy
//! parents.

use std::collections::BTreeMap;

use super::super::stats::Table;
use super::links::Link;
use super::parents::column;
use super::skew::Skew;
use super::{ChildRows, FittedGroup, FittedTable, GroupSize, percent, round};

/// A key column listing at most this many most common values gives each its group.
pub(super) const INDIVIDUAL_GROUPS: usize = 20;
/// Frequencies within this factor of a band's most frequent value share its group.
const BAND_GAP: f64 = 3.0;

/// A group of parents that is not one heavy value: its name, parent rows, share of
/// the child's rows and note.
struct Tier {
    name: String,
    rows: u64,
    share: f64,
    note: String,
}

/// Gives every root table that a skewed key points at its groups.
pub(super) fn add(
    ordered: &[&Table],
    parents: &BTreeMap<String, Link>,
    fitted: &mut [FittedTable],
) {
    let mut children_of: BTreeMap<&str, Vec<&Table>> = BTreeMap::new();
    for table in ordered {
        if let Some(link) = parents.get(&table.name)
            && link.skewed
            && !parents.contains_key(&link.to_table)
        {
            children_of
                .entry(link.to_table.as_str())
                .or_default()
                .push(table);
        }
    }
    for (parent_name, mut children) in children_of {
        children.sort_by(|a, b| b.rows.total_cmp(&a.rows));
        let Some(parent) = ordered.iter().find(|t| t.name == parent_name) else {
            continue;
        };
        let main = children[0];
        let link = &parents[&main.name];
        let Some(groups) = groups_of(parent, &children, parents) else {
            continue;
        };
        if let Some(target) = fitted.iter_mut().find(|t| t.name == parent_name) {
            target.groups = groups;
            target.notes.push(format!(
                "Groups: {}.{} is skewed; its parents are grouped by how many rows they have.",
                main.name, link.column
            ));
        }
    }
}

/// The groups of `parent` for its skewed `children` (largest first), or none when the
/// largest child's key has no statistics.
fn groups_of(
    parent: &Table,
    children: &[&Table],
    parents: &BTreeMap<String, Link>,
) -> Option<Vec<FittedGroup>> {
    let main = children[0];
    let link = &parents[&main.name];
    let stats = column(main, &link.column)?.stats.as_ref()?;
    let skew = Skew::of(stats, main.rows);
    // Few listed values each get a group of their own (four currencies keep their
    // four shares); many get groups for the heavy ones and bands for the rest.
    let heavy = match skew.common.len() <= INDIVIDUAL_GROUPS {
        true => skew.common.clone(),
        false => skew.heavy(),
    };
    let non_null = (1.0 - stats.null_frac).max(f64::EPSILON);
    let mut groups = heavy_groups(&heavy, children, parents, non_null);
    let parent_rows = (parent.rows.round() as u64).max(1);
    let (tiers, childless) = tiers(&skew, &heavy, main, &link.column, parent_rows);
    let heavy_share: f64 = heavy.iter().map(|(_, s)| s).sum();
    let total_share = (heavy_share + tiers.iter().map(|t| t.share).sum::<f64>()).max(f64::EPSILON);
    let scaled_taken = push_tiers(&mut groups, tiers, childless, &main.name, total_share);
    if childless > 0 {
        groups.push(FittedGroup {
            name: "childless".into(),
            note: format!(
                "{} has {} rows and {}.{} about {} distinct values: the rest have no {}",
                parent.name,
                parent_rows,
                main.name,
                link.column,
                parent_rows - childless,
                main.name
            ),
            size: if scaled_taken {
                GroupSize::Rows(childless)
            } else {
                GroupSize::Share(1.0)
            },
            under: None,
            children: vec![(main.name.clone(), ChildRows::Count(0))],
        });
    }
    // Heavy groups' shares were of the non-NULL rows already; the tiers' were
    // normalised to what is left; rescale the heavy ones the same way.
    for group in groups.iter_mut().take(heavy.len()) {
        if let Some((_, ChildRows::Share(share))) = group.children.first_mut() {
            *share = (*share * non_null / total_share).min(1.0);
        }
    }
    settle_shares(&mut groups, &main.name);
    Some(groups)
}

/// A group of one parent row per heavy value, with its share of the largest child's
/// rows and the shares the other children's statistics give the same value.
fn heavy_groups(
    heavy: &[(String, f64)],
    children: &[&Table],
    parents: &BTreeMap<String, Link>,
    non_null: f64,
) -> Vec<FittedGroup> {
    let main = children[0];
    let link = &parents[&main.name];
    heavy
        .iter()
        .enumerate()
        .map(|(index, (value, share))| {
            let mut children_rows = vec![(main.name.clone(), ChildRows::Share(share / non_null))];
            for other in &children[1..] {
                if let Some(other_share) = share_of_value(other, &parents[&other.name], value) {
                    children_rows.push((other.name.clone(), ChildRows::Share(other_share)));
                }
            }
            FittedGroup {
                name: format!("top_{}", index + 1),
                note: format!(
                    "{}.{}: one value holds {} of the rows",
                    main.name,
                    link.column,
                    percent(*share)
                ),
                size: GroupSize::Rows(1),
                under: None,
                children: children_rows,
            }
        })
        .collect()
}

/// The share of `table`'s non-NULL key values that `value` holds, if listed.
fn share_of_value(table: &Table, link: &Link, value: &str) -> Option<f64> {
    let stats = column(table, &link.column)?.stats.as_ref()?;
    let skew = Skew::of(stats, table.rows);
    let non_null = (1.0 - stats.null_frac).max(f64::EPSILON);
    skew.common
        .iter()
        .find(|(v, _)| v == value)
        .map(|(_, f)| f / non_null)
}

/// The tiers after the heavy values: bands of common values, the rare rest; and how
/// many parent rows have no child at all.
fn tiers(
    skew: &Skew,
    heavy: &[(String, f64)],
    main: &Table,
    key: &str,
    parent_rows: u64,
) -> (Vec<Tier>, u64) {
    let common: Vec<&(String, f64)> = skew.common.iter().skip(heavy.len()).collect();
    // Values not listed hold the rest of the rows; with no rest left they hold none.
    let others = match skew.rest > 1e-9 {
        true => (skew.distinct - skew.common.len() as f64).round().max(0.0) as u64,
        false => 0,
    };
    let with_children = heavy.len() as u64 + common.len() as u64 + others;
    let bands = bands(&common);
    let mut tiers: Vec<Tier> = bands
        .iter()
        .enumerate()
        .map(|(index, band)| {
            let share: f64 = band.iter().map(|(_, s)| s).sum();
            Tier {
                name: match bands.len() {
                    1 => "common".into(),
                    _ => format!("common_{}", index + 1),
                },
                rows: band.len() as u64,
                share,
                note: format!(
                    "{} more of the most common values of {}.{key}: {} of the rows, {} to {} each",
                    band.len(),
                    main.name,
                    percent(share),
                    percent(band.last().map(|c| c.1).unwrap_or_default()),
                    percent(band.first().map(|c| c.1).unwrap_or_default())
                ),
            }
        })
        .collect();
    if others > 0 && skew.rest > 0.0 {
        tiers.push(Tier {
            name: "rare".into(),
            rows: others,
            share: skew.rest,
            note: format!(
                "the other {others} values of {}.{key}: {} of the rows, about {} each",
                main.name,
                percent(skew.rest),
                percent(skew.rest / others as f64)
            ),
        });
    }
    (tiers, parent_rows.saturating_sub(with_children))
}

/// Adds a group per tier, each with its share of `child`'s rows out of
/// `total_share`. The largest tier (or the childless parents, when more) scales with
/// `--scale`; the others keep their row counts. Returns whether a tier took the scale.
fn push_tiers(
    groups: &mut Vec<FittedGroup>,
    tiers: Vec<Tier>,
    childless: u64,
    child: &str,
    total_share: f64,
) -> bool {
    let largest = tiers
        .iter()
        .map(|t| t.rows)
        .max()
        .unwrap_or(0)
        .max(childless);
    let mut scaled_taken = false;
    for tier in tiers {
        let size = if tier.rows == largest && !scaled_taken {
            scaled_taken = true;
            GroupSize::Share(1.0)
        } else {
            GroupSize::Rows(tier.rows)
        };
        groups.push(FittedGroup {
            name: tier.name,
            note: tier.note,
            size,
            under: None,
            children: vec![(child.to_owned(), ChildRows::Share(tier.share / total_share))],
        });
    }
    scaled_taken
}

/// The most common values (most frequent first) in bands of similar frequency: a new
/// band starts where a value is [`BAND_GAP`] times rarer than the band's first. Each
/// band becomes a group whose parents share its rows evenly.
fn bands<'a>(common: &[&'a (String, f64)]) -> Vec<Vec<&'a (String, f64)>> {
    let mut bands: Vec<Vec<&(String, f64)>> = Vec::new();
    for value in common {
        match bands.last_mut() {
            Some(band) if band[0].1 < BAND_GAP * value.1 => band.push(value),
            _ => bands.push(vec![value]),
        }
    }
    bands
}

/// Rounds `child`'s shares to six places, as the file writes them, and makes them add
/// up to exactly 1 by moving the rounding onto the largest.
pub(super) fn settle_shares(groups: &mut [FittedGroup], child: &str) {
    let mut shares: Vec<&mut f64> = groups
        .iter_mut()
        .flat_map(|group| group.children.iter_mut())
        .filter(|(name, _)| name == child)
        .filter_map(|(_, rows)| match rows {
            ChildRows::Share(share) => Some(share),
            ChildRows::Count(_) => None,
        })
        .collect();
    for share in shares.iter_mut() {
        **share = round(**share, 6).max(0.000_001);
    }
    let total: f64 = shares.iter().map(|share| **share).sum();
    if let Some(largest) = shares.iter_mut().max_by(|a, b| a.total_cmp(b)) {
        **largest = round(**largest + 1.0 - total, 6);
    }
}
