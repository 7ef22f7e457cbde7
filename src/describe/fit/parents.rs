//! Which foreign key makes a table a child: the most skewed one (beyond what sampling
//! gives), whose parent's groups then give each parent its share; else one that reaches
//! every parent row, so that each gets rows as random picks would not give. Other keys
//! stay `reference` columns.

use std::collections::BTreeMap;

use super::super::stats::{ColumnFacts, Table};
use super::child_groups;
use super::links::Link;
use super::skew::{Skew, distinct, sampled_rows};

/// A key reaching this share of the referenced table's rows covers it.
const COVERING_SHARE: f64 = 0.95;

/// Table → the link that makes it a child. A skewed link to a root table gives that
/// root groups; a skewed link to a child table, whose ancestors carry no groups of
/// their own, gives a chain of groups from the root down to it (`child_groups`).
pub(super) fn choose(
    ordered: &[&Table],
    links: &BTreeMap<String, Vec<Link>>,
) -> BTreeMap<String, Link> {
    let mut parents: BTreeMap<String, Link> = BTreeMap::new();
    for table in ordered {
        let skewed = links[&table.name]
            .iter()
            .filter(|link| !parents.contains_key(&link.to_table))
            .filter_map(|link| Some((link, skewed_top(table, link)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((link, _)) = skewed {
            let link = Link {
                skewed: true,
                ..link.clone()
            };
            parents.insert(table.name.clone(), link);
        } else if let Some(link) = covering(table, ordered, &links[&table.name]) {
            parents.insert(table.name.clone(), link.clone());
        }
    }
    for table in ordered {
        if let Some(link) = skewed_to_child(table, links, &parents) {
            parents.insert(table.name.clone(), link);
        }
    }
    parents
}

/// The most common value's share of `table`'s key column, when it is beyond sampling.
fn skewed_top(table: &Table, link: &Link) -> Option<f64> {
    let stats = column(table, &link.column)?.stats.as_ref()?;
    let skew = Skew::of(stats, table.rows);
    let (_, top) = skew.common.first()?;
    skew.beyond_sampling(sampled_rows(table)).then_some(*top)
}

/// Without skew, a key that reaches (nearly) every referenced row, from a table with at
/// least as many rows as the one referenced: a child spread evenly.
fn covering<'a>(table: &Table, ordered: &[&Table], links: &'a [Link]) -> Option<&'a Link> {
    links.iter().find(|link| {
        let Some(stats) = column(table, &link.column).and_then(|c| c.stats.as_ref()) else {
            return false;
        };
        let Some(target) = ordered.iter().find(|t| t.name == link.to_table) else {
            return false;
        };
        stats.null_frac == 0.0
            && table.rows >= target.rows
            && distinct(stats, table.rows) >= COVERING_SHARE * target.rows
            && skewed_top(table, link).is_none()
    })
}

/// For a table left without a parent, its most skewed key to a child table whose skew
/// can be placed there: heavy values to give a group each, and no other skewed key
/// whose groups sit on the chain of tables from the root down to it (a root's groups,
/// another placement's), nor on the table itself.
fn skewed_to_child(
    table: &Table,
    links: &BTreeMap<String, Vec<Link>>,
    parents: &BTreeMap<String, Link>,
) -> Option<Link> {
    if parents.contains_key(&table.name) || has_skewed_children(&table.name, parents) {
        return None;
    }
    let (link, _) = links[&table.name]
        .iter()
        .filter(|link| parents.contains_key(&link.to_table))
        .filter_map(|link| Some((link, skewed_top(table, link)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let chain = child_groups::chain(&link.to_table, parents);
    let free = parents.values().filter(|other| other.skewed).all(|other| {
        child_groups::chain(&other.to_table, parents)
            .iter()
            .all(|name| !chain.contains(name))
    });
    let stats = column(table, &link.column)?.stats.as_ref()?;
    let heavy = !child_groups::heavy_values(&Skew::of(stats, table.rows)).is_empty();
    (free && heavy).then(|| Link {
        skewed: true,
        ..link.clone()
    })
}

/// Whether some table is a skewed child of `name`: `name` then carries groups.
fn has_skewed_children(name: &str, parents: &BTreeMap<String, Link>) -> bool {
    parents
        .values()
        .any(|link| link.skewed && link.to_table == name)
}

pub(super) fn column<'a>(table: &'a Table, name: &str) -> Option<&'a ColumnFacts> {
    table.columns.iter().find(|column| column.name == name)
}
