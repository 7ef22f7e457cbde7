//! The workflow runs, generated one at a time in `created_at` order across all
//! organizations, the order an append-mostly production table is written in (so the
//! physical order of the heap, and the correlation statistic the planner reads, match
//! production). Each organization's timestamps come from its own seeded stream of
//! sorted random instants, and a small heap merges those streams: memory stays
//! proportional to the number of organizations, never to the number of runs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Utc};
use rand::RngExt;
use uuid::Uuid;

use super::copy::JsonbText;
use super::shape::{Population, SeededRng, Stream, rng_for, uuid_from};
use crate::scenario::dataset::RUN_STATES;
use crate::scenario::file::{Spread, WriteOrder};

/// Runner types as the control plane names them, with a production-like skew.
const RUNNER_TYPES: [(&str, u32); 7] = [
    ("GITHUB_ACTION", 55),
    ("GITLAB_PIPELINE", 20),
    ("AZURE_PIPELINE", 8),
    ("JENKINS_JOB", 7),
    ("CIRCLECI_BUILD", 5),
    ("DAGGER_PIPELINE", 3),
    ("TEAMCITY_PIPELINE", 2),
];

/// One generated run, in the column order of `COPY workflow_runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub state: &'static str,
    pub reason: Option<String>,
    pub run_url: String,
    pub runner_type: &'static str,
    pub attestation: Option<JsonbText>,
    pub attestation_digest: Option<String>,
    pub contract_revision_used: i32,
    pub contract_revision_latest: i32,
    pub version_id: Uuid,
    pub workflow_id: Uuid,
    pub organization_id: Uuid,
}

/// Sorted random instants for one organization: the k-th value is drawn as the
/// minimum of the remaining uniforms above the previous one, so the sequence comes out
/// in ascending order without being stored.
struct Timeline {
    rng: SeededRng,
    remaining: u64,
    /// The previous order statistic, in [0, 1].
    position: f64,
    oldest_micros: i64,
    span_micros: i64,
    spread: Spread,
}

impl Timeline {
    /// An instant drawn independently of the previous ones, for scattered order.
    fn next_unsorted_micros(&mut self) -> i64 {
        self.remaining = self.remaining.saturating_sub(1);
        let draw: f64 = self.rng.random();
        self.micros_at(draw)
    }

    /// The instant at uniform quantile `position`, through the spread's inverse CDF.
    fn micros_at(&self, position: f64) -> i64 {
        let fraction = match self.spread {
            Spread::Uniform => position,
            // Density rising linearly to the recent end: F(x) = x², F⁻¹(u) = √u.
            Spread::Recent => position.sqrt(),
        };
        self.oldest_micros + (fraction * self.span_micros as f64) as i64
    }

    fn next_micros(&mut self) -> Option<i64> {
        if self.remaining == 0 {
            return None;
        }
        let draw: f64 = 1.0 - self.rng.random::<f64>();
        let step = 1.0 - draw.powf(1.0 / self.remaining as f64);
        self.position = (self.position + (1.0 - self.position) * step).min(1.0);
        self.remaining -= 1;
        // The inverse CDF is increasing, so the order is kept.
        Some(self.micros_at(self.position))
    }
}

/// All runs of a population in `created_at` order.
pub struct RunStream<'a> {
    population: &'a Population,
    timelines: Vec<Timeline>,
    /// The next instant of each organization, smallest first; ties go to the
    /// organization generated first.
    next: BinaryHeap<Reverse<(i64, usize)>>,
    rng: SeededRng,
    runner_weights_total: u32,
    state_thresholds: Vec<(f64, &'static str)>,
    run_number: u64,
    order: WriteOrder,
    /// Runs left to draw in scattered order.
    unsorted_remaining: u64,
}

impl<'a> RunStream<'a> {
    /// A stream over `population`'s runs in `order`; `states` are the dataset's state
    /// shares.
    pub fn new(
        population: &'a Population,
        states: &[(&'static str, f64)],
        seed: u64,
        order: WriteOrder,
    ) -> RunStream<'a> {
        let mut timelines: Vec<Timeline> = population
            .organizations
            .iter()
            .enumerate()
            .map(|(index, org)| Timeline {
                rng: rng_for(seed, Stream::OrganizationTimeline, index as u64),
                remaining: org.runs,
                position: 0.0,
                oldest_micros: org.active.0.timestamp_micros(),
                span_micros: (org.active.1 - org.active.0)
                    .num_microseconds()
                    .unwrap_or(i64::MAX),
                spread: org.spread,
            })
            .collect();
        // Time order merges the organizations' sorted timelines; scattered order draws
        // from them directly and needs no merge.
        let next = match order {
            WriteOrder::Time => timelines
                .iter_mut()
                .enumerate()
                .filter_map(|(index, timeline)| {
                    timeline.next_micros().map(|at| Reverse((at, index)))
                })
                .collect(),
            WriteOrder::Scattered => BinaryHeap::new(),
        };
        let unsorted_remaining = population.total_runs();
        let mut cumulative = 0.0;
        let state_thresholds = states
            .iter()
            .filter(|(_, share)| *share > 0.0)
            .map(|(state, share)| {
                cumulative += share;
                (cumulative, *state)
            })
            .collect();
        debug_assert!(states.iter().all(|(state, _)| RUN_STATES.contains(state)));
        RunStream {
            population,
            timelines,
            next,
            rng: rng_for(seed, Stream::RunAttributes, 0),
            runner_weights_total: RUNNER_TYPES.iter().map(|(_, weight)| weight).sum(),
            state_thresholds,
            run_number: 0,
            order,
            unsorted_remaining,
        }
    }

    fn pick_state(&mut self) -> &'static str {
        let draw: f64 = self.rng.random();
        self.state_thresholds
            .iter()
            .find(|(threshold, _)| draw < *threshold)
            .or(self.state_thresholds.last())
            .map_or("success", |(_, state)| *state)
    }

    fn pick_runner(&mut self) -> &'static str {
        let mut draw = self.rng.random_range(0..self.runner_weights_total);
        for (runner, weight) in RUNNER_TYPES {
            if draw < weight {
                return runner;
            }
            draw -= weight;
        }
        RUNNER_TYPES[0].0
    }

    fn build(&mut self, org_index: usize, created_micros: i64) -> Run {
        let org = &self.population.organizations[org_index];
        // Skewed towards the first workflows: a few pipelines run most of the time.
        let skew: f64 = self.rng.random();
        let workflow_index = ((skew * skew) * org.workflows.len() as f64) as usize;
        let workflow = &org.workflows[workflow_index.min(org.workflows.len() - 1)];
        let project = &org.projects[workflow.project];
        let version = &project.versions[self.rng.random_range(0..project.versions.len())];
        let created_at = DateTime::from_timestamp_micros(created_micros).unwrap_or_default();
        let state = self.pick_state();
        let finished_at = (state != "initialized").then(|| {
            // Most pipelines take minutes, some take an hour.
            let seconds = 20.0 * (self.rng.random::<f64>() * 5.3).exp();
            created_at + chrono::Duration::milliseconds((seconds * 1000.0) as i64)
        });
        let reason = matches!(state, "error" | "cancelled" | "expired").then(|| {
            let index = self.rng.random_range(0..self.population.reasons.len());
            self.population.reasons[index].clone()
        });
        let runner_type = self.pick_runner();
        self.run_number += 1;
        let run_url = match runner_type {
            "GITHUB_ACTION" => format!(
                "https://github.com/{}/{}/actions/runs/{}",
                org.slug,
                project.name,
                4_000_000_000 + self.run_number
            ),
            "GITLAB_PIPELINE" => format!(
                "https://gitlab.com/{}/{}/-/pipelines/{}",
                org.slug,
                project.name,
                900_000_000 + self.run_number
            ),
            _ => format!(
                "https://ci.{}.example/{}/builds/{}",
                org.slug, project.name, self.run_number
            ),
        };
        let (attestation, attestation_digest) = if state == "success" && self.rng.random_bool(0.95)
        {
            let subject = hex(&self.rng.random::<[u8; 32]>());
            let digest = format!("sha256:{}", hex(&self.rng.random::<[u8; 32]>()));
            let document = format!(
                r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"{project}","digest":{{"sha256":"{subject}"}}}}],"predicateType":"chainloop.dev/attestation/v0.2","predicate":{{"workflow":"{workflow}","version":"{version}","runnerType":"{runner_type}","buildURL":"{run_url}"}}}}"#,
                project = project.name,
                workflow = workflow.name,
                version = version.1,
            );
            (Some(JsonbText(document)), Some(digest))
        } else {
            (None, None)
        };
        let latest = workflow.contract_revision;
        let used = if latest > 1 && self.rng.random_bool(0.1) {
            latest - 1
        } else {
            latest
        };
        Run {
            id: uuid_from(&mut self.rng),
            created_at,
            finished_at,
            state,
            reason,
            run_url,
            runner_type,
            attestation,
            attestation_digest,
            contract_revision_used: used,
            contract_revision_latest: latest,
            version_id: version.0,
            workflow_id: workflow.id,
            organization_id: org.id,
        }
    }
}

impl RunStream<'_> {
    /// The next run in scattered order: an organization chosen with probability
    /// proportional to the runs it has left (so counts stay exact), at an instant
    /// drawn independently from its window.
    fn next_scattered(&mut self) -> Option<Run> {
        if self.unsorted_remaining == 0 {
            return None;
        }
        let mut draw = self.rng.random_range(0..self.unsorted_remaining);
        let org_index = self
            .timelines
            .iter()
            .position(|timeline| {
                if draw < timeline.remaining {
                    return true;
                }
                draw -= timeline.remaining;
                false
            })
            .expect("the draw is below the total of the remaining counts");
        self.unsorted_remaining -= 1;
        let at = self.timelines[org_index].next_unsorted_micros();
        Some(self.build(org_index, at))
    }
}

impl Iterator for RunStream<'_> {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        if self.order == WriteOrder::Scattered {
            return self.next_scattered();
        }
        let Reverse((at, org_index)) = self.next.pop()?;
        if let Some(following) = self.timelines[org_index].next_micros() {
            self.next.push(Reverse((following, org_index)));
        }
        Some(self.build(org_index, at))
    }
}

/// Reorders a stream within consecutive windows of `window` items, with a seeded
/// shuffle. Runs are generated in `created_at` order, but a production heap is only
/// roughly in that order: every run is written again when it finishes, and because
/// `state` is indexed that update is not HOT, so the final version of a run lands
/// wherever there was free space, away from its neighbours in time. Shuffling within
/// windows keeps the table's overall time order (and the planner's correlation
/// statistic) while neighbours in the index no longer share a heap page. Memory is
/// bounded by the window.
pub struct WindowShuffle<I: Iterator> {
    inner: I,
    window: usize,
    buffer: Vec<I::Item>,
    rng: SeededRng,
}

impl<I: Iterator> WindowShuffle<I> {
    /// `window` of 1 keeps the order as it is.
    pub fn new(inner: I, window: usize, seed: u64) -> WindowShuffle<I> {
        WindowShuffle {
            inner,
            window: window.max(1),
            buffer: Vec::with_capacity(window.max(1)),
            rng: rng_for(seed, Stream::WriteOrder, 0),
        }
    }
}

impl<I: Iterator> Iterator for WindowShuffle<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        if self.buffer.is_empty() {
            self.buffer.extend(self.inner.by_ref().take(self.window));
            // Fisher-Yates, then items are popped from the end.
            for index in (1..self.buffer.len()).rev() {
                let other = self.rng.random_range(0..=index);
                self.buffer.swap(index, other);
            }
        }
        self.buffer.pop()
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Dataset;

    fn dataset() -> Dataset {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/datasets/workflow-runs.toml");
        Dataset::load(&path).expect("the shipped dataset loads")
    }

    #[test]
    fn runs_come_out_in_time_order_with_exact_counts_per_organization() {
        let dataset = dataset();
        let population = Population::generate(&dataset, 20_000, 7).unwrap();
        let runs: Vec<Run> =
            RunStream::new(&population, &dataset.states, 7, WriteOrder::Time).collect();
        assert_eq!(runs.len() as u64, population.total_runs());
        assert!(
            runs.windows(2)
                .all(|pair| pair[0].created_at <= pair[1].created_at)
        );
        let scattered: Vec<Run> =
            RunStream::new(&population, &dataset.states, 7, WriteOrder::Scattered).collect();
        assert_eq!(scattered.len(), runs.len());
        assert!(
            !scattered
                .windows(2)
                .all(|pair| pair[0].created_at <= pair[1].created_at)
        );
        for org in &population.organizations {
            for order in [&runs, &scattered] {
                let mine: Vec<&Run> = order
                    .iter()
                    .filter(|run| run.organization_id == org.id)
                    .collect();
                assert_eq!(mine.len() as u64, org.runs, "organization {}", org.name);
                assert!(mine.iter().all(|run| run.created_at >= org.active.0 && run.created_at <= org.active.1));
            }
        }
    }

    #[test]
    fn window_shuffle_keeps_every_item_and_stays_within_its_window() {
        let shuffled: Vec<u32> = WindowShuffle::new(0..1000u32, 100, 3).collect();
        assert_ne!(shuffled, (0..1000).collect::<Vec<_>>());
        let mut sorted = shuffled.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        for (position, item) in shuffled.iter().enumerate() {
            assert_eq!(
                position / 100,
                *item as usize / 100,
                "{item} left its window"
            );
        }
        let unchanged: Vec<u32> = WindowShuffle::new(0..10u32, 1, 3).collect();
        assert_eq!(unchanged, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn same_seed_same_rows_other_seed_other_rows() {
        let dataset = dataset();
        let generate = |seed| {
            let population = Population::generate(&dataset, 5_000, seed).unwrap();
            RunStream::new(&population, &dataset.states, seed, WriteOrder::Time)
                .collect::<Vec<Run>>()
        };
        assert_eq!(generate(42), generate(42));
        assert_ne!(generate(42)[0].id, generate(43)[0].id);
    }

    #[test]
    fn state_mix_follows_the_dataset() {
        let dataset = dataset();
        let population = Population::generate(&dataset, 50_000, 1).unwrap();
        let runs: Vec<Run> =
            RunStream::new(&population, &dataset.states, 1, WriteOrder::Time).collect();
        for (state, share) in &dataset.states {
            let observed =
                runs.iter().filter(|run| run.state == *state).count() as f64 / runs.len() as f64;
            assert!(
                (observed - share).abs() < 0.01,
                "{state}: {observed} vs {share}"
            );
        }
    }
}
