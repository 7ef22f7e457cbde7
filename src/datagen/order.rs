//! Write order: which parent each next row belongs to, in the order rows reach the
//! heap. The order decides the physical layout, and so the correlation statistic the
//! planner costs index walks with: `generated` writes each parent's rows together,
//! `scattered` interleaves all parents at random (a long-lived table that updates
//! have reshuffled), and `sorted` writes rows in ascending order of a timestamp column
//! (an append-only table), optionally shuffled within windows of N rows. Memory is
//! proportional to the number of parents (and the window), never to the rows.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::RngExt;

use super::generators::timestamp::Window;
use super::rng::{SeededRng, indexed_stream, stream};

/// The next row's parent (a row index of the parent table, or a group for root
/// tables) and, for sorted order, its timestamp.
pub type Slot = (u32, Option<i64>);

/// How a table's rows are ordered.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOrder {
    Generated,
    Scattered,
    /// Ascending by the column at this index, whose window per parent is given.
    Sorted {
        column: usize,
    },
}

/// The slots of one table, in write order.
pub struct Emission {
    kind: Kind,
    shuffle: Option<Shuffle>,
}

enum Kind {
    Generated {
        counts: Vec<u64>,
        parent: usize,
        left: u64,
    },
    Scattered {
        remaining: Fenwick,
        total: u64,
        rng: SeededRng,
    },
    Sorted {
        timelines: Vec<Timeline>,
        next: BinaryHeap<Reverse<(i64, u32)>>,
    },
}

struct Shuffle {
    window: usize,
    buffer: Vec<Slot>,
    rng: SeededRng,
}

impl Emission {
    /// The emission of `table`'s rows: `counts` per parent, and for sorted order the
    /// timestamp window of each parent.
    pub fn new(
        order: &WriteOrder,
        counts: Vec<u64>,
        windows: Option<Vec<Window>>,
        shuffle_window: usize,
        seed: u64,
        table: &str,
    ) -> Emission {
        let kind = match order {
            WriteOrder::Generated => Kind::Generated {
                left: counts.first().copied().unwrap_or(0),
                counts,
                parent: 0,
            },
            WriteOrder::Scattered => Kind::Scattered {
                total: counts.iter().sum(),
                remaining: Fenwick::new(&counts),
                rng: stream(seed, table, "#order"),
            },
            WriteOrder::Sorted { .. } => {
                let windows = windows.unwrap_or_default();
                let mut timelines: Vec<Timeline> = counts
                    .iter()
                    .enumerate()
                    .map(|(parent, count)| Timeline {
                        rng: indexed_stream(seed, table, "#timeline", parent as u64),
                        remaining: *count,
                        position: 0.0,
                        window: windows.get(parent).copied().unwrap_or(Window {
                            oldest_micros: 0,
                            span_micros: 0.0,
                            spread: Default::default(),
                        }),
                    })
                    .collect();
                let next = timelines
                    .iter_mut()
                    .enumerate()
                    .filter_map(|(parent, timeline)| {
                        timeline
                            .next_micros()
                            .map(|at| Reverse((at, parent as u32)))
                    })
                    .collect();
                Kind::Sorted { timelines, next }
            }
        };
        let shuffle = (shuffle_window > 1).then(|| Shuffle {
            window: shuffle_window,
            buffer: Vec::with_capacity(shuffle_window),
            rng: stream(seed, table, "#shuffle"),
        });
        Emission { kind, shuffle }
    }

    fn next_unshuffled(&mut self) -> Option<Slot> {
        match &mut self.kind {
            Kind::Generated {
                counts,
                parent,
                left,
            } => {
                while *left == 0 {
                    *parent += 1;
                    *left = *counts.get(*parent)?;
                }
                *left -= 1;
                Some((*parent as u32, None))
            }
            Kind::Scattered {
                remaining,
                total,
                rng,
            } => {
                if *total == 0 {
                    return None;
                }
                let draw = rng.random_range(0..*total);
                let parent = remaining.find(draw);
                remaining.subtract_one(parent);
                *total -= 1;
                Some((parent as u32, None))
            }
            Kind::Sorted { timelines, next } => {
                let Reverse((at, parent)) = next.pop()?;
                if let Some(following) = timelines[parent as usize].next_micros() {
                    next.push(Reverse((following, parent)));
                }
                Some((parent, Some(at)))
            }
        }
    }
}

impl Iterator for Emission {
    type Item = Slot;

    fn next(&mut self) -> Option<Slot> {
        if self.shuffle.is_none() {
            return self.next_unshuffled();
        }
        if self.shuffle.as_ref().is_some_and(|s| s.buffer.is_empty()) {
            let window = self.shuffle.as_ref().map_or(1, |s| s.window);
            let mut filled = Vec::with_capacity(window);
            while filled.len() < window {
                match self.next_unshuffled() {
                    Some(slot) => filled.push(slot),
                    None => break,
                }
            }
            let shuffle = self.shuffle.as_mut()?;
            // Fisher-Yates, then slots are popped from the end.
            for index in (1..filled.len()).rev() {
                let other = shuffle.rng.random_range(0..=index);
                filled.swap(index, other);
            }
            shuffle.buffer = filled;
        }
        self.shuffle.as_mut()?.buffer.pop()
    }
}

/// Sorted random instants for one parent: the k-th value is drawn as the minimum of
/// the remaining uniforms above the previous one, so the sequence comes out in
/// ascending order without being stored.
struct Timeline {
    rng: SeededRng,
    remaining: u64,
    /// The previous order statistic, in [0, 1].
    position: f64,
    window: Window,
}

impl Timeline {
    fn next_micros(&mut self) -> Option<i64> {
        if self.remaining == 0 {
            return None;
        }
        let draw: f64 = 1.0 - self.rng.random::<f64>();
        let step = 1.0 - draw.powf(1.0 / self.remaining as f64);
        self.position = (self.position + (1.0 - self.position) * step).min(1.0);
        self.remaining -= 1;
        // The window's inverse distribution function is increasing: order is kept.
        Some(self.window.at(self.position))
    }
}

/// Counts per parent with O(log n) "which parent holds the k-th remaining row".
struct Fenwick {
    tree: Vec<u64>,
}

impl Fenwick {
    fn new(counts: &[u64]) -> Fenwick {
        let mut tree = vec![0; counts.len() + 1];
        for (index, count) in counts.iter().enumerate() {
            let mut position = index + 1;
            while position < tree.len() {
                tree[position] += count;
                position += position & position.wrapping_neg();
            }
        }
        Fenwick { tree }
    }

    fn subtract_one(&mut self, index: usize) {
        let mut position = index + 1;
        while position < self.tree.len() {
            self.tree[position] -= 1;
            position += position & position.wrapping_neg();
        }
    }

    /// The index whose cumulative range holds `target` (0-based).
    fn find(&self, mut target: u64) -> usize {
        let mut position = 0;
        let mut step = (self.tree.len() - 1).next_power_of_two();
        while step > 0 {
            let next = position + step;
            if next < self.tree.len() && self.tree[next] <= target {
                target -= self.tree[next];
                position = next;
            }
            step /= 2;
        }
        position
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::generators::timestamp::Spread;

    fn per_parent(slots: &[Slot], parents: usize) -> Vec<u64> {
        let mut counts = vec![0; parents];
        for (parent, _) in slots {
            counts[*parent as usize] += 1;
        }
        counts
    }

    #[test]
    fn every_order_emits_exactly_the_counts() {
        let counts = vec![5, 0, 300, 1, 77];
        for order in [WriteOrder::Generated, WriteOrder::Scattered] {
            let slots: Vec<Slot> = Emission::new(&order, counts.clone(), None, 1, 7, "t").collect();
            assert_eq!(per_parent(&slots, 5), counts, "{order:?}");
        }
        let generated: Vec<Slot> =
            Emission::new(&WriteOrder::Generated, counts.clone(), None, 1, 7, "t").collect();
        assert!(generated.windows(2).all(|pair| pair[0].0 <= pair[1].0));
        let scattered: Vec<Slot> =
            Emission::new(&WriteOrder::Scattered, counts.clone(), None, 1, 7, "t").collect();
        assert!(!scattered.windows(2).all(|pair| pair[0].0 <= pair[1].0));
    }

    #[test]
    fn sorted_order_is_ascending_within_each_parents_window() {
        let windows = vec![
            Window {
                oldest_micros: 0,
                span_micros: 1e9,
                spread: Spread::Uniform,
            },
            Window {
                oldest_micros: 5e8 as i64,
                span_micros: 1e8,
                spread: Spread::Recent,
            },
        ];
        let slots: Vec<Slot> = Emission::new(
            &WriteOrder::Sorted { column: 0 },
            vec![1000, 50],
            Some(windows),
            1,
            3,
            "t",
        )
        .collect();
        assert_eq!(per_parent(&slots, 2), vec![1000, 50]);
        let times: Vec<i64> = slots.iter().map(|(_, at)| at.unwrap()).collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
        for (parent, at) in &slots {
            let at = at.unwrap();
            if *parent == 1 {
                assert!((5e8 as i64..=6e8 as i64).contains(&at));
            }
        }
    }

    #[test]
    fn shuffled_windows_keep_every_slot_and_stay_in_their_window() {
        // A thousand parents with one row each: the generated order is 0, 1, 2, …
        let sorted: Vec<Slot> =
            Emission::new(&WriteOrder::Generated, vec![1; 1000], None, 1, 1, "t").collect();
        let shuffled: Vec<Slot> =
            Emission::new(&WriteOrder::Generated, vec![1; 1000], None, 100, 1, "t").collect();
        assert_ne!(sorted, shuffled);
        assert_eq!(per_parent(&shuffled, 1000), vec![1; 1000]);
        for (position, (parent, _)) in shuffled.iter().enumerate() {
            assert_eq!(
                *parent as usize / 100,
                position / 100,
                "{parent} left its window"
            );
        }
    }

    #[test]
    fn fenwick_finds_the_owner_of_each_rank() {
        let tree = Fenwick::new(&[2, 0, 3]);
        let owners: Vec<usize> = (0..5).map(|rank| tree.find(rank)).collect();
        assert_eq!(owners, vec![0, 0, 2, 2, 2]);
    }
}
