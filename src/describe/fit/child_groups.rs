//! A skewed key to a child table (tickets → boards, where boards → teams): each heavy
//! value becomes one row of the child table, reached by a chain of groups of one row
//! from the root down (a team holding the busy board, then that board), each level
//! given the share of the skewed table's rows found under it. The other rows share the
//! rest evenly, and the child table's rows that no key value reaches get none.

use std::collections::BTreeMap;

use super::super::stats::Table;
use super::groups::INDIVIDUAL_GROUPS;
use super::links::Link;
use super::parents::column;
use super::skew::Skew;
use super::{ChildRows, FittedGroup, FittedTable, GroupSize, percent, round};

/// A share of a table's rows below which its childless rows get no group.
const CHILDLESS_SHARE: f64 = 0.01;

/// The tables from the root down to `table`, following the parent links.
pub(super) fn chain(table: &str, parents: &BTreeMap<String, Link>) -> Vec<String> {
    let mut chain = vec![table.to_owned()];
    while let Some(link) = chain.last().and_then(|last| parents.get(last)) {
        if chain.contains(&link.to_table) {
            break;
        }
        chain.push(link.to_table.clone());
    }
    chain.reverse();
    chain
}

/// The values that get a row of their own: every value of a column of few (four
/// currencies keep their four shares), else the heavy ones. Not every listed value,
/// as on a root table: each costs a chain of groups, and a column of thousands lists
/// a few values only because the sample happened to favour them.
pub(super) fn heavy_values(skew: &Skew) -> Vec<(String, f64)> {
    match skew.distinct <= INDIVIDUAL_GROUPS as f64 {
        true => skew.common.clone(),
        false => skew.heavy(),
    }
}

/// What one placement needs: the skewed table and key, the chain's tables from the
/// root down to the referenced one, and the shares.
struct Placement<'a> {
    skewed: &'a Table,
    key: &'a str,
    chain: Vec<&'a Table>,
    /// Each heavy value's share of the non-NULL key values.
    heavy: Vec<f64>,
    /// The share of any other referenced row that has rows.
    other: f64,
    /// Referenced rows with no rows at all.
    childless: u64,
}

/// Places every skewed key to a child table on its chain of groups.
pub(super) fn add(
    ordered: &[&Table],
    parents: &BTreeMap<String, Link>,
    fitted: &mut [FittedTable],
) {
    for table in ordered {
        let Some(link) = parents.get(&table.name) else {
            continue;
        };
        if !link.skewed || !parents.contains_key(&link.to_table) {
            continue;
        }
        let chain: Vec<&Table> = chain(&link.to_table, parents)
            .iter()
            .filter_map(|name| ordered.iter().copied().find(|t| t.name == *name))
            .collect();
        if let Some(placement) = placement(table, &link.column, chain) {
            place(&placement, fitted);
        }
    }
}

fn placement<'a>(skewed: &'a Table, key: &'a str, chain: Vec<&'a Table>) -> Option<Placement<'a>> {
    let stats = column(skewed, key)?.stats.as_ref()?;
    let skew = Skew::of(stats, skewed.rows);
    let non_null = skew.non_null().max(f64::MIN_POSITIVE);
    let heavy: Vec<f64> = heavy_values(&skew)
        .iter()
        .map(|(_, share)| share / non_null)
        .collect();
    let referenced = chain.last()?.rows.round().max(1.0);
    let rest = (1.0 - heavy.iter().sum::<f64>()).max(0.0);
    let others = skew.distinct.min(referenced) - heavy.len() as f64;
    (chain.len() >= 2 && !heavy.is_empty()).then_some(Placement {
        skewed,
        key,
        heavy,
        other: if others >= 1.0 { rest / others } else { 0.0 },
        childless: (referenced - skew.distinct).max(0.0).round() as u64,
        chain,
    })
}

/// The group names of heavy value `index` (1-based) at each level of the chain.
fn names(index: usize, levels: usize) -> Vec<String> {
    (0..levels)
        .map(|level| match level {
            _ if level + 1 == levels => format!("top_{index}"),
            0 => format!("holds_top_{index}"),
            _ => format!("holds_top_{index}_at_{level}"),
        })
        .collect()
}

/// Writes the placement's groups and notes into the fitted tables.
fn place(placement: &Placement, fitted: &mut [FittedTable]) {
    let levels = placement.chain.len();
    let referenced = placement.chain[levels - 1];
    let mut by_level: Vec<Vec<FittedGroup>> = vec![Vec::new(); levels];
    for (index, share) in placement.heavy.iter().enumerate() {
        let names = names(index + 1, levels);
        let held = held_shares(placement, *share);
        for level in 0..levels {
            let above = match level {
                0 => 1.0,
                _ => held[level - 1],
            };
            by_level[level].push(FittedGroup {
                name: names[level].clone(),
                note: level_note(placement, level, *share, &names),
                size: GroupSize::Rows(1),
                under: level.checked_sub(1).map(|up| names[up].clone()),
                children: vec![(
                    placement.skewed.name.clone(),
                    ChildRows::Share(round((held[level] / above).min(1.0), 6)),
                )],
            });
        }
    }
    by_level[0].push(FittedGroup {
        name: "others".into(),
        note: format!(
            "the other {} rows share the rest of {} evenly",
            placement.chain[0].name, placement.skewed.name
        ),
        size: GroupSize::Share(1.0),
        under: None,
        children: Vec::new(),
    });
    if let Some(childless) = childless_group(placement) {
        by_level[levels - 1].push(childless);
    }
    for (level, groups) in by_level.into_iter().enumerate() {
        let name = &placement.chain[level].name;
        if let Some(table) = fitted.iter_mut().find(|t| t.name == *name) {
            table.groups.extend(groups);
            table.notes.push(format!(
                "Groups: {}.{} is skewed toward rows of {}, a child table: each heavy one is reached through groups of one row from {} down.",
                placement.skewed.name, placement.key, referenced.name, placement.chain[0].name
            ));
        }
    }
}

/// The share of the skewed table's rows under the heavy value's row at each level of
/// the chain: its own share, and the average share of the other referenced rows under
/// the same ancestor row (as many as the referenced table has per row of that level).
fn held_shares(placement: &Placement, share: f64) -> Vec<f64> {
    let referenced = placement.chain[placement.chain.len() - 1].rows.max(1.0);
    placement
        .chain
        .iter()
        .map(|table| {
            let siblings = (referenced / table.rows.max(1.0) - 1.0).max(0.0);
            (share + siblings * placement.other).min(1.0)
        })
        .collect()
}

fn level_note(placement: &Placement, level: usize, share: f64, names: &[String]) -> String {
    let levels = placement.chain.len();
    match level + 1 == levels {
        true => format!(
            "{}.{}: one value holds {} of the rows; this is its row",
            placement.skewed.name,
            placement.key,
            percent(share)
        ),
        false => format!(
            "the {} row holding the {} row of group {}",
            placement.chain[level].name,
            placement.chain[levels - 1].name,
            names[levels - 1]
        ),
    }
}

/// The referenced rows no key value reaches, as a share of each parent row's children
/// with none of the skewed table's rows.
fn childless_group(placement: &Placement) -> Option<FittedGroup> {
    let referenced = placement.chain[placement.chain.len() - 1];
    let share = placement.childless as f64 / referenced.rows.max(1.0);
    (share >= CHILDLESS_SHARE).then(|| FittedGroup {
        name: "childless".into(),
        note: format!(
            "{}.{} reaches about {} of {} {} rows: the rest have none",
            placement.skewed.name,
            placement.key,
            referenced.rows.round() as u64 - placement.childless,
            referenced.rows.round() as u64,
            referenced.name
        ),
        size: GroupSize::Share(round(share.min(1.0), 6)),
        under: None,
        children: vec![(placement.skewed.name.clone(), ChildRows::Count(0))],
    })
}
