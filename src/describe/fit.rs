//! Fits a dataset to statistics: each table's rows, each column's generator, the
//! groups that give skewed foreign keys their heavy parents, and the write order. Pure:
//! statistics in, a [`Fitted`] dataset out, which `render` writes as a commented file.
//!
//! What the statistics say, and how each becomes a generator:
//!
//! - a column's most common values and their frequencies: a weighted `choice`, or
//!   zero-width buckets of a `histogram` for numbers and instants;
//! - histogram bounds: the `histogram` generator's bounds, equally populated apart from
//!   the most common values, as `pg_stats` defines them;
//! - the null fraction: `null_fraction`;
//! - the distinct count and width of text nobody should copy: `hex` of that width
//!   drawing from a pool sized to give that many distinct values;
//! - a foreign key whose column has a value far above the others (one tenant with 90%
//!   of the rows): the parent table gets groups (heavy parents one by one, then the
//!   common, rare and childless tiers), the child becomes its `parent`'s child, and each
//!   group gets its share of the child's rows;
//! - correlation: `sorted` by the timestamp that follows the heap's order (near 1),
//!   `scattered` when nothing does (near 0).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rand::RngExt;

use super::stats::{ColumnFacts, ColumnStats, Table};
use crate::datagen::rng::{SeededRng, stream};

/// A most common value counts as heavy when it holds at least this share of the
/// rows and this many times the average value's share.
const HEAVY_SHARE: f64 = 0.01;
const HEAVY_TIMES_AVERAGE: f64 = 10.0;
/// A foreign key's most common value at least this many times the average value's
/// share makes the referenced (root) table the parent, so groups can give it its share
/// (1.5: EUR at 50% of four currencies is skewed, sampling noise over 1,000 values is
/// not, as it seldom lifts one value past 1.5 times the rest).
const PARENT_TIMES_AVERAGE: f64 = 1.5;
/// A key column listing at most this many most common values gives each its group.
const INDIVIDUAL_GROUPS: usize = 20;
/// A key reaching this share of the referenced table's rows covers it.
const COVERING_SHARE: f64 = 0.95;
/// A common integer below this many times its bucket's density per value is folded
/// back into its bucket.
const SPIKE_TIMES_DENSITY: f64 = 2.0;
/// Frequencies within this factor of a band's most frequent value share its group.
const BAND_GAP: f64 = 3.0;
/// Most common values covering this much of the non-NULL rows leave no remainder
/// worth generating: a `choice` of them alone.
const MCV_COVERS_ALL: f64 = 0.995;
/// Correlation at or past which a timestamp is taken to follow the heap's order.
const SORTED_CORRELATION: f64 = 0.9;
/// Distinct values a column needs for its correlation to speak of the heap's order.
const ORDERING_DISTINCT: f64 = 1000.0;
/// Correlation from which a column the heap follows is named as lost.
const FOLLOWED_CORRELATION: f64 = 0.3;

/// What the user asked for besides the tables.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Replace the values of text and identifier columns (most common values) with
    /// generated ones of the same frequencies and widths.
    pub anonymize: bool,
    /// `table.column` of text columns whose values `anonymize` keeps (statuses,
    /// currencies: labels, not people).
    pub keep_values: Vec<String>,
    /// The `schema` entries of the dataset file.
    pub schema: Vec<String>,
    /// The dataset's `seed`, and the seed of the anonymized values.
    pub seed: u64,
}

/// A dataset fitted to statistics, in the order its file declares it.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub as_of: String,
    pub scale_table: String,
    pub seed: u64,
    pub schema: Vec<String>,
    pub tables: Vec<FittedTable>,
    pub anonymized: bool,
    /// What keeps the file from loading as written, for the user to fix.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FittedTable {
    pub name: String,
    /// Comment lines above the table.
    pub notes: Vec<String>,
    pub rows: u64,
    pub parent: Option<String>,
    /// `write_order`, and `sorted_by` for `sorted`.
    pub write_order: (&'static str, Option<String>),
    pub columns: Vec<FittedColumn>,
    /// Columns the file leaves out, with why.
    pub left_out: Vec<(String, String)>,
    pub groups: Vec<FittedGroup>,
}

#[derive(Debug, Clone)]
pub struct FittedColumn {
    pub name: String,
    /// The generator, an inline TOML table (or a kind name).
    pub generator: toml::Value,
    /// What it was fitted from.
    pub note: String,
}

#[derive(Debug, Clone)]
pub struct FittedGroup {
    pub name: String,
    pub note: String,
    pub size: GroupSize,
    /// Descendant table → its count (`Count`) or share (`Share`) for this group.
    pub children: Vec<(String, ChildRows)>,
}

#[derive(Debug, Clone, Copy)]
pub enum GroupSize {
    Rows(u64),
    Share(f64),
}

#[derive(Debug, Clone, Copy)]
pub enum ChildRows {
    Count(u64),
    Share(f64),
}

/// A foreign key of one column to one column of another named table.
#[derive(Debug, Clone)]
struct Link {
    /// A parent link chosen for its skew, whose parent gets groups.
    skewed: bool,
    /// The key column may be NULL: a cycle can be broken here.
    nullable: bool,
    column: String,
    to_table: String,
    to_column: String,
}

/// Fits the dataset. Refuses (with a message naming table and column) a foreign key to
/// a table left out of `tables`, which the load could never satisfy.
pub fn fit(tables: &[Table], options: &FitOptions) -> Result<Fitted, String> {
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    for kept in &options.keep_values {
        let known = kept.rsplit_once('.').is_some_and(|(table, column)| {
            tables
                .iter()
                .any(|t| t.name == table && t.columns.iter().any(|c| c.name == column))
        });
        if !known {
            return Err(format!(
                "--keep-values names {kept:?}, which is no column of the tables fitted; name a column as the file names its table: {}",
                tables
                    .iter()
                    .filter_map(|t| t.columns.first().map(|c| format!("{}.{}", t.name, c.name)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let mut links: BTreeMap<String, Vec<Link>> = BTreeMap::new();
    // Key columns no generator can fill consistently: `table` → (column, why).
    let mut unkeyed: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for table in tables {
        let mut own = Vec::new();
        for key in &table.foreign_keys {
            let target = tables.iter().find(|t| t.oid == key.to_oid);
            let nullable = key.columns.iter().all(|name| {
                table
                    .columns
                    .iter()
                    .any(|column| column.name == *name && !column.not_null)
            });
            if target.is_none() && nullable {
                for column in &key.columns {
                    unkeyed.entry(table.name.clone()).or_default().push((
                        column.clone(),
                        format!(
                            "it references {}, which --tables leaves out: NULL here (add that table to fit the key)",
                            key.to_table
                        ),
                    ));
                }
                continue;
            }
            let Some(target) = target else {
                return Err(format!(
                    "{}.{} references {} (foreign key {}), which --tables leaves out: add it, as the load restores the foreign key and its rows must exist",
                    table.name,
                    key.columns.join(", "),
                    key.to_table,
                    key.name
                ));
            };
            match (key.columns.as_slice(), key.to_columns.as_slice()) {
                _ if target.name == table.name => {
                    for column in &key.columns {
                        unkeyed.entry(table.name.clone()).or_default().push((
                            column.clone(),
                            format!("it references its own table ({}): a dataset generates a table in one pass and cannot point its rows at each other, so it is NULL in every row", key.name),
                        ));
                    }
                }
                ([column], [to_column]) => own.push(Link {
                    skewed: false,
                    nullable,
                    column: column.clone(),
                    to_table: target.name.clone(),
                    to_column: to_column.clone(),
                }),
                _ => {
                    for column in &key.columns {
                        unkeyed.entry(table.name.clone()).or_default().push((
                            column.clone(),
                            format!("part of the multi-column foreign key {} to {}: columns generated one by one would not match a row; reference one column and copy the others (`copy` with `via`)", key.name, target.name),
                        ));
                    }
                }
            }
        }
        links.insert(table.name.clone(), own);
    }
    let order = loop {
        match foreign_key_order(&names, &links) {
            Ok(order) => break order,
            Err(cycle) => {
                // Break the cycle at a key that may be NULL: that column is left out.
                let Some((table, index)) = cycle.iter().find_map(|table| {
                    links[table]
                        .iter()
                        .position(|link| link.nullable && cycle.contains(&link.to_table))
                        .map(|index| (table.clone(), index))
                }) else {
                    return Err(format!(
                        "the foreign keys among {} form a cycle and every key in it is NOT NULL: no order can generate them; fit them without one of those tables",
                        cycle.join(", ")
                    ));
                };
                let link = links
                    .get_mut(&table)
                    .expect("a table of the cycle")
                    .remove(index);
                unkeyed.entry(table).or_default().push((
                    link.column.clone(),
                    format!(
                        "it references {}, and the foreign keys form a cycle this key breaks: NULL here",
                        link.to_table
                    ),
                ));
            }
        }
    };
    let mut by_name: BTreeMap<&str, &Table> = tables.iter().map(|t| (t.name.as_str(), t)).collect();
    let ordered: Vec<&Table> = order
        .iter()
        .map(|name| {
            by_name
                .remove(name.as_str())
                .expect("ordered names are tables")
        })
        .collect();

    let as_of = as_of(tables);
    let as_of_time = DateTime::parse_from_rfc3339(&as_of)
        .expect("as_of is RFC 3339")
        .with_timezone(&Utc);
    let parents = choose_parents(&ordered, &links);

    // Columns other tables' keys point at: generated even when the server would
    // number them, since the referencing rows need their values.
    let referenced: Vec<(String, String)> = links
        .values()
        .flatten()
        .map(|link| (link.to_table.clone(), link.to_column.clone()))
        .collect();
    let mut fitted: Vec<FittedTable> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    for table in &ordered {
        let own_links = &links[&table.name];
        let parent_link = parents.get(&table.name);
        let mut columns = Vec::new();
        let mut left_out = Vec::new();
        let forced = composite_key_columns(table, own_links);
        for column in &table.columns {
            let mut column = column.clone();
            if forced.contains(&column.name) {
                column.unique = true;
            }
            let column = &column;
            let is_referenced = referenced
                .iter()
                .any(|(t, c)| *t == table.name && *c == column.name);
            if column.identity && is_referenced {
                columns.push(FittedColumn {
                    name: column.name.clone(),
                    generator: "sequence".into(),
                    note: "an identity key other tables reference: numbered here (COPY writes it; the server's identity sequence is not advanced, so setval it before inserting more rows)".into(),
                });
                continue;
            }
            if let Some((_, why)) = unkeyed
                .get(&table.name)
                .and_then(|columns| columns.iter().find(|(name, _)| *name == column.name))
            {
                left_out.push((column.name.clone(), why.clone()));
                continue;
            }
            let link = own_links.iter().find(|link| link.column == column.name);
            let target_rows = link
                .and_then(|link| ordered.iter().find(|t| t.name == link.to_table))
                .map(|t| t.rows);
            match fit_column(table, column, link, parent_link, target_rows, options) {
                Ok(mut generator) => {
                    if forced.contains(&column.name) {
                        generator
                            .note
                            .push_str("; made unique: it keeps a key of several columns unique");
                    }
                    columns.push(generator)
                }
                Err(reason) => left_out.push((column.name.clone(), reason)),
            }
        }
        for (column, reason) in &left_out {
            let facts = table.columns.iter().find(|c| c.name == *column);
            if facts.is_some_and(|c| c.not_null && !c.has_default && !c.identity && !c.generated) {
                warnings.push(format!(
                    "{}.{} is NOT NULL and left out ({reason}): the file does not load until you give it a generator, or drop NOT NULL in the schema plancheck loads",
                    table.name, column
                ));
            }
        }
        let mut notes = vec![format!(
            "Fitted from pg_class.reltuples = {} and pg_stats (analyzed {}).",
            table.rows.round(),
            table.analyzed
        )];
        if table.rows < 0.5 {
            notes.push(
                "The table was empty when analyzed: rows = 1, the least a dataset can say.".into(),
            );
        }
        let write_order = write_order(table, &mut columns, &as_of_time, &mut notes);
        notes.extend(table.indexes.iter().map(|index| format!("  {index}")));
        fitted.push(FittedTable {
            name: table.name.clone(),
            notes,
            rows: (table.rows.round() as u64).max(1),
            parent: parent_link.map(|link| link.to_table.clone()),
            write_order,
            columns,
            left_out,
            groups: Vec::new(),
        });
    }
    add_groups(&ordered, &parents, &mut fitted);
    let scale_table = ordered
        .iter()
        .max_by(|a, b| a.rows.total_cmp(&b.rows))
        .map(|t| t.name.clone())
        .unwrap_or_default();
    Ok(Fitted {
        as_of,
        scale_table,
        seed: options.seed,
        schema: options.schema.clone(),
        tables: fitted,
        anonymized: options.anonymize,
        warnings,
    })
}

/// Tables in foreign-key order (a referenced table before the tables referring to
/// it), otherwise in the order named; or the tables a cycle leaves unplaced.
fn foreign_key_order(
    names: &[&str],
    links: &BTreeMap<String, Vec<Link>>,
) -> Result<Vec<String>, Vec<String>> {
    let mut placed: Vec<String> = Vec::new();
    while placed.len() < names.len() {
        let next = names.iter().find(|name| {
            !placed.iter().any(|p| p == *name)
                && links[**name]
                    .iter()
                    .all(|link| placed.contains(&link.to_table))
        });
        match next {
            Some(name) => placed.push((*name).to_owned()),
            None => {
                return Err(names
                    .iter()
                    .filter(|name| !placed.iter().any(|p| p == *name))
                    .map(|name| (*name).to_owned())
                    .collect());
            }
        }
    }
    Ok(placed)
}

/// The share of non-NULL rows each most common value holds, and the average share
/// of the other distinct values.
struct Skew {
    /// `(value, share of all rows)`, most frequent first.
    common: Vec<(String, f64)>,
    /// Estimated distinct values.
    distinct: f64,
    /// Share of all rows not NULL and not among the common values.
    rest: f64,
}

impl Skew {
    fn of(stats: &ColumnStats, rows: f64) -> Skew {
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
    fn average(&self) -> f64 {
        let others = self.distinct - self.common.len() as f64;
        if others >= 1.0 && self.rest > 0.0 {
            self.rest / others
        } else {
            1.0 / self.distinct.max(1.0)
        }
    }

    fn heavy(&self) -> Vec<(String, f64)> {
        let average = self.average();
        self.common
            .iter()
            .filter(|(_, share)| *share >= HEAVY_SHARE && *share >= HEAVY_TIMES_AVERAGE * average)
            .cloned()
            .collect()
    }
}

/// `n_distinct` as a count.
fn distinct(stats: &ColumnStats, rows: f64) -> f64 {
    if stats.n_distinct < 0.0 {
        -stats.n_distinct * rows
    } else {
        stats.n_distinct
    }
}

/// For each table, the foreign key that makes it a child: the one whose column is the
/// most skewed, when its most common value is well above the average and the
/// referenced table is a root (groups live on root tables). Other keys stay
/// `reference` columns.
fn choose_parents(
    ordered: &[&Table],
    links: &BTreeMap<String, Vec<Link>>,
) -> BTreeMap<String, Link> {
    let mut parents: BTreeMap<String, Link> = BTreeMap::new();
    for table in ordered {
        let skewed = links[&table.name]
            .iter()
            .filter(|link| !parents.contains_key(&link.to_table))
            .filter_map(|link| {
                let stats = column(table, &link.column)?.stats.as_ref()?;
                let skew = Skew::of(stats, table.rows);
                let (_, top) = skew.common.first()?;
                (*top >= PARENT_TIMES_AVERAGE * skew.average()).then_some((link, *top))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        // Without skew, a key that reaches (nearly) every referenced row, and a table
        // with at least as many rows as the one referenced: a child spread evenly, so
        // that no parent is left without children as random picks would leave some.
        let covering = || {
            links[&table.name].iter().find(|link| {
                let Some(stats) = column(table, &link.column).and_then(|c| c.stats.as_ref()) else {
                    return false;
                };
                let Some(target) = ordered.iter().find(|t| t.name == link.to_table) else {
                    return false;
                };
                stats.null_frac == 0.0
                    && table.rows >= target.rows
                    && distinct(stats, table.rows) >= COVERING_SHARE * target.rows
            })
        };
        if let Some((link, _)) = skewed {
            parents.insert(
                table.name.clone(),
                Link {
                    skewed: true,
                    ..link.clone()
                },
            );
        } else if let Some(link) = covering() {
            parents.insert(table.name.clone(), link.clone());
        }
    }
    parents
}

fn column<'a>(table: &'a Table, name: &str) -> Option<&'a ColumnFacts> {
    table.columns.iter().find(|column| column.name == name)
}

/// Groups on each parent table: its heavy values one by one, then the tiers of its
/// largest child's key column (common values, the rarer rest, parents with no
/// children), each with its share of that child's rows; other children of the same
/// parent get the shares their own statistics give the heavy parents.
fn add_groups(ordered: &[&Table], parents: &BTreeMap<String, Link>, fitted: &mut [FittedTable]) {
    let mut children_of: BTreeMap<&str, Vec<&Table>> = BTreeMap::new();
    for table in ordered {
        if let Some(link) = parents.get(&table.name)
            && link.skewed
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
        let parent_rows = (parent.rows.round() as u64).max(1);
        let main = children[0];
        let link = &parents[&main.name];
        let Some(stats) = column(main, &link.column).and_then(|c| c.stats.as_ref()) else {
            continue;
        };
        let skew = Skew::of(stats, main.rows);
        // Few listed values each get a group of their own (four currencies keep their
        // four shares); many get groups for the heavy ones and bands for the rest.
        let heavy = match skew.common.len() <= INDIVIDUAL_GROUPS {
            true => skew.common.clone(),
            false => skew.heavy(),
        };
        let non_null = (1.0 - stats.null_frac).max(f64::EPSILON);
        let mut groups: Vec<FittedGroup> = Vec::new();
        for (index, (value, share)) in heavy.iter().enumerate() {
            let mut children_rows = vec![(main.name.clone(), ChildRows::Share(share / non_null))];
            for other in &children[1..] {
                let other_link = &parents[&other.name];
                let other_share = column(other, &other_link.column)
                    .and_then(|c| c.stats.as_ref())
                    .and_then(|s| {
                        let skew = Skew::of(s, other.rows);
                        let non_null = (1.0 - s.null_frac).max(f64::EPSILON);
                        skew.common
                            .iter()
                            .find(|(v, _)| v == value)
                            .map(|(_, f)| f / non_null)
                    });
                if let Some(other_share) = other_share {
                    children_rows.push((other.name.clone(), ChildRows::Share(other_share)));
                }
            }
            groups.push(FittedGroup {
                name: format!("top_{}", index + 1),
                note: format!(
                    "{}.{}: one value holds {} of the rows",
                    main.name,
                    link.column,
                    percent(*share)
                ),
                size: GroupSize::Rows(1),
                children: children_rows,
            });
        }
        let heavy_share: f64 = heavy.iter().map(|(_, s)| s).sum();
        let common: Vec<&(String, f64)> = skew.common.iter().skip(heavy.len()).collect();
        // Values not listed hold the rest of the rows; with no rest left they hold none.
        let others = match skew.rest > 1e-9 {
            true => (skew.distinct - skew.common.len() as f64).round().max(0.0) as u64,
            false => 0,
        };
        let with_children = heavy.len() as u64 + common.len() as u64 + others;
        let childless = parent_rows.saturating_sub(with_children);
        let mut tiers: Vec<(String, u64, f64, String)> = Vec::new();
        let bands = bands(&common);
        for (index, band) in bands.iter().enumerate() {
            let share: f64 = band.iter().map(|(_, s)| s).sum();
            tiers.push((
                match bands.len() {
                    1 => "common".into(),
                    _ => format!("common_{}", index + 1),
                },
                band.len() as u64,
                share,
                format!(
                    "{} more of the most common values of {}.{}: {} of the rows, {} to {} each",
                    band.len(),
                    main.name,
                    link.column,
                    percent(share),
                    percent(band.last().map(|c| c.1).unwrap_or_default()),
                    percent(band.first().map(|c| c.1).unwrap_or_default())
                ),
            ));
        }
        if others > 0 && skew.rest > 0.0 {
            tiers.push((
                "rare".into(),
                others,
                skew.rest,
                format!(
                    "the other {} values of {}.{}: {} of the rows, about {} each",
                    others,
                    main.name,
                    link.column,
                    percent(skew.rest),
                    percent(skew.rest / others as f64)
                ),
            ));
        }
        let total_share = heavy_share + tiers.iter().map(|t| t.2).sum::<f64>();
        // The largest tier scales with --scale; the others keep their row counts.
        let largest = tiers
            .iter()
            .chain(std::iter::once(&(
                String::new(),
                childless,
                0.0,
                String::new(),
            )))
            .map(|t| t.1)
            .max()
            .unwrap_or(0);
        let mut scaled_taken = false;
        for (name, rows, share, note) in &tiers {
            let size = if *rows == largest && !scaled_taken {
                scaled_taken = true;
                GroupSize::Share(1.0)
            } else {
                GroupSize::Rows(*rows)
            };
            groups.push(FittedGroup {
                name: name.clone(),
                note: note.clone(),
                size,
                children: vec![(
                    main.name.clone(),
                    ChildRows::Share(share / total_share.max(f64::EPSILON)),
                )],
            });
        }
        if childless > 0 {
            groups.push(FittedGroup {
                name: "childless".into(),
                note: format!(
                    "{} has {} rows and {}.{} about {} distinct values: the rest have no {}",
                    parent.name, parent_rows, main.name, link.column, with_children, main.name
                ),
                size: if scaled_taken {
                    GroupSize::Rows(childless)
                } else {
                    GroupSize::Share(1.0)
                },
                children: vec![(main.name.clone(), ChildRows::Count(0))],
            });
        }
        // Heavy groups' shares were of the non-NULL rows already; the tiers' were
        // normalised to what is left; rescale the heavy ones the same way.
        for group in groups.iter_mut().take(heavy.len()) {
            if let Some((_, ChildRows::Share(share))) = group.children.first_mut() {
                *share = (*share * non_null / total_share.max(f64::EPSILON)).min(1.0);
            }
        }
        settle_shares(&mut groups, &main.name);
        if let Some(target) = fitted.iter_mut().find(|t| t.name == parent_name) {
            target.groups = groups;
            target.notes.push(format!(
                "Groups: {}.{} is skewed; its parents are grouped by how many rows they have.",
                main.name, link.column
            ));
        }
    }
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
fn settle_shares(groups: &mut [FittedGroup], child: &str) {
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

/// The column's generator, or why it is left out.
fn fit_column(
    table: &Table,
    column: &ColumnFacts,
    link: Option<&Link>,
    parent: Option<&Link>,
    target_rows: Option<f64>,
    options: &FitOptions,
) -> Result<FittedColumn, String> {
    if column.generated {
        return Err("a generated column: the server computes it".into());
    }
    if column.identity {
        return Err("an identity column: the server numbers it".into());
    }
    let Some(stats) = &column.stats else {
        if !column.not_null || column.has_default {
            return Err(
                "no statistics (added since the last ANALYZE?), and it may be NULL or has a default"
                    .into(),
            );
        }
        return Ok(FittedColumn {
            name: column.name.clone(),
            generator: by_type_alone(column),
            note: "no statistics: fitted by its type alone; write its generator by hand".into(),
        });
    };
    let mut note = describe_stats(stats, table.rows);
    let mut generator = if let Some(link) = link {
        let mut reference = inline(&[
            ("kind", "reference".into()),
            ("to", format!("{}.{}", link.to_table, link.to_column).into()),
        ]);
        if let Some(parent) = parent.filter(|p| p.column == link.column) {
            note.push_str(match parent.skewed {
                true => "; the parent key: its skew is in the parent's groups",
                false => "; the parent key: it reaches every parent row, so each gets rows",
            });
        } else {
            let skew = Skew::of(stats, table.rows);
            if let Some(exponent) = zipf_exponent(&skew, target_rows.unwrap_or(skew.distinct)) {
                insert(&mut reference, "pick", "zipf".into());
                insert(&mut reference, "exponent", round(exponent, 2).into());
                note.push_str("; skewed: the most common values fitted as a zipf pick");
            }
        }
        reference
    } else {
        fit_values(table, column, stats, options, &mut note)?
    };
    if stats.null_frac > 0.0 && !column.not_null {
        insert(
            &mut generator,
            "null_fraction",
            round(stats.null_frac, 4).into(),
        );
    }
    Ok(FittedColumn {
        name: column.name.clone(),
        generator,
        note,
    })
}

/// One line on what `pg_stats` says of a column.
fn describe_stats(stats: &ColumnStats, rows: f64) -> String {
    let skew = Skew::of(stats, rows);
    let covered: f64 = skew.common.iter().map(|(_, f)| f).sum();
    let mut parts = vec![format!("~{} distinct", format_count(distinct(stats, rows)))];
    if stats.null_frac > 0.0 {
        parts.push(format!("{} NULL", percent(stats.null_frac)));
    }
    if !skew.common.is_empty() {
        parts.push(format!(
            "{} common values cover {}",
            skew.common.len(),
            percent(covered)
        ));
    }
    if let Some(correlation) = stats.correlation {
        parts.push(format!("correlation {correlation:.2}"));
    }
    parts.push(format!("width {}", stats.avg_width));
    parts.join(", ")
}

fn format_count(count: f64) -> String {
    crate::format::format_count(count.round().max(0.0))
}

fn percent(share: f64) -> String {
    let value = share * 100.0;
    if value >= 10.0 {
        format!("{value:.0}%")
    } else if value >= 0.1 {
        format!("{value:.1}%")
    } else {
        format!("{value:.3}%")
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let factor = 10f64.powi(digits);
    (value * factor).round() / factor
}

/// The exponent of a zipf pick over the referenced table's `candidates` rows whose
/// most frequent value has the share the statistics give it, when a value is heavy at all. Ranks
/// after the first follow the zipf curve, not the statistics: a reference cannot
/// weigh rows one by one.
fn zipf_exponent(skew: &Skew, candidates: f64) -> Option<f64> {
    let (_, top) = skew.heavy().first().cloned()?;
    let values = candidates.round().clamp(2.0, 10_000_000.0) as usize;
    let non_null = skew.rest + skew.common.iter().map(|c| c.1).sum::<f64>();
    let top = top / non_null.max(f64::MIN_POSITIVE);
    let top_share = |exponent: f64| 1.0 / harmonic(values, exponent);
    if top <= top_share(0.0) {
        return None;
    }
    let (mut low, mut high) = (0.0, 8.0);
    for _ in 0..50 {
        let middle = (low + high) / 2.0;
        if top_share(middle) < top {
            low = middle;
        } else {
            high = middle;
        }
    }
    Some(high)
}

/// The generalized harmonic number H(n, s) = Σ k^-s for k in 1..=n: summed for the
/// first thousand terms, the rest by the integral (close for smooth tails).
fn harmonic(n: usize, exponent: f64) -> f64 {
    let exact = n.min(1_000);
    let head: f64 = (1..=exact).map(|k| (k as f64).powf(-exponent)).sum();
    if n <= exact {
        return head;
    }
    let (from, to) = (exact as f64 + 0.5, n as f64 + 0.5);
    let tail = if (exponent - 1.0).abs() < 1e-9 {
        (to / from).ln()
    } else {
        (to.powf(1.0 - exponent) - from.powf(1.0 - exponent)) / (1.0 - exponent)
    };
    head + tail
}

/// The columns to make unique so that each key of several columns stays unique: for a
/// key none of whose columns is unique alone, its last column that is not a foreign
/// key and has a kind that can be numbered (an integer, a uuid, text).
fn composite_key_columns(table: &Table, links: &[Link]) -> Vec<String> {
    let mut forced = Vec::new();
    for key in &table.unique_keys {
        let columns: Vec<&ColumnFacts> =
            key.iter().filter_map(|name| column(table, name)).collect();
        if columns.iter().any(|c| c.unique || forced.contains(&c.name)) {
            continue;
        }
        let numbered = columns.iter().rev().find(|c| {
            !links.iter().any(|link| link.column == c.name)
                && matches!(shape(c), Shape::Int | Shape::Uuid | Shape::Text)
                && !c.is_enum
        });
        if let Some(chosen) = numbered {
            forced.push(chosen.name.clone());
        }
    }
    forced
}

/// The kind of value a column's type takes, as the statistics' text is read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Int,
    Float,
    Instant,
    Bool,
    Uuid,
    Json,
    Text,
    Other,
}

fn shape(column: &ColumnFacts) -> Shape {
    let sql = column.sql_type.as_str();
    match column.category.as_str() {
        _ if matches!(sql, "smallint" | "integer" | "bigint") => Shape::Int,
        "N" => Shape::Float,
        _ if sql.starts_with("timestamp") || sql == "date" => Shape::Instant,
        "B" => Shape::Bool,
        _ if sql == "uuid" => Shape::Uuid,
        _ if sql == "json" || sql == "jsonb" => Shape::Json,
        "S" | "E" => Shape::Text,
        _ => Shape::Other,
    }
}

/// A generator for a column with no statistics, from its type alone.
fn by_type_alone(column: &ColumnFacts) -> toml::Value {
    match shape(column) {
        Shape::Int => inline(&[
            ("kind", "int".into()),
            ("range", toml::Value::Array(vec![1.into(), 1000.into()])),
        ]),
        Shape::Float => inline(&[
            ("kind", "float".into()),
            ("range", toml::Value::Array(vec![0.into(), 1000.into()])),
        ]),
        Shape::Instant => inline(&[
            ("kind", "timestamp".into()),
            ("days_ago", toml::Value::Array(vec![0.into(), 365.into()])),
        ]),
        Shape::Bool => "bool".into(),
        Shape::Uuid => "uuid".into(),
        Shape::Json => inline(&[
            ("kind", "literal".into()),
            ("value", toml::Value::Table(toml::Table::new())),
        ]),
        Shape::Text | Shape::Other => inline(&[("kind", "hex".into()), ("bytes", 8.into())]),
    }
}

/// The generator of a column that is no foreign key.
fn fit_values(
    table: &Table,
    column: &ColumnFacts,
    stats: &ColumnStats,
    options: &FitOptions,
    note: &mut String,
) -> Result<toml::Value, String> {
    let rows = table.rows;
    let skew = Skew::of(stats, rows);
    let non_null = (1.0 - stats.null_frac).max(f64::EPSILON);
    let covered: f64 = skew.common.iter().map(|(_, f)| f).sum::<f64>() / non_null;
    let histogram = stats.histogram.clone().unwrap_or_default();
    let shape = shape(column);
    let width = (stats.avg_width - 1.0).max(1.0);
    let mut rng = stream(options.seed, &table.name, &column.name);
    match shape {
        Shape::Uuid => {
            if column.unique || skew.common.is_empty() || covered < MCV_COVERS_ALL {
                return Ok("uuid".into());
            }
            let values = skew
                .common
                .iter()
                .map(|_| toml::Value::String(crate::datagen::rng::uuid_from(&mut rng).to_string()))
                .collect();
            note.push_str("; its few values are replaced by generated ones");
            Ok(choice(values, &skew.common))
        }
        Shape::Bool => {
            let truth = skew
                .common
                .iter()
                .find(|(value, _)| value == "true" || value == "t")
                .map(|(_, f)| f / non_null)
                .unwrap_or(0.0);
            Ok(inline(&[
                ("kind", "bool".into()),
                ("probability", round(truth, 4).into()),
            ]))
        }
        // Every row its own value (n_distinct near -1) packed in a range about as wide
        // as the rows (an id without a key): numbered too, as draws over the range
        // would repeat a third of them. Sparse values (prices) stay a histogram.
        Shape::Int if column.unique || (stats.n_distinct <= -0.95 && packed(&histogram, rows)) => {
            // Keys far from 1 (ids from a shared sequence) start near their smallest;
            // otherwise at 1, as the histogram's first bound is only a sample's.
            let start = histogram
                .first()
                .and_then(|first| first.parse::<i64>().ok())
                .filter(|first| *first as f64 > 2.0 * rows)
                .unwrap_or(1);
            note.push_str(match column.unique {
                true => "; unique: a sequence",
                false => "; every row its own value: a sequence",
            });
            Ok(inline(&[
                ("kind", "sequence".into()),
                ("start", start.into()),
            ]))
        }
        Shape::Int | Shape::Float | Shape::Instant => {
            let read = |text: &str| read_value(shape, column, text);
            if histogram.len() < 2 || covered >= MCV_COVERS_ALL {
                if skew.common.is_empty() {
                    return Err(match histogram.len() {
                        0 => "no value statistics (every row NULL?)".into(),
                        _ => "a single value in the histogram; write it as a literal".into(),
                    });
                }
                let values = skew
                    .common
                    .iter()
                    .map(|(value, _)| read(value))
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(choice(values, &skew.common));
            }
            let bounds = histogram
                .iter()
                .map(|b| read(b))
                .collect::<Result<Vec<_>, _>>()?;
            let common = skew
                .common
                .iter()
                .map(|(value, share)| Ok((read(value)?, *share)))
                .collect::<Result<Vec<_>, String>>()?;
            Ok(histogram_with_common(&bounds, &common, skew.rest))
        }
        Shape::Json => {
            let bytes = ((width - 10.0) / 2.0).round().clamp(1.0, 1024.0) as i64;
            note.push_str("; documents' structure is not in the statistics: one key of that width");
            Ok(inline(&[
                ("kind", "json".into()),
                (
                    "value",
                    inline(&[(
                        "v",
                        inline(&[("kind", "hex".into()), ("bytes", bytes.into())]),
                    )]),
                ),
            ]))
        }
        Shape::Text => {
            let asked = options
                .keep_values
                .contains(&format!("{}.{}", table.name, column.name));
            let keep = !options.anonymize || column.is_enum || column.checked || asked;
            if options.anonymize && keep && !skew.common.is_empty() {
                note.push_str(if asked {
                    "; values kept (--keep-values)"
                } else if column.is_enum {
                    "; an enum: its labels are the schema's, kept"
                } else {
                    "; a CHECK constraint reads it: its values are the schema's, kept"
                });
            }
            let values: Vec<toml::Value> = skew
                .common
                .iter()
                .map(|(value, _)| {
                    toml::Value::String(match keep {
                        true => value.clone(),
                        false => anonymous_text(&mut rng, value.chars().count()),
                    })
                })
                .collect();
            if !keep && !skew.common.is_empty() {
                note.push_str("; common values replaced by generated ones of the same widths");
            }
            let limit = column.max_length.map(f64::from);
            let width = limit.map_or(width, |limit| width.min(limit));
            if column.unique {
                note.push_str("; unique");
                return unique_text(width, limit, rows);
            }
            let spread = Spread {
                distinct: skew.distinct,
                listed: skew.common.len() as f64,
                others_rows: rows * skew.rest,
                non_null_rows: rows * non_null,
                sampled: (300.0 * f64::from(table.statistics_target) / rows.max(1.0)).min(1.0),
            };
            let others_distinct = (skew.distinct - skew.common.len() as f64).max(0.0);
            if skew.common.is_empty() || covered < 1.0 - MCV_COVERS_ALL {
                return text_of_width(width, limit, &spread);
            }
            let mut generator = choice(values, &skew.common);
            if covered < MCV_COVERS_ALL && others_distinct >= 1.0 {
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
                    &mut generator,
                    "others",
                    text_of_width(
                        limit.map_or(others_width, |limit| others_width.min(limit)),
                        limit,
                        &spread,
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
                    &mut generator,
                    "others_weight",
                    round(skew.rest / top * 1000.0, 3).into(),
                );
            }
            Ok(generator)
        }
        Shape::Other => Err(format!(
            "type {}: no generator gives its values (docs/scenario-format.md 2.8); in the schema plancheck loads, declare it text or let it be NULL",
            column.sql_type
        )),
    }
}

/// What ANALYZE saw of a text column's values: its estimated distinct count, how
/// many of those it listed as most common, the rows holding the others and all
/// non-NULL rows, and the share of the table it sampled.
struct Spread {
    distinct: f64,
    listed: f64,
    others_rows: f64,
    non_null_rows: f64,
    sampled: f64,
}

/// Whether integer histogram bounds span no more than twice `rows` values.
fn packed(histogram: &[String], rows: f64) -> bool {
    let bound = |text: Option<&String>| text.and_then(|t| t.parse::<i64>().ok());
    match (bound(histogram.first()), bound(histogram.last())) {
        (Some(low), Some(high)) => ((high - low) as f64) <= 2.0 * rows,
        _ => false,
    }
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
fn pool_for(spread: &Spread) -> f64 {
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

/// A generated stand-in for a text value: letters of the same length.
fn anonymous_text(rng: &mut SeededRng, length: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    (0..length.max(1))
        .map(|_| LETTERS[rng.random_range(0..LETTERS.len())] as char)
        .collect()
}

/// A statistics value as TOML of the column's kind.
fn read_value(shape: Shape, column: &ColumnFacts, text: &str) -> Result<toml::Value, String> {
    let wrong = || {
        format!(
            "{} value {text:?} does not read as {}",
            column.name, column.sql_type
        )
    };
    match shape {
        Shape::Int => text
            .parse::<i64>()
            .map(toml::Value::from)
            .map_err(|_| wrong()),
        Shape::Float => text
            .parse::<f64>()
            .map(toml::Value::from)
            .map_err(|_| wrong()),
        Shape::Instant => instant(text).map(toml::Value::from).ok_or_else(wrong),
        _ => Ok(text.into()),
    }
}

/// An ISO-style timestamp as `pg_stats` prints it (DateStyle ISO, TimeZone UTC) in
/// RFC 3339.
fn instant(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(with_zone) = DateTime::parse_from_str(&format!("{text}00"), "%Y-%m-%d %H:%M:%S%.f%z")
    {
        return Some(rfc3339(with_zone.with_timezone(&Utc)));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(rfc3339(naive.and_utc()));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|date| rfc3339(date.and_hms_opt(0, 0, 0).expect("midnight").and_utc()))
}

fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A histogram whose bounds are `pg_stats`'s, its buckets sharing `rest` equally,
/// with each common value a zero-width bucket of its own share, inside the bucket
/// that holds it (or before or after the bounds).
fn histogram_with_common(
    bounds: &[toml::Value],
    common: &[(toml::Value, f64)],
    rest: f64,
) -> toml::Value {
    let key = |value: &toml::Value| -> f64 {
        match value {
            toml::Value::Integer(n) => *n as f64,
            toml::Value::Float(f) => *f,
            toml::Value::String(text) => DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp_micros() as f64)
                .unwrap_or(0.0),
            _ => 0.0,
        }
    };
    let buckets = bounds.len() - 1;
    let mut points: Vec<(toml::Value, f64)> = Vec::new();
    let mut weights: Vec<f64> = Vec::new();
    let each = rest / buckets as f64;
    // An integer listed as common but hardly above its bucket's own density per value
    // is a sampling winner, not a spike (a normal column's centre lists a hundred values
    // at 1.6 times their share): its share goes back to its bucket, spread as the
    // bucket's, so no false spikes pull mass to where the sample happened to look.
    let mut extra = vec![0.0; buckets];
    let bucket_of =
        |at: f64| (0..buckets).find(|&b| at >= key(&bounds[b]) && at <= key(&bounds[b + 1]));
    let mut pending: Vec<&(toml::Value, f64)> = Vec::new();
    for value in common {
        let spread = match (&value.0, bucket_of(key(&value.0))) {
            (toml::Value::Integer(_), Some(bucket)) => {
                let width = (key(&bounds[bucket + 1]) - key(&bounds[bucket])).max(1.0);
                (value.1 < SPIKE_TIMES_DENSITY * each / width).then_some(bucket)
            }
            _ => None,
        };
        match spread {
            Some(bucket) => extra[bucket] += value.1,
            None => pending.push(value),
        }
    }
    pending.sort_by(|a, b| key(&a.0).total_cmp(&key(&b.0)));
    let mut pending = pending.into_iter().peekable();
    // Common values below the first bound.
    // After a common value, the rest of its bucket: from the next integer (a bucket
    // holds its lower bound, so restarting at the value would draw it again), or from
    // the value itself for numbers and instants.
    let after = |value: &toml::Value, limit: f64| match value {
        toml::Value::Integer(n) if ((*n + 1) as f64) <= limit => toml::Value::Integer(n + 1),
        other => other.clone(),
    };
    while let Some(value) = pending.next_if(|(v, _)| key(v) < key(&bounds[0])) {
        push_point(&mut points, &mut weights, value.0.clone(), value.1);
        push_point(
            &mut points,
            &mut weights,
            after(&value.0, key(&bounds[0])),
            0.0,
        );
    }
    for bucket in 0..buckets {
        let (low, high) = (&bounds[bucket], &bounds[bucket + 1]);
        let each = each + extra[bucket];
        push_point(&mut points, &mut weights, low.clone(), 0.0);
        let (low_key, high_key) = (key(low), key(high));
        let span = (high_key - low_key).max(f64::MIN_POSITIVE);
        let mut from = low_key;
        let last = bucket + 1 == buckets;
        while let Some(value) =
            pending.next_if(|(v, _)| key(v) < high_key || (last && key(v) <= high_key))
        {
            let at = key(&value.0);
            // The part of the bucket before the value, then the value alone.
            set_last_weight(&mut weights, each * (at - from) / span);
            push_point(&mut points, &mut weights, value.0.clone(), value.1);
            let rest = after(&value.0, high_key);
            from = key(&rest);
            push_point(&mut points, &mut weights, rest, 0.0);
        }
        set_last_weight(&mut weights, each * (high_key - from) / span);
    }
    push_point(&mut points, &mut weights, bounds[buckets].clone(), 0.0);
    for value in pending {
        push_point(&mut points, &mut weights, value.0.clone(), value.1);
        push_point(
            &mut points,
            &mut weights,
            after(&value.0, f64::INFINITY),
            0.0,
        );
    }
    // `weights[i]` is the bucket from points[i] to points[i + 1].
    weights.pop();
    let values: Vec<toml::Value> = points.into_iter().map(|p| p.0).collect();
    let scale = weights
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut generator = inline(&[
        ("kind", "histogram".into()),
        ("bounds", toml::Value::Array(values)),
    ]);
    if !common.is_empty() {
        let weights = weights
            .iter()
            .map(|w| toml::Value::from(round(w / scale * 1000.0, 3)))
            .collect();
        insert(&mut generator, "weights", toml::Value::Array(weights));
    }
    generator
}

/// Appends a bound, whose bucket (to the next bound) has `weight` for now; a bound
/// equal to the last one, whose bucket is still empty, only sets that bucket's weight.
fn push_point(
    points: &mut Vec<(toml::Value, f64)>,
    weights: &mut Vec<f64>,
    value: toml::Value,
    weight: f64,
) {
    if points.last().is_some_and(|last| last.0 == value) && weights.last() == Some(&0.0) {
        *weights.last_mut().expect("a weight per point") = weight;
        return;
    }
    points.push((value, weight));
    weights.push(weight);
}

fn set_last_weight(weights: &mut [f64], weight: f64) {
    if let Some(last) = weights.last_mut() {
        *last += weight;
    }
}

/// A weighted `choice` of `values`, weights from the statistics' shares.
fn choice(values: Vec<toml::Value>, common: &[(String, f64)]) -> toml::Value {
    let scale = common
        .iter()
        .map(|c| c.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let weights = common
        .iter()
        .map(|(_, share)| toml::Value::from(round(share / scale * 1000.0, 3)))
        .collect();
    inline(&[
        ("kind", "choice".into()),
        ("values", toml::Value::Array(values)),
        ("weights", toml::Value::Array(weights)),
    ])
}

/// The heap order: `sorted` by a timestamp whose correlation is near 1 (its generator
/// becomes the window `sorted_by` needs), else `scattered`, with a note naming the
/// columns the heap followed in part, which no write order reproduces.
fn write_order(
    table: &Table,
    columns: &mut [FittedColumn],
    as_of: &DateTime<Utc>,
    notes: &mut Vec<String>,
) -> (&'static str, Option<String>) {
    let correlated = table
        .columns
        .iter()
        .filter(|column| shape(column) == Shape::Instant && !column.unique)
        .filter_map(|column| Some((column, column.stats.as_ref()?.correlation?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((column, correlation)) = correlated
        && correlation >= SORTED_CORRELATION
        && let Some(fitted) = columns.iter_mut().find(|c| c.name == column.name)
        && let Some(window) = window_of(column.stats.as_ref(), as_of)
    {
        fitted.generator = window;
        fitted.note.push_str(
            "; the heap follows it: a window (sorted_by needs one), its spread from the histogram",
        );
        return ("sorted", Some(column.name.clone()));
    }
    // Scattered, the heap follows no column. A column of few values correlates with
    // anything through its ties, and a numbered key follows any write order: neither
    // says what the order was. Say what else followed the heap, as it is lost.
    let followed: Vec<String> = table
        .columns
        .iter()
        .filter(|column| !(column.identity || column.unique && shape(column) == Shape::Int))
        .filter_map(|column| {
            let stats = column.stats.as_ref()?;
            let correlation = stats.correlation?;
            (distinct(stats, table.rows) >= ORDERING_DISTINCT
                && correlation.abs() >= FOLLOWED_CORRELATION)
                .then(|| format!("{} ({correlation:.2})", column.name))
        })
        .collect();
    if !followed.is_empty() {
        notes.push(format!(
            "The heap partly follows {}: only an ascending timestamp at 0.9 or more can be written (sorted); this is written scattered, and index walks on those columns will cost more than in production.",
            followed.join(", ")
        ));
    }
    ("scattered", None)
}

/// A `days_ago` window spanning a timestamp column's histogram, `recent` or `old`
/// when most of its buckets sit in one half.
fn window_of(stats: Option<&ColumnStats>, as_of: &DateTime<Utc>) -> Option<toml::Value> {
    let bounds: Vec<DateTime<Utc>> = stats?
        .histogram
        .as_ref()?
        .iter()
        .filter_map(|b| instant(b))
        .filter_map(|b| DateTime::parse_from_rfc3339(&b).ok())
        .map(|b| b.with_timezone(&Utc))
        .collect();
    let (first, last) = (*bounds.first()?, *bounds.last()?);
    let days = |t: DateTime<Utc>| (*as_of - t).num_seconds() as f64 / 86_400.0;
    let (recent, oldest) = (days(last).max(0.0), days(first));
    if oldest <= recent {
        return None;
    }
    let middle = first + (last - first) / 2;
    let recent_half = bounds.iter().filter(|b| **b >= middle).count() as f64 / bounds.len() as f64;
    let mut window = inline(&[
        ("kind", "timestamp".into()),
        (
            "days_ago",
            toml::Value::Array(vec![round(recent, 3).into(), round(oldest, 3).into()]),
        ),
    ]);
    if recent_half > 0.65 {
        insert(&mut window, "spread", "recent".into());
    } else if recent_half < 0.35 {
        insert(&mut window, "spread", "old".into());
    }
    Some(window)
}

/// `as_of`: the day after the latest instant any timestamp histogram holds, so that
/// windows count back from the data's own "now"; or a fixed day with none.
fn as_of(tables: &[Table]) -> String {
    let latest = tables
        .iter()
        .flat_map(|table| &table.columns)
        .filter(|column| shape(column) == Shape::Instant)
        .filter_map(|column| column.stats.as_ref()?.histogram.as_ref()?.last().cloned())
        .filter_map(|text| instant(&text))
        .filter_map(|text| DateTime::parse_from_rfc3339(&text).ok())
        .map(|t| t.with_timezone(&Utc))
        .max();
    match latest {
        Some(latest) => rfc3339(
            (latest.date_naive() + chrono::Days::new(1))
                .and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc(),
        ),
        None => "2026-01-01T00:00:00Z".into(),
    }
}

/// An inline table with keys in the order given.
fn inline(entries: &[(&str, toml::Value)]) -> toml::Value {
    toml::Value::Table(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn insert(generator: &mut toml::Value, key: &str, value: toml::Value) {
    if let toml::Value::String(kind) = generator {
        *generator = inline(&[("kind", kind.clone().into())]);
    }
    if let toml::Value::Table(table) = generator {
        table.insert(key.to_owned(), value);
    }
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

    #[test]
    fn timestamps_read_in_every_form_pg_stats_prints() {
        assert_eq!(
            instant("2026-05-31 12:00:01.5+00").unwrap(),
            "2026-05-31T12:00:01.500Z"
        );
        assert_eq!(
            instant("2026-05-31 12:00:01").unwrap(),
            "2026-05-31T12:00:01Z"
        );
        assert_eq!(instant("2026-05-31").unwrap(), "2026-05-31T00:00:00Z");
    }

    #[test]
    fn common_values_become_buckets_of_their_own_inside_the_histogram() {
        let bounds: Vec<toml::Value> = vec![0.into(), 10.into(), 20.into()];
        let common = vec![(toml::Value::from(5), 0.5)];
        let generator = histogram_with_common(&bounds, &common, 0.5);
        assert_eq!(
            generator.to_string(),
            "{ kind = \"histogram\", bounds = [0, 5, 6, 10, 20], weights = [250.0, 1000.0, 200.0, 500.0] }"
        );
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

    fn facts(name: &str, sql_type: &str, category: &str, stats: ColumnStats) -> ColumnFacts {
        ColumnFacts {
            name: name.into(),
            sql_type: sql_type.into(),
            category: category.into(),
            max_length: None,
            not_null: true,
            has_default: false,
            identity: false,
            generated: false,
            readable: true,
            is_enum: false,
            checked: false,
            unique: false,
            stats: Some(stats),
        }
    }

    fn stats(
        n_distinct: f64,
        correlation: f64,
        mcv: &[(&str, f64)],
        histogram: &[&str],
    ) -> ColumnStats {
        ColumnStats {
            null_frac: 0.0,
            n_distinct,
            avg_width: 16.0,
            correlation: Some(correlation),
            mcv: (!mcv.is_empty()).then(|| mcv.iter().map(|(v, _)| (*v).to_owned()).collect()),
            mcf: (!mcv.is_empty()).then(|| mcv.iter().map(|(_, f)| *f).collect()),
            histogram: (!histogram.is_empty())
                .then(|| histogram.iter().map(|b| (*b).to_owned()).collect()),
        }
    }

    fn table(
        name: &str,
        rows: f64,
        columns: Vec<ColumnFacts>,
        keys: Vec<super::super::stats::ForeignKey>,
        oid: i64,
    ) -> Table {
        Table {
            name: name.into(),
            oid,
            rows,
            analyzed: "2026-06-01".into(),
            statistics_target: 100,
            columns,
            unique_keys: Vec::new(),
            foreign_keys: keys,
            indexes: Vec::new(),
        }
    }

    fn options() -> FitOptions {
        FitOptions {
            anonymize: false,
            keep_values: Vec::new(),
            schema: vec!["schema.sql".into()],
            seed: 1,
        }
    }

    /// A tenant with 90% of the events becomes a group of one with 90% of them; the
    /// other tenants' bands share the rest, and the shares add up to exactly 1.
    #[test]
    fn a_heavy_tenant_becomes_a_group_and_the_shares_add_up() {
        let tenants = table(
            "tenants",
            100.0,
            vec![{
                let mut id = facts("id", "uuid", "U", stats(-1.0, 0.0, &[], &[]));
                id.unique = true;
                id
            }],
            Vec::new(),
            1,
        );
        let mut common: Vec<(String, f64)> = vec![("t0".into(), 0.9)];
        common.extend((1..60).map(|i| (format!("t{i}"), 0.1 / 59.0)));
        let common: Vec<(&str, f64)> = common.iter().map(|(v, f)| (v.as_str(), *f)).collect();
        let events = table(
            "events",
            1_000_000.0,
            vec![facts(
                "tenant_id",
                "uuid",
                "U",
                stats(80.0, 0.0, &common, &[]),
            )],
            vec![super::super::stats::ForeignKey {
                name: "events_tenant_id_fkey".into(),
                columns: vec!["tenant_id".into()],
                to_oid: 1,
                to_table: "tenants".into(),
                to_columns: vec!["id".into()],
            }],
            2,
        );
        let fitted = fit(&[events, tenants], &options()).unwrap();
        assert_eq!(
            fitted.tables[0].name, "tenants",
            "a referenced table comes first"
        );
        assert_eq!(fitted.tables[1].parent.as_deref(), Some("tenants"));
        let groups = &fitted.tables[0].groups;
        assert_eq!(groups[0].name, "top_1");
        let shares: Vec<f64> = groups
            .iter()
            .flat_map(|g| &g.children)
            .filter_map(|(_, rows)| match rows {
                ChildRows::Share(share) => Some(*share),
                ChildRows::Count(_) => None,
            })
            .collect();
        assert!(
            (shares.iter().sum::<f64>() - 1.0).abs() < 1e-9,
            "{shares:?}"
        );
        assert!((shares[0] - 0.9).abs() < 0.001, "{shares:?}");
        // 60 listed tenants hold every event: of 100 tenants, 40 have none.
        let childless = groups.iter().find(|g| g.name == "childless").unwrap();
        assert!(
            matches!(childless.size, GroupSize::Rows(40)),
            "{childless:?}"
        );
    }

    /// A timestamp the heap follows makes the table `sorted` by it, through a window;
    /// a table whose columns of many values do not follow the heap is `scattered`,
    /// whatever a column of few values says.
    #[test]
    fn correlation_decides_the_write_order() {
        let bounds = [
            "2026-01-01 00:00:00+00",
            "2026-03-01 00:00:00+00",
            "2026-05-01 00:00:00+00",
            "2026-05-31 00:00:00+00",
        ];
        let heap = |correlation: f64| {
            table(
                "log",
                100_000.0,
                vec![
                    facts(
                        "at",
                        "timestamp with time zone",
                        "D",
                        stats(-1.0, correlation, &[], &bounds),
                    ),
                    facts(
                        "level",
                        "text",
                        "S",
                        stats(
                            3.0,
                            0.8,
                            &[("info", 0.9), ("warn", 0.09), ("error", 0.01)],
                            &[],
                        ),
                    ),
                ],
                Vec::new(),
                1,
            )
        };
        let sorted = heap(0.99);
        let fitted = fit(&[sorted], &options()).unwrap();
        let log = &fitted.tables[0];
        assert_eq!(log.write_order, ("sorted", Some("at".to_owned())));
        let at = log.columns.iter().find(|c| c.name == "at").unwrap();
        assert!(
            at.generator.to_string().contains("days_ago"),
            "{}",
            at.generator
        );
        assert_eq!(fitted.as_of, "2026-06-01T00:00:00Z");

        let scattered = heap(0.01);
        assert_eq!(
            fit(&[scattered], &options()).unwrap().tables[0].write_order,
            ("scattered", None)
        );
    }
}
