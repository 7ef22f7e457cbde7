//! Fits a dataset to statistics: each table's rows, each column's generator, the
//! groups that give skewed foreign keys their heavy parents, and the write order. Pure:
//! statistics in, a [`Fitted`] dataset out, which `render` writes as a commented file.
//! One decision a file:
//!
//! - `anonymize`: with `--anonymize`, the statistics' values replaced by stand-ins
//!   before anything is fitted, but those a constraint needs (`literals` reads them);
//! - `links`: foreign keys as links between the tables fitted, and their order;
//! - `skew`: whether a key's most common value is beyond what sampling gives;
//! - `parents`: which key makes a table a child (skewed, or reaching every parent);
//! - `groups`, `child_groups`: the groups that give heavy parents their rows, on a
//!   root table or, through a chain of groups, on a child table;
//! - `columns`, `values`, `text`, `histogram`: each column's generator;
//! - `order`: the write order and the dataset's "now";
//! - `personal`: which copied values look like people's.

mod anonymize;
mod child_groups;
mod columns;
mod groups;
mod histogram;
mod links;
mod literals;
mod order;
mod parents;
mod personal;
mod skew;
mod stand_ins;
mod text;
mod values;

use chrono::{DateTime, Utc};

use super::stats::Table;

/// What the user asked for besides the tables.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Replace every value the statistics list (most common values, histogram bounds)
    /// with generated ones of the same frequencies, widths and places, but those a
    /// constraint needs (enum labels, a CHECK's `IN` list), and withhold the literals
    /// of index definitions.
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
    /// The production values the file holds, by column, and why.
    pub real_values: Vec<RealValues>,
    /// Columns whose copied values look like people's (`people.email (emails)`).
    pub personal: Vec<String>,
    /// What keeps the file from loading as written, for the user to fix.
    pub warnings: Vec<String>,
}

/// Production values a column of the file holds as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct RealValues {
    /// `table.column`, or `table (index definitions)`.
    pub column: String,
    /// The values themselves, when the file names them one by one (`--anonymize`
    /// keeps only a few); otherwise which statistics the column copies.
    pub values: Vec<String>,
    /// Why they are there: `enum labels`, `most common values`, ….
    pub why: String,
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
    /// Which of the statistics' values the generator holds as they are (`most common
    /// values`, `histogram bounds`), if any.
    pub copied: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct FittedGroup {
    pub name: String,
    pub note: String,
    pub size: GroupSize,
    /// Child table only: the group of an ancestor table whose rows' children it takes.
    pub under: Option<String>,
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

/// Fits the dataset. Refuses (with a message naming table and column) a foreign key to
/// a table left out of `tables`, which the load could never satisfy.
pub fn fit(tables: &[Table], options: &FitOptions) -> Result<Fitted, String> {
    check_keep_values(tables, options)?;
    let anonymized = match options.anonymize {
        true => anonymize::anonymized(tables, options),
        false => anonymize::Anonymized::untouched(tables),
    };
    let tables = &anonymized.tables;
    let keys = links::Keys::of(tables)?;
    let ordered = keys.ordered(tables);
    let as_of = order::as_of(tables);
    let as_of_time = DateTime::parse_from_rfc3339(&as_of)
        .expect("as_of is RFC 3339")
        .with_timezone(&Utc);
    let parents = parents::choose(&ordered, &keys.links);
    let mut warnings = Vec::new();
    let mut fitted: Vec<FittedTable> = ordered
        .iter()
        .map(|table| {
            columns::fit_table(table, &keys, &parents, &as_of_time, options, &mut warnings)
        })
        .collect();
    groups::add(&ordered, &parents, &mut fitted);
    child_groups::add(&ordered, &parents, &mut fitted);
    anonymized.annotate(&mut fitted);
    let real_values = match options.anonymize {
        true => written(anonymized.kept.clone(), &fitted),
        false => copied(&fitted)
            .into_iter()
            .chain(index_literals(&ordered))
            .collect(),
    };
    let personal = personal::columns(&real_values, &ordered);
    Ok(Fitted {
        as_of,
        scale_table: ordered
            .iter()
            .max_by(|a, b| a.rows.total_cmp(&b.rows))
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        seed: options.seed,
        schema: options.schema.clone(),
        tables: fitted,
        anonymized: options.anonymize,
        real_values,
        personal,
        warnings,
    })
}

/// Refuses a `--keep-values` entry that names no column of the tables fitted.
fn check_keep_values(tables: &[Table], options: &FitOptions) -> Result<(), String> {
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
    Ok(())
}

/// The values `--anonymize` kept, for the columns the file writes with a generator
/// that holds them.
fn written(kept: Vec<RealValues>, fitted: &[FittedTable]) -> Vec<RealValues> {
    kept.into_iter()
        .filter(|real| copying(fitted, &real.column).is_some())
        .collect()
}

/// Without `--anonymize`: every column whose generator holds the statistics' values.
fn copied(fitted: &[FittedTable]) -> Vec<RealValues> {
    fitted
        .iter()
        .flat_map(|table| {
            table.columns.iter().filter_map(|column| {
                Some(RealValues {
                    column: format!("{}.{}", table.name, column.name),
                    values: Vec::new(),
                    why: column.copied?.to_owned(),
                })
            })
        })
        .collect()
}

/// Without `--anonymize`: the tables whose index definitions, written as comments,
/// hold literals (a partial index's `WHERE email <> '…'`), which may be rows' values.
fn index_literals(tables: &[&Table]) -> Vec<RealValues> {
    tables
        .iter()
        .filter(|table| {
            table
                .indexes
                .iter()
                .any(|index| literals::withheld(index) != *index)
        })
        .map(|table| RealValues {
            column: format!("{} (index definitions)", table.name),
            values: Vec::new(),
            why: "their literals, as the catalog prints them".into(),
        })
        .collect()
}

/// What the generator of `table.column` copies, if it is written at all.
fn copying(fitted: &[FittedTable], qualified: &str) -> Option<&'static str> {
    let (table, column) = qualified.rsplit_once('.')?;
    fitted
        .iter()
        .find(|t| t.name == table)?
        .columns
        .iter()
        .find(|c| c.name == column)?
        .copied
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

#[cfg(test)]
mod tests {
    use super::super::stats::{ColumnFacts, ColumnStats, ForeignKey};
    use super::*;

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
        keys: Vec<ForeignKey>,
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
            checks: Vec::new(),
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
            vec![ForeignKey {
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

    fn key(name: &str, column: &str, to: &str, to_oid: i64) -> ForeignKey {
        ForeignKey {
            name: name.into(),
            columns: vec![column.into()],
            to_oid,
            to_table: to.into(),
            to_columns: vec!["id".into()],
        }
    }

    fn id() -> ColumnFacts {
        let mut id = facts(
            "id",
            "bigint",
            "N",
            stats(-1.0, 0.0, &[], &["1", "1000000"]),
        );
        id.unique = true;
        id
    }

    /// Four levels: 20 orgs, 200 teams and 2,000 boards spread by uniform keys (whose
    /// top values are sampling's), and a million tickets of which one board holds half.
    /// The uniform keys make even children; the board's half is reached by groups of
    /// one row from orgs down, whose shares multiply to the half.
    #[test]
    fn a_heavy_value_of_a_key_to_a_child_table_is_reached_from_the_root() {
        let orgs = table("orgs", 20.0, vec![id()], Vec::new(), 1);
        let uniform = |column: &str, distinct: f64, top: f64| {
            facts(
                column,
                "bigint",
                "N",
                stats(distinct, 0.0, &[("1", top)], &[]),
            )
        };
        let teams = table(
            "teams",
            200.0,
            vec![id(), uniform("org_id", 20.0, 0.08)],
            vec![key("teams_org", "org_id", "orgs", 1)],
            2,
        );
        let boards = table(
            "boards",
            2_000.0,
            vec![id(), uniform("team_id", 200.0, 0.011)],
            vec![key("boards_team", "team_id", "teams", 2)],
            3,
        );
        let tickets = table(
            "tickets",
            1_000_000.0,
            vec![id(), {
                let common = [("7", 0.5), ("8", 0.0004), ("9", 0.0004)];
                facts("board_id", "bigint", "N", stats(2_000.0, 0.0, &common, &[]))
            }],
            vec![key("tickets_board", "board_id", "boards", 3)],
            4,
        );
        let fitted = fit(&[tickets, boards, teams, orgs], &options()).unwrap();
        let table = |name: &str| fitted.tables.iter().find(|t| t.name == name).unwrap();
        assert_eq!(table("teams").parent.as_deref(), Some("orgs"));
        assert_eq!(table("boards").parent.as_deref(), Some("teams"));
        assert_eq!(table("tickets").parent.as_deref(), Some("boards"));
        let chain = [
            ("orgs", "holds_top_1", None),
            ("teams", "holds_top_1_at_1", Some("holds_top_1")),
            ("boards", "top_1", Some("holds_top_1_at_1")),
        ];
        let mut share = 1.0;
        for (name, group, under) in chain {
            let group = table(name).groups.iter().find(|g| g.name == group).unwrap();
            assert_eq!(group.under.as_deref(), under, "{group:?}");
            assert!(matches!(group.size, GroupSize::Rows(1)), "{group:?}");
            match group.children[..] {
                [(ref child, ChildRows::Share(of))] if child == "tickets" => share *= of,
                _ => panic!("{group:?}"),
            }
        }
        assert!(
            (share - 0.5).abs() < 1e-4,
            "the chain gives the board {share}"
        );
        // The org holding the board has its 99 other boards' average rows too.
        let held = match table("orgs").groups[0].children[0].1 {
            ChildRows::Share(held) => held,
            ChildRows::Count(_) => panic!(),
        };
        assert!((held - (0.5 + 99.0 * 0.5 / 1_999.0)).abs() < 1e-4, "{held}");
        assert!(table("orgs").groups.iter().any(|g| g.name == "others"));
    }
}
