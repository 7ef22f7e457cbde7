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
    /// Named subsets of a root table's rows, in declaration order.
    pub groups: Vec<GroupModel>,
    /// The table whose groups label this table's rows: itself, an ancestor, or none.
    pub grouped_by: Option<usize>,
    pub columns: Vec<ColumnModel>,
    pub order: WriteOrder,
    pub shuffle_window: usize,
    pub signature: TableSignature,
    /// Whether later tables read this one (its rows are kept in memory).
    pub materialize: bool,
    /// Per column: whether later tables read it.
    pub keep: Vec<bool>,
}

/// A named subset of a root table's rows.
#[derive(Debug, Clone)]
pub struct GroupModel {
    pub name: String,
    pub size: GroupSize,
    /// What the group says about descendant tables: per-parent counts or shares.
    pub children: Vec<(usize, ChildCount)>,
    /// Generators that replace a column's for rows under this group:
    /// `(table, column, replacement)`.
    pub overrides: Vec<(usize, usize, ColumnModel)>,
}

/// How many rows a group has.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupSize {
    Rows(u64),
    /// A share of the table's scaled rows, after fixed groups.
    Share(f64),
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
/// the rows of `table` labelled with `group` (or among all rows, without a group).
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub table: usize,
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
    /// Group label of each parent slot (parent row, or group for a root table).
    slot_labels: Vec<Vec<u16>>,
    /// Write order of kept tables, computed once: child counts need their labels.
    emissions: Vec<Option<Vec<Slot>>>,
    done: Vec<Materialized>,
    /// Group label of each row of kept tables.
    row_labels: Vec<Vec<u16>>,
    captures: Vec<Capture>,
    captured: Vec<Option<Vec<Value>>>,
}

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
                let group = capture.group.and_then(|label| {
                    table
                        .grouped_by
                        .map(|by| model.tables[by].groups[label as usize].name.clone())
                });
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
        let laid_out = match table.parent {
            None => layout::root_counts(table, factor, &mut rng),
            Some(parent) => {
                let labels = self.row_labels[parent].clone();
                let groups = table
                    .grouped_by
                    .map_or(&[][..], |by| &self.model.tables[by].groups[..]);
                layout::child_counts(table, index, groups, &labels, factor, &mut rng)
                    .map(|counts| (counts, labels))
            }
        };
        let (counts, labels) = laid_out.map_err(|message| LayoutError {
            table: table.name.clone(),
            message,
        })?;
        let emission = table.materialize.then(|| {
            self.emission(index, &counts, &labels)
                .collect::<Vec<Slot>>()
        });
        let row_labels = match &emission {
            Some(slots) => slots
                .iter()
                .map(|(slot, _)| labels[*slot as usize])
                .collect(),
            None => Vec::new(),
        };
        self.counts.push(counts);
        self.slot_labels.push(labels);
        self.emissions.push(emission);
        self.row_labels.push(row_labels);
        Ok(())
    }

    fn emission(&self, index: usize, counts: &[u64], labels: &[u16]) -> Emission {
        let table = &self.model.tables[index];
        let windows = match table.order {
            WriteOrder::Sorted { column } => {
                let overrides = self.overrides_of(index);
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

    /// Rows of `table` labelled `group` (all rows without a group).
    pub fn rows_labelled(&self, table: usize, group: Option<u16>) -> u64 {
        match group {
            None => self.rows_of(table),
            Some(group) => self.counts[table]
                .iter()
                .zip(&self.slot_labels[table])
                .filter(|(_, label)| **label == group)
                .map(|(count, _)| count)
                .sum(),
        }
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

    /// Per group label and column of table `index`, the generator its groups put in
    /// place of the table's own.
    fn overrides_of(&self, index: usize) -> Vec<Vec<Option<ColumnModel>>> {
        let table = &self.model.tables[index];
        let groups = table
            .grouped_by
            .map_or(&[][..], |by| &self.model.tables[by].groups[..]);
        groups
            .iter()
            .map(|group| {
                let mut columns = vec![None; table.columns.len()];
                for (_, column, model) in group.overrides.iter().filter(|(t, _, _)| *t == index) {
                    columns[*column] = Some(model.clone());
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
            seen_per_label: std::collections::HashMap::new(),
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
    seen_per_label: std::collections::HashMap<u16, u64>,
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
        let seen = self.seen_per_label.entry(label).or_insert(0);
        let position_in_group = *seen;
        *seen += 1;
        for (capture, slot) in self
            .datagen
            .captures
            .iter()
            .zip(self.datagen.captured.iter_mut())
        {
            let matches_group = capture.group.is_none_or(|group| group == label);
            let position = if capture.group.is_some() {
                position_in_group
            } else {
                self.row
            };
            if capture.table == self.index && matches_group && position == capture.index {
                *slot = Some(values.clone());
            }
        }
        self.row += 1;
        Some(values)
    }
}
