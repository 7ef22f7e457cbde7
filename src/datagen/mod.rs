//! Stage 4: generate data. Pure: a checked dataset model in, rows out, no database.
//! Tables are generated in declaration order; a table that later tables read (a
//! parent, a referenced or copied table) is kept in memory, but only its parent links
//! and the columns something reads. Every other table is streamed one row at a time,
//! so memory stays flat however many rows the big tables get.

pub mod generators;
pub mod layout;
pub mod order;
pub mod rng;

use chrono::{DateTime, Utc};
use rand::RngExt;

use generators::timestamp::Window;
use generators::{Generator, Materialized, RowContext, TableSignature};
use layout::{ChildCount, CountSpec, Split};

use crate::value::Value;
use order::{Emission, Slot, WriteOrder};
use rng::{SeededRng, stream};

/// A validated dataset: what `input` makes of a dataset file.
#[derive(Debug, Clone)]
pub struct DatasetModel {
    pub seed: u64,
    pub as_of: DateTime<Utc>,
    /// The table whose `rows` `--scale` sets; every table's `rows` scale with it.
    pub scale_table: usize,
    pub tables: Vec<TableModel>,
}

/// One table to fill.
#[derive(Debug, Clone)]
pub struct TableModel {
    pub name: String,
    /// Declared rows (before scaling): the root table's size, or a child table's total.
    pub rows: Option<u64>,
    pub parent: Option<usize>,
    pub per_parent: Option<CountSpec>,
    pub split: Split,
    /// Named subsets of the table's rows, in declaration order: blocks of a root
    /// table's rows, or of each parent row's children on a child table.
    pub groups: Vec<GroupModel>,
    /// The tables whose groups label this table's rows: the ancestors that declare
    /// groups and the table itself if it does, root-most first. Each is one *level* of
    /// a row's label path.
    pub grouping: Vec<usize>,
    pub columns: Vec<ColumnModel>,
    pub order: WriteOrder,
    pub shuffle_window: usize,
    pub signature: TableSignature,
    /// Whether later tables read this one (its rows are kept in memory).
    pub materialize: bool,
    /// Per column: whether later tables read it.
    pub keep: Vec<bool>,
}

/// A named subset of a table's rows: a block of a root table's rows, or on a child
/// table a block of each parent row's children (the first `rows`, or a `share`).
#[derive(Debug, Clone)]
pub struct GroupModel {
    pub name: String,
    pub size: GroupSize,
    /// A child table's group applies only to the children of parent rows under this
    /// ancestor table's group: `(table, group label)`.
    pub under: Option<(usize, u16)>,
    /// What the group says about descendant tables: per-parent counts or shares.
    pub children: Vec<(usize, ChildCount)>,
    /// Generators that replace a column's for rows under this group:
    /// `(table, column, replacement)`.
    pub overrides: Vec<(usize, usize, ColumnModel)>,
}

/// How many rows a group has: on a root table, of the table's rows; on a child table,
/// of each parent row's children.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupSize {
    Rows(u64),
    /// A share of the rows after the fixed groups' (on a root table, of its scaled
    /// rows; on a child table, of each parent row's children).
    Share(f64),
}

impl DatasetModel {
    /// The groups that label `table`'s rows, by flat index: every level's groups in
    /// turn, root-most level first, as `(level, group label)`.
    pub fn flat_groups(&self, table: usize) -> Vec<(usize, u16)> {
        self.tables[table]
            .grouping
            .iter()
            .enumerate()
            .flat_map(|(level, by)| {
                (0..self.tables[*by].groups.len() as u16).map(move |label| (level, label))
            })
            .collect()
    }

    /// The group at flat index `group` among `table`'s (see [`DatasetModel::flat_groups`]).
    pub fn flat_group(&self, table: usize, group: u16) -> Option<&GroupModel> {
        let (level, label) = *self.flat_groups(table).get(group as usize)?;
        self.tables[self.tables[table].grouping[level]]
            .groups
            .get(label as usize)
    }

    /// Whether some child table declares groups (the layout then tracks each kept
    /// row's parent, which datasets without them never pay for).
    pub fn has_child_groups(&self) -> bool {
        self.tables
            .iter()
            .any(|table| table.parent.is_some() && !table.groups.is_empty())
    }
}

/// One column's generator with its modifiers.
#[derive(Debug, Clone)]
pub struct ColumnModel {
    pub name: String,
    pub generator: Generator,
    /// Share of rows where the column is NULL.
    pub null_fraction: f64,
    /// The column is NULL unless an earlier column has one of these values.
    pub when: Option<Condition>,
}

/// `when = { column = "state", in = [...] }`.
#[derive(Debug, Clone)]
pub struct Condition {
    pub column: usize,
    pub values: Vec<Value>,
}

/// A row the caller wants the values of: row `index` (0-based, in write order) among
/// the rows of `table` in `group` (or among all rows, without a group).
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub table: usize,
    /// A flat index among the groups that label `table`'s rows
    /// ([`DatasetModel::flat_groups`]).
    pub group: Option<u16>,
    pub index: u64,
}

/// Why the model cannot be generated at this scale.
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutError {
    pub table: String,
    pub message: String,
}

/// Generates a dataset's tables in order. Call [`Datagen::stream`] for each table in
/// turn; a table's stream must be drained before the next is asked for.
pub struct Datagen {
    model: DatasetModel,
    seed: u64,
    counts: Vec<Vec<u64>>,
    /// Label of each slot (parent row, a block of a parent row's children on a table
    /// with groups, or a group of a root table): an index into the table's `paths`.
    slot_labels: Vec<Vec<u16>>,
    /// Per table, the label paths its labels stand for: one group label (or
    /// [`NO_GROUP`]) per level of the table's `grouping`. A root-most group `g` alone
    /// is label `g`, so tables grouped only at one level label rows by group.
    paths: Vec<Vec<Vec<u16>>>,
    /// Per table that declares groups and has a parent, the parent row of each slot
    /// (its slots are blocks of each parent row's children); none elsewhere, where a
    /// slot is the parent row.
    slot_parents: Vec<Option<Vec<u32>>>,
    /// The parent row of each row of kept tables, only when some child table declares
    /// groups (a group's shares are split per ancestor row).
    row_parents: Vec<Vec<u32>>,
    /// Write order of kept tables, computed once: child counts need their labels.
    emissions: Vec<Option<Vec<Slot>>>,
    done: Vec<Materialized>,
    /// Group label of each row of kept tables.
    row_labels: Vec<Vec<u16>>,
    captures: Vec<Capture>,
    captured: Vec<Option<Vec<Value>>>,
}

/// A table's slots as laid out: count and label per slot, the label paths, and the
/// parent row of each slot when slots are blocks of a parent row's children.
type ChildLayout = (Vec<u64>, Vec<u16>, Vec<Vec<u16>>, Option<Vec<u32>>);

/// No group.
pub const NO_GROUP: u16 = u16::MAX;

impl Datagen {
    /// Lays the dataset out at `scale` rows of the scale table: every count, every kept
    /// table's write order. Fails before any row is generated when the scale is too
    /// small for a fixed count or a capture's group would be empty.
    pub fn new(
        model: &DatasetModel,
        scale: u64,
        seed: u64,
        captures: Vec<Capture>,
    ) -> Result<Datagen, LayoutError> {
        let declared = model.tables[model.scale_table].rows.unwrap_or(1).max(1);
        let factor = scale as f64 / declared as f64;
        let mut datagen = Datagen {
            model: model.clone(),
            seed,
            counts: Vec::new(),
            slot_labels: Vec::new(),
            paths: Vec::new(),
            slot_parents: Vec::new(),
            row_parents: Vec::new(),
            emissions: Vec::new(),
            done: Vec::new(),
            row_labels: Vec::new(),
            captured: vec![None; captures.len()],
            captures,
        };
        for index in 0..model.tables.len() {
            datagen.lay_out(index, factor)?;
        }
        for capture in &datagen.captures {
            let rows = datagen.rows_labelled(capture.table, capture.group);
            if capture.index >= rows {
                let table = &model.tables[capture.table];
                let group = capture
                    .group
                    .and_then(|group| model.flat_group(capture.table, group))
                    .map(|group| group.name.clone());
                return Err(LayoutError {
                    table: table.name.clone(),
                    message: match group {
                        Some(group) => format!(
                            "group {group:?} has {rows} rows of {} at this scale; the target needs row {}",
                            table.name, capture.index
                        ),
                        None => format!(
                            "{} has {rows} rows at this scale; the target needs row {}",
                            table.name, capture.index
                        ),
                    },
                });
            }
        }
        datagen.check_sequences()?;
        Ok(datagen)
    }

    /// A `sequence` column must not run past the largest bigint at this scale: its
    /// values would saturate and repeat, and the duplicate would only surface as a
    /// unique-index error far from the generator that caused it.
    fn check_sequences(&self) -> Result<(), LayoutError> {
        for (index, table) in self.model.tables.iter().enumerate() {
            let rows = self.rows_of(index);
            for column in &table.columns {
                let Generator::Sequence(sequence) = &column.generator else {
                    continue;
                };
                if sequence.last(rows).is_none() {
                    return Err(LayoutError {
                        table: table.name.clone(),
                        message: format!(
                            "column {}.{}: a sequence from {} by {} runs past the bigint range within its {rows} rows at this scale; lower `start` or `step`",
                            table.name, column.name, sequence.start, sequence.step
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    fn lay_out(&mut self, index: usize, factor: f64) -> Result<(), LayoutError> {
        let table = &self.model.tables[index];
        let mut rng = stream(self.seed, &table.name, "#counts");
        let fail = |message: String| LayoutError {
            table: table.name.clone(),
            message,
        };
        let (counts, labels, paths, slot_parents) = match table.parent {
            None => {
                let (counts, labels) =
                    layout::root_counts(table, factor, &mut rng).map_err(fail)?;
                let paths = (0..table.groups.len() as u16).map(|g| vec![g]).collect();
                (counts, labels, paths, None)
            }
            Some(parent) => self
                .child_layout(index, parent, factor, &mut rng)
                .map_err(fail)?,
        };
        let emission = table.materialize.then(|| {
            self.emission_with(index, &counts, &labels, &paths)
                .collect::<Vec<Slot>>()
        });
        let row_labels = match &emission {
            Some(slots) => slots
                .iter()
                .map(|(slot, _)| labels[*slot as usize])
                .collect(),
            None => Vec::new(),
        };
        let row_parents = match &emission {
            Some(slots) if self.model.has_child_groups() => slots
                .iter()
                .map(|(slot, _)| {
                    slot_parents
                        .as_ref()
                        .map_or(*slot, |parents: &Vec<u32>| parents[*slot as usize])
                })
                .collect(),
            _ => Vec::new(),
        };
        self.counts.push(counts);
        self.slot_labels.push(labels);
        self.paths.push(paths);
        self.slot_parents.push(slot_parents);
        self.emissions.push(emission);
        self.row_labels.push(row_labels);
        self.row_parents.push(row_parents);
        Ok(())
    }

    /// A child table's slots: its count per parent row (as the parents' groups say,
    /// then shared again within ancestor rows), and, when it declares groups, each
    /// parent row's children in blocks; with each slot's label, the label paths, and
    /// the parent row of each slot when slots are blocks.
    fn child_layout(
        &self,
        index: usize,
        parent: usize,
        factor: f64,
        rng: &mut SeededRng,
    ) -> Result<ChildLayout, String> {
        let table = &self.model.tables[index];
        let labels = self.row_labels[parent].clone();
        // Parents are counted by the group whose count they follow (its flat index
        // among the parent table's groups), not by their label: a root group's share
        // is split among all its parents, whatever groups of child tables they are in
        // too.
        let sources: Vec<Option<(u16, ChildCount)>> = self.paths[parent]
            .iter()
            .map(|path| self.nearest_count(parent, path, index, true))
            .collect();
        let counted_by: Vec<u16> = labels
            .iter()
            .map(|label| match sources.get(*label as usize) {
                Some(Some((group, _))) => *group,
                _ => NO_GROUP,
            })
            .collect();
        let spec_of = |group: u16| {
            sources
                .iter()
                .flatten()
                .find(|(source, _)| *source == group)
                .map(|(_, count)| count.clone())
        };
        let mut counts = layout::child_counts(table, &spec_of, &counted_by, factor, rng)?;
        self.share_within_ancestors(index, &mut counts, &labels)?;
        Ok(if table.groups.is_empty() {
            (counts, labels, self.paths[parent].clone(), None)
        } else {
            let (counts, labels, paths, parents) = self.blocks_of_children(index, &counts, &labels);
            (counts, labels, paths, Some(parents))
        })
    }

    /// What the nearest group on a row's label `path` (of a row of `table`) says of
    /// how many rows `child` gets under it, with that group's flat index among
    /// `table`'s groups ([`DatasetModel::flat_groups`]). With
    /// `global_only`, a child-table group's share is passed over: it only moves rows
    /// among the children of one ancestor row ([`Datagen::share_within_ancestors`]),
    /// after the table's rows were split as the groups above it say.
    fn nearest_count(
        &self,
        table: usize,
        path: &[u16],
        child: usize,
        global_only: bool,
    ) -> Option<(u16, ChildCount)> {
        let levels = &self.model.tables[table].grouping;
        let offset = |level: usize| -> usize {
            levels[..level]
                .iter()
                .map(|by| self.model.tables[*by].groups.len())
                .sum()
        };
        for level in (0..levels.len()).rev() {
            let Some(group) = self.model.tables[levels[level]]
                .groups
                .get(path[level] as usize)
            else {
                continue;
            };
            let Some((_, count)) = group.children.iter().find(|(c, _)| *c == child) else {
                continue;
            };
            let local_share = matches!(count, ChildCount::Share(_))
                && self.model.tables[levels[level]].parent.is_some();
            if global_only && local_share {
                continue;
            }
            return Some(((offset(level) + path[level] as usize) as u16, count.clone()));
        }
        None
    }

    /// The row of `ancestor` each kept row of `table` descends from (itself when
    /// `ancestor` is `table`).
    fn ancestor_rows(&self, table: usize, ancestor: usize) -> Vec<u32> {
        let mut rows: Vec<u32> = (0..self.row_labels[table].len() as u32).collect();
        let mut current = table;
        while current != ancestor {
            let parents = &self.row_parents[current];
            rows.iter_mut()
                .for_each(|row| *row = parents[*row as usize]);
            current = self.model.tables[current]
                .parent
                .expect("validation makes `ancestor` an ancestor");
        }
        rows
    }

    /// Child-table groups' shares of table `index` (which splits `rows`): within each
    /// row of the group's table's parent, the group's rows get their share of the rows
    /// the split gave that ancestor row's subtree, and the others split the rest.
    /// Rows whose nearest group fixes a count at this level or below keep it. Levels go
    /// root-most first, so a deeper group splits again what a shallower one gave.
    fn share_within_ancestors(
        &self,
        index: usize,
        counts: &mut [u64],
        labels: &[u16],
    ) -> Result<(), String> {
        let table = &self.model.tables[index];
        let Some(parent) = table.parent else {
            return Ok(());
        };
        let levels = &self.model.tables[parent].grouping;
        for (level, by) in levels.iter().enumerate() {
            let Some(scope) = self.model.tables[*by].parent else {
                continue;
            };
            let shares: Vec<Option<f64>> = self.model.tables[*by]
                .groups
                .iter()
                .map(|group| {
                    group
                        .children
                        .iter()
                        .find_map(|(child, count)| match count {
                            ChildCount::Share(share) if *child == index => Some(*share),
                            _ => None,
                        })
                })
                .collect();
            if shares.iter().all(Option::is_none) {
                continue;
            }
            let scope_rows = self.ancestor_rows(parent, scope);
            let flat = self.model.flat_groups(parent);
            let nearest: Vec<Option<(usize, ChildCount)>> = self.paths[parent]
                .iter()
                .map(|path| self.nearest_count(parent, path, index, false))
                .map(|found| found.map(|(group, count)| (flat[group as usize].0, count)))
                .collect();
            let mut members: Vec<layout::ShareMember> = Vec::new();
            for (row, label) in labels.iter().enumerate() {
                let path = self.paths[parent].get(*label as usize);
                let fixed_below = matches!(
                    nearest.get(*label as usize),
                    Some(Some((found, ChildCount::PerParent(_)))) if *found >= level
                );
                if fixed_below {
                    continue;
                }
                let group = path.map_or(NO_GROUP, |path| path[level]);
                let set = match shares.get(group as usize) {
                    Some(Some(_)) => group,
                    _ => NO_GROUP,
                };
                members.push((scope_rows[row], set, row as u32));
            }
            layout::split_within_ancestors(counts, &mut members, &shares, table.split).ok_or_else(
                || {
                    format!(
                        "the shares of {} that groups of {} give under one {} row add up to more than 1",
                        table.name, self.model.tables[*by].name, self.model.tables[scope].name
                    )
                },
            )?;
        }
        Ok(())
    }

    /// The slots of child table `index`, which declares groups: each parent row's
    /// children in blocks, one per group that applies to it (in declaration order),
    /// then the rest; with each block's count, label and parent row, and the label
    /// paths.
    fn blocks_of_children(
        &self,
        index: usize,
        counts: &[u64],
        parent_labels: &[u16],
    ) -> (Vec<u64>, Vec<u16>, Vec<Vec<u16>>, Vec<u32>) {
        let table = &self.model.tables[index];
        let parent = table.parent.expect("a child table");
        let parent_levels = &self.model.tables[parent].grouping;
        let width = table.grouping.len();
        let root_groups = self.model.tables[table.grouping[0]].groups.len() as u16;
        let mut paths: Vec<Vec<u16>> = (0..root_groups)
            .map(|g| {
                let mut path = vec![NO_GROUP; width];
                path[0] = g;
                path
            })
            .collect();
        let mut interned: std::collections::HashMap<(u16, u16), u16> =
            std::collections::HashMap::new();
        let (mut block_counts, mut labels, mut parents) = (Vec::new(), Vec::new(), Vec::new());
        let no_path = vec![NO_GROUP; parent_levels.len()];
        for (row, (count, parent_label)) in counts.iter().zip(parent_labels).enumerate() {
            let parent_path = self.paths[parent]
                .get(*parent_label as usize)
                .unwrap_or(&no_path);
            let applies = |group: &GroupModel| {
                group.under.is_none_or(|(under, label)| {
                    parent_levels
                        .iter()
                        .position(|level| *level == under)
                        .is_some_and(|level| parent_path[level] == label)
                })
            };
            let blocks = layout::group_blocks(&table.groups, *count, &applies);
            let rest = count - blocks.iter().sum::<u64>();
            let own = (0..blocks.len() as u16).chain([NO_GROUP]);
            for (group, block) in own.zip(blocks.into_iter().chain([rest])) {
                if block == 0 {
                    continue;
                }
                let label = *interned.entry((*parent_label, group)).or_insert_with(|| {
                    let mut path = parent_path.clone();
                    path.push(group);
                    if path.iter().all(|g| *g == NO_GROUP) {
                        return NO_GROUP;
                    }
                    match paths.iter().position(|known| *known == path) {
                        Some(known) => known as u16,
                        None => {
                            paths.push(path);
                            (paths.len() - 1) as u16
                        }
                    }
                });
                block_counts.push(block);
                labels.push(label);
                parents.push(row as u32);
            }
        }
        (block_counts, labels, paths, parents)
    }

    fn emission(&self, index: usize, counts: &[u64], labels: &[u16]) -> Emission {
        self.emission_with(index, counts, labels, &self.paths[index])
    }

    fn emission_with(
        &self,
        index: usize,
        counts: &[u64],
        labels: &[u16],
        paths: &[Vec<u16>],
    ) -> Emission {
        let table = &self.model.tables[index];
        let windows = match table.order {
            WriteOrder::Sorted { column } => {
                let overrides = self.overrides_with(index, paths);
                let window = |label: &u16| {
                    let model = overrides
                        .get(*label as usize)
                        .and_then(|columns| columns[column].as_ref())
                        .unwrap_or(&table.columns[column]);
                    model.generator.window_of().expect(
                        "validation makes a sorted_by column a window timestamp in every group",
                    )
                };
                Some(labels.iter().map(window).collect())
            }
            _ => None,
        };
        Emission::new(
            &table.order,
            counts.to_vec(),
            windows,
            table.shuffle_window,
            self.seed,
            &table.name,
        )
    }

    /// Rows of `table` at this scale.
    pub fn rows_of(&self, table: usize) -> u64 {
        self.counts[table].iter().sum()
    }

    /// Rows of `table` in `group`, a flat group index (all rows without a group).
    pub fn rows_labelled(&self, table: usize, group: Option<u16>) -> u64 {
        match group {
            None => self.rows_of(table),
            Some(group) => {
                let members = self.labels_in(table, group);
                self.counts[table]
                    .iter()
                    .zip(&self.slot_labels[table])
                    .filter(|(_, label)| members.get(**label as usize) == Some(&true))
                    .map(|(count, _)| count)
                    .sum()
            }
        }
    }

    /// Per label of `table`, whether its rows are in `group` (a flat group index).
    fn labels_in(&self, table: usize, group: u16) -> Vec<bool> {
        let Some((level, label)) = self.model.flat_groups(table).get(group as usize).copied()
        else {
            return Vec::new();
        };
        self.paths[table]
            .iter()
            .map(|path| path[level] == label)
            .collect()
    }

    /// The captured rows, in the order asked for (all present once every table has
    /// been streamed).
    pub fn captured(&self) -> &[Option<Vec<Value>>] {
        &self.captured
    }

    /// The model being generated.
    pub fn model(&self) -> &DatasetModel {
        &self.model
    }

    /// Per label and column of table `index`, the generator its groups put in place
    /// of the table's own.
    fn overrides_of(&self, index: usize) -> Vec<Vec<Option<ColumnModel>>> {
        self.overrides_with(index, &self.paths[index])
    }

    /// [`Datagen::overrides_of`] for the label `paths`: where groups at several levels
    /// of a row's path replace the same column, the nearest (deepest) one wins.
    fn overrides_with(&self, index: usize, paths: &[Vec<u16>]) -> Vec<Vec<Option<ColumnModel>>> {
        let table = &self.model.tables[index];
        paths
            .iter()
            .map(|path| {
                let mut columns = vec![None; table.columns.len()];
                for (level, by) in table.grouping.iter().enumerate() {
                    let Some(group) = self.model.tables[*by].groups.get(path[level] as usize)
                    else {
                        continue;
                    };
                    for (_, column, model) in group.overrides.iter().filter(|(t, _, _)| *t == index)
                    {
                        columns[*column] = Some(model.clone());
                    }
                }
                columns
            })
            .collect()
    }

    /// The rows of table `index`, which must be the next table not yet streamed.
    pub fn stream(&mut self, index: usize) -> TableStream<'_> {
        assert_eq!(
            index,
            self.done.len(),
            "tables are streamed in declaration order"
        );
        let table = self.model.tables[index].clone();
        let labels_known = self.slot_labels[index].clone();
        let emission: Box<dyn Iterator<Item = Slot> + Send> = match self.emissions[index].take() {
            Some(slots) => Box::new(slots.into_iter()),
            None => Box::new(self.emission(index, &self.counts[index].clone(), &labels_known)),
        };
        let mut overrides = self.overrides_of(index);
        let signatures: Vec<TableSignature> = self
            .model
            .tables
            .iter()
            .map(|t| t.signature.clone())
            .collect();
        let mut columns = table.columns.clone();
        for column in columns
            .iter_mut()
            .chain(overrides.iter_mut().flatten().flatten())
        {
            column.generator.prepare(&self.done, &signatures);
        }
        let rngs = table
            .columns
            .iter()
            .map(|column| stream(self.seed, &table.name, &column.name))
            .collect();
        let sorted_column = match table.order {
            WriteOrder::Sorted { column } => Some(column),
            _ => None,
        };
        let width = table.columns.len();
        let capture_members = self
            .captures
            .iter()
            .map(|capture| match capture.group {
                Some(group) if capture.table == index => Some(self.labels_in(index, group)),
                _ => None,
            })
            .collect();
        let slot_parents = self.slot_parents[index].clone();
        TableStream {
            index,
            materialized: Materialized {
                parent: Vec::new(),
                columns: table.keep.iter().map(|keep| keep.then(Vec::new)).collect(),
            },
            labels: labels_known,
            emission,
            columns,
            overrides,
            rngs,
            sorted_column,
            ancestors: vec![u32::MAX; self.model.tables.len()],
            picks: vec![u32::MAX; width],
            capture_members,
            capture_seen: vec![0; self.captures.len()],
            slot_parents,
            row: 0,
            table,
            datagen: self,
            finished: false,
        }
    }
}

impl Generator {
    /// The window of a window timestamp generator.
    fn window_of(&self) -> Option<Window> {
        match self {
            Generator::Timestamp(timestamp) => timestamp.window(),
            _ => None,
        }
    }
}

/// The rows of one table, generated as they are read.
pub struct TableStream<'a> {
    datagen: &'a mut Datagen,
    index: usize,
    table: TableModel,
    materialized: Materialized,
    /// Label of each parent slot.
    labels: Vec<u16>,
    emission: Box<dyn Iterator<Item = Slot> + Send>,
    columns: Vec<ColumnModel>,
    overrides: Vec<Vec<Option<ColumnModel>>>,
    rngs: Vec<SeededRng>,
    sorted_column: Option<usize>,
    ancestors: Vec<u32>,
    picks: Vec<u32>,
    /// Per capture with a group, whether each label's rows are in it.
    capture_members: Vec<Option<Vec<bool>>>,
    /// Per capture, the rows of its group seen so far.
    capture_seen: Vec<u64>,
    /// The parent row of each slot, when slots are blocks of a parent's children.
    slot_parents: Option<Vec<u32>>,
    row: u64,
    finished: bool,
}

impl TableStream<'_> {
    /// Column names in the order values are given.
    pub fn column_names(&self) -> Vec<String> {
        self.table
            .columns
            .iter()
            .map(|column| column.name.clone())
            .collect()
    }

    /// Rows this stream will give in all.
    pub fn total_rows(&self) -> u64 {
        self.datagen.rows_of(self.index)
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let materialized = std::mem::take(&mut self.materialized);
        self.datagen.done.push(materialized);
        if !self.table.materialize {
            self.datagen
                .done
                .last_mut()
                .expect("just pushed")
                .columns
                .clear();
        }
    }

    fn fill_ancestors(&mut self, slot: u32) {
        self.ancestors
            .iter_mut()
            .for_each(|ancestor| *ancestor = u32::MAX);
        let Some(parent) = self.table.parent else {
            return;
        };
        self.ancestors[parent] = slot;
        let mut table = parent;
        let mut row = slot;
        for next in self.table.signature.ancestors.iter().skip(1) {
            row = self.datagen.done[table]
                .parent
                .get(row as usize)
                .copied()
                .unwrap_or(u32::MAX);
            if row == u32::MAX {
                break;
            }
            self.ancestors[*next] = row;
            table = *next;
        }
    }
}

impl Iterator for TableStream<'_> {
    type Item = Vec<Value>;

    fn next(&mut self) -> Option<Vec<Value>> {
        let Some((slot, sorted)) = self.emission.next() else {
            self.finish();
            return None;
        };
        let label = self.labels.get(slot as usize).copied().unwrap_or(NO_GROUP);
        let slot = match &self.slot_parents {
            Some(parents) => parents[slot as usize],
            None => slot,
        };
        self.fill_ancestors(slot);
        let width = self.columns.len();
        let mut values = vec![Value::Null; width];
        self.picks.iter_mut().for_each(|pick| *pick = u32::MAX);
        for column in 0..width {
            let model = match self
                .overrides
                .get_mut(label as usize)
                .and_then(|o| o[column].as_mut())
            {
                Some(model) => model,
                None => &mut self.columns[column],
            };
            let rng = &mut self.rngs[column];
            let skip = model
                .when
                .as_ref()
                .is_some_and(|when| !when.values.contains(&values[when.column]))
                || (model.null_fraction > 0.0 && rng.random_bool(model.null_fraction));
            if skip {
                continue;
            }
            if self.sorted_column == Some(column)
                && let Some(at) = sorted
            {
                values[column] = Value::Timestamp(at);
                continue;
            }
            let context = RowContext {
                row: self.row,
                values: &values,
                ancestors: &self.ancestors,
                picks: &self.picks,
                tables: &self.datagen.done,
            };
            let mut pick = u32::MAX;
            let value = model.generator.generate(rng, &context, &mut pick);
            self.picks[column] = pick;
            values[column] = value;
        }
        if self.table.materialize {
            self.materialized
                .parent
                .push(if self.table.parent.is_some() {
                    slot
                } else {
                    u32::MAX
                });
            for (column, kept) in self.materialized.columns.iter_mut().enumerate() {
                if let Some(kept) = kept {
                    kept.push(values[column].clone());
                }
            }
        }
        for (((capture, slot), members), seen) in self
            .datagen
            .captures
            .iter()
            .zip(self.datagen.captured.iter_mut())
            .zip(&self.capture_members)
            .zip(self.capture_seen.iter_mut())
        {
            if capture.table != self.index {
                continue;
            }
            let position = match members {
                None => self.row,
                Some(members) if members.get(label as usize) == Some(&true) => {
                    *seen += 1;
                    *seen - 1
                }
                Some(_) => continue,
            };
            if position == capture.index {
                *slot = Some(values.clone());
            }
        }
        self.row += 1;
        Some(values)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn child_groups() -> crate::input::Dataset {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        crate::input::Dataset::load(&root.join("tests/data/datasets/child-groups.toml")).unwrap()
    }

    /// Every row of every table, in write order, by table name.
    fn rows_of(datagen: &mut Datagen) -> HashMap<String, Vec<Vec<Value>>> {
        (0..datagen.model().tables.len())
            .map(|index| {
                let name = datagen.model().tables[index].name.clone();
                (name, datagen.stream(index).collect())
            })
            .collect()
    }

    /// In every organization the busy workflow (its first) has 80% of that
    /// organization's runs, rounded down, whether the organization is the dense one
    /// (half of all runs) or not; and its name comes from the nearer group.
    #[test]
    fn a_child_group_takes_its_share_of_each_parents_runs() {
        let dataset = child_groups();
        for scale in [20_000, 12_345] {
            let mut datagen = Datagen::new(&dataset.model, scale, 3, Vec::new()).unwrap();
            let tables = rows_of(&mut datagen);
            let mut runs_per_workflow: HashMap<String, u64> = HashMap::new();
            for run in &tables["workflow_runs"] {
                *runs_per_workflow.entry(run[1].to_string()).or_default() += 1;
            }
            assert_eq!(tables["workflow_runs"].len() as u64, scale);
            let mut per_organization: HashMap<String, Vec<(&str, u64)>> = HashMap::new();
            for workflow in &tables["workflows"] {
                let Value::Text(name) = &workflow[2] else {
                    panic!("{workflow:?}")
                };
                let runs = runs_per_workflow
                    .get(&workflow[0].to_string())
                    .copied()
                    .unwrap_or(0);
                per_organization
                    .entry(workflow[1].to_string())
                    .or_default()
                    .push((name, runs));
            }
            assert_eq!(per_organization.len(), 20);
            let dense = tables["organizations"][0][0].to_string();
            for (organization, workflows) in &per_organization {
                let total: u64 = workflows.iter().map(|(_, runs)| runs).sum();
                let (busy_name, busy) = workflows[0];
                assert!(busy_name.starts_with("busy-"), "{workflows:?}");
                assert_eq!(busy, total * 8 / 10, "{organization:?}: {workflows:?}");
                let prefix = if *organization == dense {
                    assert_eq!(total, scale / 2);
                    "dense-"
                } else {
                    "pipeline-"
                };
                assert!(
                    workflows[1..]
                        .iter()
                        .all(|(name, _)| name.starts_with(prefix)),
                    "{workflows:?}"
                );
                let others: Vec<u64> = workflows[1..].iter().map(|(_, runs)| *runs).collect();
                assert!(others.iter().max().unwrap() - others.iter().min().unwrap() <= 1);
            }
        }
    }

    /// The first 5 items of each sparse tenant are live, the other 195 deleted; other
    /// tenants' items keep the table's own soft deletes.
    #[test]
    fn a_group_under_a_root_group_overrides_its_first_children() {
        let dataset = child_groups();
        let mut datagen = Datagen::new(&dataset.model, 20_000, 3, Vec::new()).unwrap();
        let tables = rows_of(&mut datagen);
        let sparse: Vec<String> = tables["tenants"][..3]
            .iter()
            .map(|row| row[0].to_string())
            .collect();
        let mut items: HashMap<String, Vec<bool>> = HashMap::new();
        for item in &tables["items"] {
            items
                .entry(item[1].to_string())
                .or_default()
                .push(item[3] == Value::Null);
        }
        for (tenant, live) in &items {
            if sparse.contains(tenant) {
                assert_eq!(live.len(), 200);
                assert!(live[..5].iter().all(|live| *live), "{live:?}");
                assert!(live[5..].iter().all(|live| !*live), "{live:?}");
            } else {
                assert_eq!(live.len(), 20);
                assert!(live.iter().any(|live| *live));
            }
        }
    }

    /// A target can be taken from a child table's group: the first busy workflow is
    /// the first organization's first workflow, and the dense group's rows of
    /// workflows are the dense organization's.
    #[test]
    fn a_capture_can_name_a_child_tables_group() {
        let dataset = child_groups();
        let workflows = dataset.table("workflows").unwrap();
        let names = dataset.group_names(workflows);
        assert_eq!(names, ["dense", "other", "busy"]);
        let busy = Capture {
            table: workflows,
            group: Some(2),
            index: 1,
        };
        let dense = Capture {
            table: workflows,
            group: Some(0),
            index: 9,
        };
        let mut datagen =
            Datagen::new(&dataset.model, 20_000, 3, vec![busy.clone(), dense]).unwrap();
        assert_eq!(datagen.rows_labelled(workflows, Some(2)), 20);
        assert_eq!(datagen.rows_labelled(workflows, Some(0)), 10);
        let tables = rows_of(&mut datagen);
        let captured = datagen.captured();
        assert_eq!(captured[0].as_ref(), Some(&tables["workflows"][10]));
        assert_eq!(captured[1].as_ref(), Some(&tables["workflows"][9]));
        let too_far = Capture { index: 20, ..busy };
        let error = Datagen::new(&dataset.model, 20_000, 3, vec![too_far])
            .err()
            .unwrap();
        assert!(
            error.message.contains("group \"busy\" has 20 rows"),
            "{error:?}"
        );
    }
}
