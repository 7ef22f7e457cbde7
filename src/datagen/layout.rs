//! How many rows each parent gets. A root table's rows come from its groups (fixed
//! counts, or shares of the table's scaled `rows`), or are one block of `rows`. A child
//! table either draws a count per parent (`per_parent`: fixed, a uniform range, or
//! zipf-skewed), or splits its scaled `rows` among its parents: groups with a fixed
//! `per_parent` are served first, groups with a `share` split the rest, and parents in
//! no such group share what is left. Within a set of parents the split is even (the
//! remainder one row at a time to the first parents) or zipf-skewed. Counts always
//! add up exactly. A child table's groups take blocks of each parent row's children
//! ([`group_blocks`]), and their shares of a descendant split its rows again within
//! each row of the group table's parent ([`split_within_ancestors`]).

use rand::RngExt;

use super::generators::number::{zipf_cdf, zipf_rank};
use super::rng::SeededRng;
use super::{GroupModel, GroupSize, NO_GROUP, TableModel};

/// Children per parent.
#[derive(Debug, Clone, PartialEq)]
pub enum CountSpec {
    Fixed(u64),
    /// Uniform over `[min, max]`.
    Uniform(u64, u64),
    /// Zipf over `1..=max`: most parents get few, some get many.
    Zipf {
        exponent: f64,
        max: u64,
    },
}

impl CountSpec {
    /// One parent's count.
    pub fn draw(&self, rng: &mut SeededRng, zipf: &[f64]) -> u64 {
        match self {
            CountSpec::Fixed(count) => *count,
            CountSpec::Uniform(min, max) => rng.random_range(*min..=*max),
            CountSpec::Zipf { .. } => zipf_rank(zipf, rng) as u64 + 1,
        }
    }

    /// The expected count per parent.
    pub fn mean(&self) -> f64 {
        match self {
            CountSpec::Fixed(count) => *count as f64,
            CountSpec::Uniform(min, max) => (*min as f64 + *max as f64) / 2.0,
            CountSpec::Zipf { exponent, max } => {
                let (mut weighted, mut total) = (0.0, 0.0);
                for rank in 1..=*max {
                    let weight = 1.0 / (rank as f64).powf(*exponent);
                    weighted += rank as f64 * weight;
                    total += weight;
                }
                if total > 0.0 { weighted / total } else { 0.0 }
            }
        }
    }

    /// The lookup table a zipf count draws from (empty for other specs).
    pub fn table(&self) -> Vec<f64> {
        match self {
            CountSpec::Zipf { exponent, max } => zipf_cdf(*max as usize, *exponent),
            _ => Vec::new(),
        }
    }
}

/// How a table's `rows` are split within a set of parents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Split {
    Even,
    Zipf(f64),
}

/// What a group says about the rows of one table under it.
#[derive(Debug, Clone, PartialEq)]
pub enum ChildCount {
    PerParent(CountSpec),
    Share(f64),
}

/// Splits `total` rows over `parents` parents.
pub fn split(total: u64, parents: usize, how: Split) -> Vec<u64> {
    if parents == 0 {
        return Vec::new();
    }
    match how {
        Split::Even => (0..parents as u64)
            .map(|index| total / parents as u64 + u64::from(index < total % parents as u64))
            .collect(),
        Split::Zipf(exponent) => {
            let weights: Vec<f64> = (1..=parents)
                .map(|rank| 1.0 / (rank as f64).powf(exponent))
                .collect();
            let sum: f64 = weights.iter().sum();
            let mut counts: Vec<u64> = weights
                .iter()
                .map(|weight| (total as f64 * weight / sum).floor() as u64)
                .collect();
            let short = total - counts.iter().sum::<u64>();
            for count in counts.iter_mut().take(short as usize) {
                *count += 1;
            }
            counts
        }
    }
}

/// `table`'s rows at scale `factor`: round(rows × factor), at least 1.
fn scaled(rows: u64, factor: f64) -> u64 {
    ((rows as f64 * factor).round() as u64).max(1)
}

/// Rows per slot of a root table, and each slot's group label: one slot per group
/// (fixed rows first, shares split the scaled `rows`), or one slot of `rows`.
pub fn root_counts(
    table: &TableModel,
    factor: f64,
    rng: &mut SeededRng,
) -> Result<(Vec<u64>, Vec<u16>), String> {
    if table.groups.is_empty() {
        return Ok((
            vec![scaled(table.rows.unwrap_or(1), factor)],
            vec![NO_GROUP],
        ));
    }
    let labels: Vec<u16> = (0..table.groups.len() as u16).collect();
    let spec_of = |label: u16| group_count(table, label);
    let total = table
        .rows
        .map_or(fixed_group_rows(table), |rows| scaled(rows, factor));
    let counts = split_among_parents(total, &labels, &spec_of, Split::Even, rng)?;
    Ok((counts, labels))
}

/// Rows per parent row of `table`, whose parents carry `labels`: drawn per parent
/// (`per_parent`, or the count `spec_of(label)` gives), or the scaled `rows` split
/// among the parents.
pub fn child_counts(
    table: &TableModel,
    spec_of: &dyn Fn(u16) -> Option<ChildCount>,
    labels: &[u16],
    factor: f64,
    rng: &mut SeededRng,
) -> Result<Vec<u64>, String> {
    if let Some(rows) = table.rows {
        return split_among_parents(scaled(rows, factor), labels, spec_of, table.split, rng);
    }
    let mut tables = std::collections::HashMap::new();
    Ok(labels
        .iter()
        .map(|label| {
            let spec = match spec_of(*label) {
                Some(ChildCount::PerParent(spec)) => spec,
                _ => table.per_parent.clone().unwrap_or(CountSpec::Fixed(0)),
            };
            let zipf = tables.entry(*label).or_insert_with(|| spec.table());
            spec.draw(rng, zipf)
        })
        .collect())
}

/// How many of one parent row's `children` each of a child table's `groups` takes,
/// in declaration order (the rest are in none): groups with `rows` the first ones (at
/// most what is left), then groups with a `share` that share of what the fixed groups
/// left, rounded so that the shares so far add up. Groups that do not `apply` to this
/// parent take none.
pub fn group_blocks(
    groups: &[GroupModel],
    children: u64,
    applies: &dyn Fn(&GroupModel) -> bool,
) -> Vec<u64> {
    let mut blocks = vec![0u64; groups.len()];
    let mut left = children;
    for (block, group) in blocks.iter_mut().zip(groups) {
        if let GroupSize::Rows(rows) = group.size
            && applies(group)
        {
            *block = rows.min(left);
            left -= *block;
        }
    }
    let (mut shares, mut given) = (0.0f64, 0u64);
    for (block, group) in blocks.iter_mut().zip(groups) {
        if let GroupSize::Share(share) = group.size
            && applies(group)
        {
            shares = (shares + share).min(1.0);
            let upto = ((left as f64 * shares).round() as u64).min(left);
            *block = upto - given;
            given = upto;
        }
    }
    blocks
}

/// A parent row as a child table's group share sees it: the ancestor row it is under
/// (a row of the group's table's parent), its set (the group with a share, or
/// [`NO_GROUP`] for the others) and its index among the parents.
pub type ShareMember = (u32, u16, u32);

/// Splits again, within each ancestor row, the rows `counts` gives its `members`: each
/// set with a share gets ⌊share × the ancestor row's rows⌋, the others the rest
/// (without others, the largest share takes it), each set split among its members
/// `how` in index order. None when the shares under one ancestor row take more than
/// all its rows.
pub fn split_within_ancestors(
    counts: &mut [u64],
    members: &mut [ShareMember],
    shares: &[Option<f64>],
    how: Split,
) -> Option<()> {
    members.sort_unstable();
    let share_of = |set: u16| shares.get(set as usize).copied().flatten();
    for ancestor in members.chunk_by(|a, b| a.0 == b.0) {
        let pool: u64 = ancestor
            .iter()
            .map(|(_, _, row)| counts[*row as usize])
            .sum();
        let sets: Vec<&[ShareMember]> = ancestor.chunk_by(|a, b| a.1 == b.1).collect();
        let mut totals: Vec<u64> = sets
            .iter()
            .map(|set| share_of(set[0].1).map_or(0, |share| (pool as f64 * share).floor() as u64))
            .collect();
        let given: u64 = totals.iter().sum();
        if given > pool {
            return None;
        }
        let takes_rest = match sets.iter().position(|set| set[0].1 == NO_GROUP) {
            Some(others) => others,
            None => (0..sets.len()).max_by(|a, b| {
                let share = |set: usize| share_of(sets[set][0].1).unwrap_or(0.0);
                share(*a).total_cmp(&share(*b)).then(b.cmp(a))
            })?,
        };
        totals[takes_rest] += pool - given;
        for (set, total) in sets.iter().zip(totals) {
            for ((_, _, row), count) in set.iter().zip(split(total, set.len(), how)) {
                counts[*row as usize] = count;
            }
        }
    }
    Some(())
}

/// A set of parents that shares rows: a group with a share, or everyone else.
struct ShareSet {
    share: f64,
    parents: Vec<usize>,
}

/// Counts for a child table that splits `total` rows among parents labelled with
/// groups. `spec_of(label)` is what the parent's group says about this table.
/// Returns an error message when the fixed counts alone exceed `total`, or when some
/// rows have no parent to go to.
pub fn split_among_parents(
    total: u64,
    labels: &[u16],
    spec_of: &dyn Fn(u16) -> Option<ChildCount>,
    how: Split,
    rng: &mut SeededRng,
) -> Result<Vec<u64>, String> {
    let mut counts = vec![0u64; labels.len()];
    let mut fixed_total = 0u64;
    let mut sets: Vec<(Option<u16>, ShareSet)> = Vec::new();
    let mut tables: std::collections::HashMap<u16, Vec<f64>> = std::collections::HashMap::new();
    for (parent, label) in labels.iter().enumerate() {
        match spec_of(*label) {
            Some(ChildCount::PerParent(spec)) => {
                let zipf = tables.entry(*label).or_insert_with(|| spec.table());
                counts[parent] = spec.draw(rng, zipf);
                fixed_total += counts[parent];
            }
            Some(ChildCount::Share(share)) => {
                set_for(&mut sets, Some(*label), share).parents.push(parent)
            }
            None => set_for(&mut sets, None, f64::NAN).parents.push(parent),
        }
    }
    if fixed_total > total {
        return Err(format!(
            "{total} rows are too few: the groups' fixed counts alone need {fixed_total}"
        ));
    }
    let rest = total - fixed_total;
    let shares: f64 = sets
        .iter()
        .filter(|(label, _)| label.is_some())
        .map(|(_, set)| set.share)
        .sum();
    if let Some((_, others)) = sets.iter_mut().find(|(label, _)| label.is_none()) {
        others.share = (1.0 - shares).max(0.0);
    } else if rest > 0 && (shares - 1.0).abs() > 1e-6 {
        return Err(format!(
            "the groups' shares add up to {shares}, and every parent is in a group with a share or a fixed count, so {} of {rest} rows would have no parent; make the shares add up to 1",
            rest - (rest as f64 * shares).floor() as u64
        ));
    }
    let mut set_totals: Vec<u64> = sets
        .iter()
        .map(|(_, set)| (rest as f64 * set.share).floor() as u64)
        .collect();
    let short = rest.saturating_sub(set_totals.iter().sum());
    if let Some(largest) =
        (0..sets.len()).max_by(|a, b| sets[*a].1.share.total_cmp(&sets[*b].1.share))
    {
        set_totals[largest] += short;
    }
    for ((_, set), set_total) in sets.iter().zip(set_totals) {
        for (parent, count) in set
            .parents
            .iter()
            .zip(split(set_total, set.parents.len(), how))
        {
            counts[*parent] = count;
        }
    }
    Ok(counts)
}

/// Rows of one table by group label, as expected values.
type RowsByLabel = Vec<(u16, f64)>;

/// The expected rows of every table at `scale` rows of the scale table, without
/// drawing a single count: the same layout rules as [`root_counts`] and
/// [`child_counts`], applied to the number of parents in each group instead of to
/// each parent. Work and memory are proportional to tables × groups, never to rows,
/// so the disk guard can ask about `--scale 1000000000000` before anything is laid
/// out. Per-parent draws count at their mean; fixed counts that exceed a table's
/// scaled rows (a layout error the real layout reports) count as drawn.
pub fn expected_rows(model: &super::DatasetModel, scale: u64) -> Vec<f64> {
    let declared = model.tables[model.scale_table].rows.unwrap_or(1).max(1);
    let factor = scale as f64 / declared as f64;
    let mut by_table: Vec<RowsByLabel> = Vec::with_capacity(model.tables.len());
    for (index, table) in model.tables.iter().enumerate() {
        let rows = match table.parent {
            None => expected_root_rows(table, factor),
            Some(parent) => {
                let groups = root_groups(model, table);
                expected_child_rows(table, index, groups, &by_table[parent], factor)
            }
        };
        by_table.push(rows);
    }
    by_table
        .iter()
        .map(|rows| rows.iter().map(|(_, count)| count).sum())
        .collect()
}

/// The groups of `table`'s root ancestor (when it declares any), the only ones the
/// expected rows follow. A child table's groups are left out: their shares only move
/// rows among the children of one ancestor row, but a count they fix for a descendant
/// is not expected (an approximation, as for the per-parent draws).
fn root_groups<'a>(model: &'a super::DatasetModel, table: &TableModel) -> &'a [GroupModel] {
    table
        .grouping
        .first()
        .filter(|by| model.tables[**by].parent.is_none())
        .map_or(&[][..], |by| &model.tables[*by].groups[..])
}

/// [`scaled`] without the integer cast, so absurd scales do not saturate.
fn scaled_expected(rows: u64, factor: f64) -> f64 {
    (rows as f64 * factor).round().max(1.0)
}

/// What group `label` says of how many rows child table `index` gets under it, if
/// anything.
fn child_count_of(groups: &[GroupModel], label: u16, index: usize) -> Option<ChildCount> {
    groups
        .get(label as usize)?
        .children
        .iter()
        .find(|(child, _)| *child == index)
        .map(|(_, count)| count.clone())
}

/// How many rows a root table's group gets: a fixed count or a share of the rows.
fn group_count(table: &TableModel, label: u16) -> Option<ChildCount> {
    match &table.groups[label as usize].size {
        GroupSize::Rows(rows) => Some(ChildCount::PerParent(CountSpec::Fixed(*rows))),
        GroupSize::Share(share) => Some(ChildCount::Share(*share)),
    }
}

/// The rows a root table's groups fix whatever the scale.
fn fixed_group_rows(table: &TableModel) -> u64 {
    table
        .groups
        .iter()
        .map(|group| match group.size {
            GroupSize::Rows(rows) => rows,
            GroupSize::Share(_) => 0,
        })
        .sum()
}

fn expected_root_rows(table: &TableModel, factor: f64) -> RowsByLabel {
    if table.groups.is_empty() {
        return vec![(NO_GROUP, scaled_expected(table.rows.unwrap_or(1), factor))];
    }
    let parents: RowsByLabel = (0..table.groups.len() as u16)
        .map(|label| (label, 1.0))
        .collect();
    let spec_of = |label: u16| group_count(table, label);
    let total = table.rows.map_or(fixed_group_rows(table) as f64, |rows| {
        scaled_expected(rows, factor)
    });
    expected_split(total, &parents, &spec_of)
}

fn expected_child_rows(
    table: &TableModel,
    index: usize,
    groups: &[GroupModel],
    parents: &RowsByLabel,
    factor: f64,
) -> RowsByLabel {
    let spec_of = |label: u16| child_count_of(groups, label, index);
    if let Some(rows) = table.rows {
        return expected_split(scaled_expected(rows, factor), parents, &spec_of);
    }
    parents
        .iter()
        .map(|(label, count)| {
            let spec = match spec_of(*label) {
                Some(ChildCount::PerParent(spec)) => spec,
                _ => table.per_parent.clone().unwrap_or(CountSpec::Fixed(0)),
            };
            (*label, count * spec.mean())
        })
        .collect()
}

/// [`split_among_parents`] in expectation: fixed counts first, then the shares of
/// what is left, and parents without a spec share the rest in proportion to their
/// number.
fn expected_split(
    total: f64,
    parents: &RowsByLabel,
    spec_of: &dyn Fn(u16) -> Option<ChildCount>,
) -> RowsByLabel {
    let specs: Vec<Option<ChildCount>> = parents.iter().map(|(label, _)| spec_of(*label)).collect();
    let fixed: f64 = parents
        .iter()
        .zip(&specs)
        .filter_map(|((_, count), spec)| match spec {
            Some(ChildCount::PerParent(spec)) => Some(count * spec.mean()),
            _ => None,
        })
        .sum();
    let rest = (total - fixed).max(0.0);
    let shares: f64 = specs
        .iter()
        .filter_map(|spec| match spec {
            Some(ChildCount::Share(share)) => Some(*share),
            _ => None,
        })
        .sum();
    let unspecified: f64 = parents
        .iter()
        .zip(&specs)
        .filter(|(_, spec)| spec.is_none())
        .map(|((_, count), _)| count)
        .sum();
    // Without parents outside the share groups, the shares split all of the rest.
    let others_share = if unspecified > 0.0 {
        (1.0 - shares).max(0.0)
    } else {
        0.0
    };
    let normaliser = (shares + others_share).max(f64::MIN_POSITIVE);
    parents
        .iter()
        .zip(&specs)
        .map(|((label, count), spec)| {
            let rows = match spec {
                Some(ChildCount::PerParent(spec)) => count * spec.mean(),
                Some(ChildCount::Share(share)) => rest * share / normaliser,
                None => rest * others_share / normaliser * count / unspecified,
            };
            (*label, rows)
        })
        .collect()
}

fn set_for(
    sets: &mut Vec<(Option<u16>, ShareSet)>,
    label: Option<u16>,
    share: f64,
) -> &mut ShareSet {
    let index = match sets.iter().position(|(existing, _)| *existing == label) {
        Some(index) => index,
        None => {
            sets.push((
                label,
                ShareSet {
                    share,
                    parents: Vec::new(),
                },
            ));
            sets.len() - 1
        }
    };
    &mut sets[index].1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::rng::stream;

    #[test]
    fn even_splits_give_the_remainder_to_the_first() {
        assert_eq!(split(10, 3, Split::Even), vec![4, 3, 3]);
        let skewed = split(1000, 10, Split::Zipf(1.0));
        assert_eq!(skewed.iter().sum::<u64>(), 1000);
        assert!(skewed[0] > 2 * skewed[2]);
    }

    /// The shipped workflow-runs shape: one dense organization (label 0) with 90% of
    /// the rest, 89 medium ones (label 1) with 10%, and 10 sparse ones (label 2) with
    /// 40 runs each.
    #[test]
    fn fixed_groups_first_then_shares_exactly() {
        let labels: Vec<u16> = std::iter::once(0)
            .chain(std::iter::repeat_n(1, 89))
            .chain(std::iter::repeat_n(2, 10))
            .collect();
        let spec = |label: u16| match label {
            0 => Some(ChildCount::Share(0.9)),
            1 => Some(ChildCount::Share(0.1)),
            _ => Some(ChildCount::PerParent(CountSpec::Fixed(40))),
        };
        for total in [401, 12_000, 1_000_000] {
            let counts = split_among_parents(
                total,
                &labels,
                &spec,
                Split::Even,
                &mut stream(1, "t", "#counts"),
            )
            .unwrap();
            assert_eq!(counts.iter().sum::<u64>(), total);
            assert!(counts[90..].iter().all(|count| *count == 40));
        }
        let error = split_among_parents(
            400,
            &labels,
            &spec,
            Split::Even,
            &mut stream(1, "t", "#counts"),
        );
        assert!(
            error.is_ok(),
            "400 leaves 0 for the share groups, which is allowed"
        );
        let error = split_among_parents(
            399,
            &labels,
            &spec,
            Split::Even,
            &mut stream(1, "t", "#counts"),
        )
        .unwrap_err();
        assert!(error.contains("fixed counts alone need 400"), "{error}");
    }

    #[test]
    fn parents_without_a_group_spec_take_what_shares_leave() {
        let labels = vec![0, 1, 1];
        let spec = |label: u16| (label == 0).then_some(ChildCount::Share(0.5));
        let counts =
            split_among_parents(100, &labels, &spec, Split::Even, &mut stream(1, "t", "#c"))
                .unwrap();
        assert_eq!(counts, vec![50, 25, 25]);
        let all_shared = |_: u16| Some(ChildCount::Share(0.3));
        assert!(
            split_among_parents(
                100,
                &labels,
                &all_shared,
                Split::Even,
                &mut stream(1, "t", "#c")
            )
            .is_err()
        );
    }

    /// The expected counts follow the real layout on every shipped dataset and on a
    /// test dataset with zipf per-parent counts and shares, within what per-parent
    /// draws vary by; and they cost nothing at an absurd scale.
    #[test]
    fn expected_rows_follow_the_layout() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for file in [
            "fixtures/datasets/workflow-runs.toml",
            "fixtures/datasets/orders.toml",
            "tests/data/custom/dataset.toml",
            "tests/data/datasets/child-groups.toml",
        ] {
            let dataset = crate::input::Dataset::load(&root.join(file)).unwrap();
            for scale in [20_000, 300_000] {
                let expected = expected_rows(&dataset.model, scale);
                let datagen =
                    crate::datagen::Datagen::new(&dataset.model, scale, 7, Vec::new()).unwrap();
                for (table, expected) in expected.iter().enumerate() {
                    let actual = datagen.rows_of(table) as f64;
                    assert!(
                        (expected - actual).abs() <= actual * 0.1 + 5.0,
                        "{file} at {scale}: {} expected {expected}, laid out {actual}",
                        dataset.model.tables[table].name
                    );
                }
            }
            let clock = std::time::Instant::now();
            let absurd: f64 = expected_rows(&dataset.model, 1_000_000_000_000)
                .iter()
                .sum();
            assert!(absurd >= 1e12, "{file}: {absurd}");
            assert!(clock.elapsed() < std::time::Duration::from_millis(100));
        }
    }

    fn group(size: GroupSize, under: Option<(usize, u16)>) -> GroupModel {
        GroupModel {
            name: "g".into(),
            size,
            under,
            children: Vec::new(),
            overrides: Vec::new(),
        }
    }

    /// Fixed blocks first (at most what the parent has), shares of what they leave
    /// rounded so that they add up, and a group that does not apply takes nothing.
    #[test]
    fn group_blocks_take_the_first_children_then_shares() {
        let groups = [
            group(GroupSize::Share(0.5), None),
            group(GroupSize::Rows(2), None),
            group(GroupSize::Rows(5), Some((0, 1))),
            group(GroupSize::Share(0.25), None),
        ];
        let all = |_: &GroupModel| true;
        assert_eq!(group_blocks(&groups, 11, &all), vec![2, 2, 5, 1]);
        assert_eq!(group_blocks(&groups, 5, &all), vec![0, 2, 3, 0]);
        let not_under = |group: &GroupModel| group.under.is_none();
        assert_eq!(group_blocks(&groups, 10, &not_under), vec![4, 2, 0, 2]);
        assert_eq!(group_blocks(&groups, 0, &all), vec![0, 0, 0, 0]);
    }

    /// Within each ancestor row, the busy set gets ⌊80%⌋ of that row's rows and the
    /// others the rest; an ancestor row whose parents are all busy keeps all of its
    /// rows; shares above 1 under one ancestor row are refused.
    #[test]
    fn shares_split_again_within_each_ancestor_row() {
        // Ancestor 0: parents 0 (busy), 1, 2; ancestor 1: parents 3 (busy), 4;
        // ancestor 2: parent 5 (busy) alone.
        let mut counts = vec![100, 100, 100, 7, 3, 9];
        let mut members: Vec<ShareMember> = vec![
            (1, NO_GROUP, 4),
            (0, 0, 0),
            (0, NO_GROUP, 1),
            (0, NO_GROUP, 2),
            (1, 0, 3),
            (2, 0, 5),
        ];
        split_within_ancestors(&mut counts, &mut members, &[Some(0.8)], Split::Even).unwrap();
        assert_eq!(counts, vec![240, 30, 30, 8, 2, 9]);
        let mut counts = vec![10, 10];
        let mut members: Vec<ShareMember> = vec![(0, 0, 0), (0, 1, 1)];
        let shares = [Some(0.7), Some(0.6)];
        assert!(split_within_ancestors(&mut counts, &mut members, &shares, Split::Even).is_none());
    }

    #[test]
    fn count_means() {
        assert_eq!(CountSpec::Fixed(3).mean(), 3.0);
        assert_eq!(CountSpec::Uniform(1, 4).mean(), 2.5);
        let zipf = CountSpec::Zipf {
            exponent: 2.0,
            max: 50,
        };
        // Σ k·k⁻² / Σ k⁻² over 1..=50 = H(50) / 1.625 ≈ 2.77.
        assert!((zipf.mean() - 2.77).abs() < 0.01, "{}", zipf.mean());
    }

    #[test]
    fn per_parent_counts_follow_their_spec() {
        let mut rng = stream(4, "t", "#counts");
        let uniform: Vec<u64> = (0..10_000)
            .map(|_| CountSpec::Uniform(1, 4).draw(&mut rng, &[]))
            .collect();
        assert!(uniform.iter().all(|count| (1..=4).contains(count)));
        assert!((uniform.iter().sum::<u64>() as f64 / 10_000.0 - 2.5).abs() < 0.05);
        let zipf = CountSpec::Zipf {
            exponent: 2.0,
            max: 50,
        };
        let table = zipf.table();
        let ones = (0..10_000)
            .filter(|_| zipf.draw(&mut rng, &table) == 1)
            .count() as f64
            / 10_000.0;
        // 1 / ζ(2) truncated at 50 ≈ 0.614.
        assert!((ones - 0.614).abs() < 0.02, "{ones}");
    }
}
