//! The disk guard: a run that cannot fit is refused before it seeds, with exit code 2
//! and a message saying that this machine lacks the room for this scale, what it
//! would need, what there is, and what to do, rather than failing an hour in with the
//! server's "No space left on device" (or, on the docker backend's RAM-backed tmpfs,
//! with the machine swapping).
//!
//! Three steps, each only when the one before cannot settle it. Before any server
//! starts, [`refuse_absurd`] checks a lower bound that needs nothing but the dataset
//! model (every expected row at its header's 28 bytes) against [`CEILING_BYTES`], so
//! `--scale 1000000000000` is refused at once. After the schema is built, [`check`]
//! bounds the dataset's size from rows generated in memory (`load::upper_bound`),
//! which costs milliseconds; when seeding fits in [`ROOMY_SHARE`] of the free room
//! even at that bound, the run goes on. Only a run that may come close to the limit
//! pays for a sample seeded in a scratch database of its own and measured
//! (`load::estimate` states the model), and is refused when seeding needs more than
//! the server's storage has free (`Server::capacity`). Nothing in proportion to the
//! requested scale is laid out or allocated before the guard has passed.
//!
//! A refusal for size names a scale that the same guard accepts: the largest whose
//! need, by the same sampled estimate and against the same room (the free room
//! within the ceiling, measured after the sample as a run at that scale measures
//! it), leaves [`SUGGESTION_MARGIN`] of the room free, rounded down to two digits.
//! A refusal on the bare rows alone seeds the sample for that.

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::datagen::{DatasetModel, layout};
use crate::error::{Error, Result};
use crate::format::{format_bytes, format_count};
use crate::input::Scenario;
use crate::load;
use crate::load::estimate::{self, MIN_ROW_BYTES, SizeEstimate};
use crate::load::upper_bound;
use crate::outcome::SizeCheck;
use crate::provision::{Capacity, Server};
use crate::schema;
use crate::settings;

/// The most plancheck seeds on any backend, including a server it cannot see the
/// disk of (`--backend url`): a dataset of a tebibyte takes hours to generate and
/// load, which no plan scenario needs, so a larger estimate is taken for a mistyped
/// scale.
pub const CEILING_BYTES: f64 = (1u64 << 40) as f64;

/// The share of the free room (or of [`CEILING_BYTES`] when the free room is not
/// known) under which the cheap upper bound settles the check. The bound is built
/// never to fall below the truth (about two and a half times it on the test
/// datasets), so a run it puts under a quarter uses at most that in fact, usually a
/// tenth: far enough from the limit that a seeded sample, which costs a second seed,
/// would not change the answer.
pub const ROOMY_SHARE: f64 = 0.25;

/// What the guard found, for the report.
#[derive(Debug, Clone)]
pub struct DiskCheck {
    pub estimate: SizeEstimate,
    /// Room seeding needs at its peak.
    pub required_bytes: f64,
    /// What the estimate was checked against.
    pub capacity: Capacity,
}

impl DiskCheck {
    /// The report's record of the check.
    pub fn facts(&self) -> SizeCheck {
        SizeCheck {
            estimated_bytes: self.estimate.data_bytes().round() as u64,
            method: self.estimate.method,
            required_bytes: self.required_bytes.round() as u64,
            available_bytes: self.capacity.available,
            checked_against: self.capacity.measured.clone(),
        }
    }

    /// A note for the run's environment when free space could not be checked: the
    /// guard then held the estimate against the ceiling only.
    pub fn warning(&self) -> Option<String> {
        self.capacity.available.is_none().then(|| {
            format!(
                "disk guard: free space not checked ({}); the dataset, estimated at {} ({} while seeding), was held against the {} ceiling only",
                self.capacity.measured,
                format_bytes(self.estimate.data_bytes()),
                format_bytes(self.required_bytes),
                format_bytes(CEILING_BYTES)
            )
        })
    }
}

/// Refuses a scale at which even the dataset's bare rows exceed [`CEILING_BYTES`].
/// Needs no server and allocates nothing in proportion to the scale. `flag` is how
/// the user gave the scale (`--scale`, `--scales`), for the message.
pub fn refuse_absurd(scenario: &Scenario, scale: u64, flag: &str) -> Result<()> {
    let dataset = &scenario.dataset;
    let expected = layout::expected_rows(&dataset.model, scale);
    let least = estimate::lower_bound_bytes(&expected);
    if least <= CEILING_BYTES {
        return Ok(());
    }
    Err(Error::input(
        &dataset.path,
        format!(
            "{flag} {scale} ({} rows of {}) makes {} rows in all, at least {} before any column or index \
             ({MIN_ROW_BYTES} bytes of row header each), over the {} plancheck seeds at most on any backend; \
             lower {flag} (the dataset's own is {})",
            format_count(scale as f64),
            dataset.scale_table(),
            format_count(expected.iter().sum()),
            format_bytes(least),
            format_bytes(CEILING_BYTES),
            format_count(dataset.default_scale as f64),
        ),
    ))
}

/// Estimates the size of `scenario`'s dataset at `scale` and refuses the run when
/// seeding it needs more than `server`'s storage has free, or more than
/// [`CEILING_BYTES`]. `client` is connected to the database the run will seed, its
/// schema built and empty, whose generated columns have `types`; `lanes` is how many
/// index builds run at once. The upper bound is tried first; a sample, when needed,
/// is seeded in a scratch database of its own, dropped before the capacity is
/// measured again, so nothing of it reaches the run's database. A refusal names the
/// largest round scale the same sample and room accept (see [`scale_that_fits`]).
pub async fn check(
    server: &Server,
    client: &Client,
    scenario: &Scenario,
    types: &[Vec<(String, Type)>],
    scale: u64,
    seed: u64,
    lanes: usize,
) -> Result<DiskCheck> {
    // Again, for callers that did not ask before starting the server (the benches).
    refuse_absurd(scenario, scale, "--scale")?;
    let run = Run {
        server,
        client,
        scenario,
        types,
        seed,
        lanes,
    };
    let dataset = &scenario.dataset;
    let expected = layout::expected_rows(&dataset.model, scale);
    let capacity = server.capacity().await;
    let sample_scale = estimate::sample_scale(dataset, scale, seed)?;
    let least = bare_rows_bytes(&expected);
    if let Some(available) = capacity.available.filter(|free| least > *free as f64) {
        let described = format!(
            "its {} rows need at least {} before any column or index",
            format_count(expected.iter().sum()),
            format_bytes(least)
        );
        let suggestion = run
            .suggest_from_sample(scale, sample_scale, available)
            .await?;
        return Err(shortfall(
            scenario, scale, &described, suggestion, available, &capacity,
        ));
    }
    let bound =
        upper_bound::estimate(client, dataset, types, &expected, scale, sample_scale, seed).await?;
    let bound_required = bound.required_bytes(lanes);
    if bound_required <= ROOMY_SHARE * room(&capacity) {
        return Ok(DiskCheck {
            estimate: bound,
            required_bytes: bound_required,
            capacity,
        });
    }
    let sampled = SampledSize::measure(server, scenario, sample_scale, seed).await?;
    let estimate = sampled.estimate(scale);
    let required = estimate.required_bytes(lanes);
    // Measured again: the sample's database has come and gone since, and not all
    // the room it took is given back (the server keeps the WAL it wrote).
    let capacity = server.capacity().await;
    let described = format!(
        "its tables and indexes come to about {} (estimated from a sample seeded at --scale {}), \
         and seeding needs about {} with room to sort the largest indexes and a {:.0}% margin",
        format_bytes(estimate.data_bytes()),
        format_count(sample_scale as f64),
        format_bytes(required),
        estimate::MARGIN * 100.0
    );
    match verdict(scale, required, &capacity, |at| sampled.need(at, lanes)) {
        Verdict::Fits => Ok(DiskCheck {
            estimate,
            required_bytes: required,
            capacity,
        }),
        Verdict::OverCeiling(suggestion) => Err(over_ceiling(
            scenario, scale, &described, suggestion, &capacity,
        )),
        Verdict::Short {
            available,
            suggestion,
        } => Err(shortfall(
            scenario, scale, &described, suggestion, available, &capacity,
        )),
    }
}

/// The run the guard checks: the server and database it seeds, what, and with how
/// many index builds at once.
struct Run<'a> {
    server: &'a Server,
    client: &'a Client,
    scenario: &'a Scenario,
    types: &'a [Vec<(String, Type)>],
    seed: u64,
    lanes: usize,
}

impl Run<'_> {
    /// The scale a refusal of `scale` on its bare rows suggests, with `free` bytes
    /// free. The bare rows say how much is too much, not what would fit, so the
    /// sample a run at a smaller scale would seed is seeded now (about a second) and
    /// the suggestion comes from it, against the room measured after it as such a
    /// run measures it. Only when even the sample may not fit is it not seeded.
    async fn suggest_from_sample(
        &self,
        scale: u64,
        sample_scale: u64,
        free: u64,
    ) -> Result<Suggestion> {
        if !self.sample_fits(sample_scale, free).await? {
            return Ok(Suggestion::NoRoomForSample { sample_scale });
        }
        let sampled =
            SampledSize::measure(self.server, self.scenario, sample_scale, self.seed).await?;
        let room = room(&self.server.capacity().await);
        Ok(scale_that_fits(scale, room, |at| {
            sampled.need(at, self.lanes)
        }))
    }

    /// Whether the sample at `sample_scale` surely fits `free` bytes: its upper
    /// bound, which never falls below the truth, does, with room for the one index
    /// build at a time of its single connection.
    async fn sample_fits(&self, sample_scale: u64, free: u64) -> Result<bool> {
        let dataset = &self.scenario.dataset;
        let rows = layout::expected_rows(&dataset.model, sample_scale);
        let bound = upper_bound::estimate(
            self.client,
            dataset,
            self.types,
            &rows,
            sample_scale,
            sample_scale,
            self.seed,
        )
        .await?;
        Ok(bound.required_bytes(1) <= free as f64)
    }
}

/// The least room a dataset of `expected` rows (per table) needs: its bare rows
/// ([`estimate::lower_bound_bytes`]) with the guard's margin.
fn bare_rows_bytes(expected: &[f64]) -> f64 {
    estimate::lower_bound_bytes(expected) * (1.0 + estimate::MARGIN)
}

/// The room the estimate is held against: the free room, within the ceiling.
fn room(capacity: &Capacity) -> f64 {
    capacity
        .available
        .map_or(CEILING_BYTES, |free| (free as f64).min(CEILING_BYTES))
}

/// What the guard decides once a sample has been measured: seeding at `scale`, which
/// needs `required` bytes, fits `capacity`, or it is over the ceiling or the free
/// room, and then `need_at` (what seeding needs at any scale, by every measure the
/// guard applies) gives the scale to suggest, held against the smaller of the two.
fn verdict(
    scale: u64,
    required: f64,
    capacity: &Capacity,
    need_at: impl Fn(u64) -> f64,
) -> Verdict {
    if required > CEILING_BYTES {
        return Verdict::OverCeiling(scale_that_fits(scale, room(capacity), need_at));
    }
    match capacity.available.filter(|free| required > *free as f64) {
        Some(available) => Verdict::Short {
            available,
            suggestion: scale_that_fits(scale, room(capacity), need_at),
        },
        None => Verdict::Fits,
    }
}

/// The guard's decision on a measured sample.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Fits,
    /// Over [`CEILING_BYTES`], whatever the free room.
    OverCeiling(Suggestion),
    /// Over the `available` bytes the server's storage has free.
    Short {
        available: u64,
        suggestion: Suggestion,
    },
}

/// What a refusal tells the user to do about `--scale`.
#[derive(Debug, Clone, PartialEq)]
enum Suggestion {
    /// A round scale the same guard accepts.
    Scale(u64),
    /// Not even `--scale 1` fits.
    NoScale,
    /// The free room cannot hold the sample the suggestion would be measured on.
    NoRoomForSample { sample_scale: u64 },
}

impl std::fmt::Display for Suggestion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Suggestion::Scale(scale) => write!(
                f,
                "lower --scale (about {} would fit)",
                format_count(*scale as f64)
            ),
            Suggestion::NoScale => write!(f, "no --scale fits, not even 1"),
            Suggestion::NoRoomForSample { sample_scale } => write!(
                f,
                "lower --scale (the free room cannot hold even the sample at --scale {} the disk guard would measure to say how far)",
                format_count(*sample_scale as f64)
            ),
        }
    }
}

/// The share of the room a suggested scale leaves unused: a run at it measures the
/// free room again, which other processes may have taken some of since, and a run
/// below the sample scale seeds a sample of its own (its whole dataset), whose figure
/// the extrapolation from this one only approaches.
pub const SUGGESTION_MARGIN: f64 = 0.05;

/// The scale a refusal of `scale` suggests: the largest below it whose need
/// (`need_at`) is within `room` less [`SUGGESTION_MARGIN`], rounded down to two
/// significant digits. Found by bisection rather than by taking the need as
/// proportional to the scale, which tables of fixed size and the fixed pages of
/// every relation make it not: that suggested scales the guard then refused.
/// `need_at` grows with the scale (expected rows do, and each relation's size with
/// its rows), so the bisection finds the largest, and rounding down keeps it within;
/// the rounded value is checked all the same.
fn scale_that_fits(scale: u64, room: f64, need_at: impl Fn(u64) -> f64) -> Suggestion {
    let limit = room * (1.0 - SUGGESTION_MARGIN);
    let fits = |at: u64| need_at(at) <= limit;
    if scale <= 1 || !fits(1) {
        return Suggestion::NoScale;
    }
    // `scale` itself was refused: the answer is below it.
    let (mut fitting, mut over) = (1u64, scale);
    while over - fitting > 1 {
        let middle = fitting + (over - fitting) / 2;
        if fits(middle) {
            fitting = middle;
        } else {
            over = middle;
        }
    }
    let rounded = round_down_to_two_digits(fitting);
    Suggestion::Scale(if fits(rounded) { rounded } else { fitting })
}

/// `n` rounded down to its two leading digits: 61,874 to 61,000.
fn round_down_to_two_digits(n: u64) -> u64 {
    let mut unit = 1;
    while n / unit >= 100 {
        unit *= 10;
    }
    n / unit * unit
}

/// A seeded sample's measurements and the dataset's size they give at any scale.
/// The verdict and the scale a refusal suggests both come from here, so that a
/// suggested scale is held to the very figure a run at it gets: every scale from the
/// sample scale up samples the same rows (`estimate::sample_scale` depends on the
/// dataset and seed alone there).
pub struct SampledSize<'a> {
    model: &'a DatasetModel,
    samples: Vec<estimate::TableSample>,
    sample_scale: u64,
}

impl<'a> SampledSize<'a> {
    /// Seeds `scenario`'s dataset at `sample_scale` (from [`estimate::sample_scale`])
    /// in a scratch database of its own and measures it.
    pub async fn measure(
        server: &Server,
        scenario: &'a Scenario,
        sample_scale: u64,
        seed: u64,
    ) -> Result<SampledSize<'a>> {
        Ok(SampledSize {
            model: &scenario.dataset.model,
            samples: measure_in_scratch(server, scenario, sample_scale, seed).await?,
            sample_scale,
        })
    }

    /// The dataset's size at `scale`, scaled from the sample.
    pub fn estimate(&self, scale: u64) -> SizeEstimate {
        let expected = layout::expected_rows(self.model, scale);
        estimate::extrapolate(&self.samples, &expected, scale, self.sample_scale)
    }

    /// What seeding at `scale` with `lanes` index builds needs by every measure the
    /// guard applies: the estimate's [`SizeEstimate::required_bytes`], and never less
    /// than the bare rows with the margin.
    fn need(&self, scale: u64, lanes: usize) -> f64 {
        let expected = layout::expected_rows(self.model, scale);
        estimate::extrapolate(&self.samples, &expected, scale, self.sample_scale)
            .required_bytes(lanes)
            .max(bare_rows_bytes(&expected))
    }
}

/// The size of `scenario`'s dataset at `scale`, measured on a sample seeded at
/// `sample_scale` (from [`estimate::sample_scale`]) in a scratch database of its own
/// and scaled: the guard's precise figure, for a run that may come close to the
/// limit.
pub async fn sampled_estimate(
    server: &Server,
    scenario: &Scenario,
    scale: u64,
    sample_scale: u64,
    seed: u64,
) -> Result<SizeEstimate> {
    Ok(SampledSize::measure(server, scenario, sample_scale, seed)
        .await?
        .estimate(scale))
}

/// Builds the schema in a scratch database of its own, seeds the sample there and
/// measures it; the database is dropped whatever happens.
async fn measure_in_scratch(
    server: &Server,
    scenario: &Scenario,
    sample_scale: u64,
    seed: u64,
) -> Result<Vec<estimate::TableSample>> {
    let scratch = server
        .create_scratch(&format!("{}_size_sample", scenario.name))
        .await?;
    let measured = async {
        // The settings the run's database gets, some of which change what a row
        // takes on disk (`default_toast_compression`).
        let admin = scratch.connect().await?;
        settings::pin(&admin, &scratch.name, &scenario.settings, &scenario.path).await?;
        drop(admin);
        let mut clients = vec![scratch.connect().await?];
        // As for the real seed: a timeout the role carries is for queries, not loads.
        clients[0]
            .batch_execute(
                "SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0",
            )
            .await
            .map_err(Error::database("setting the sample's session timeouts"))?;
        schema::apply(&clients[0], &scenario.dataset.schema).await?;
        let types = load::column_types(&clients[0], &scenario.dataset).await?;
        estimate::measure_sample(&mut clients, &scenario.dataset, &types, sample_scale, seed).await
    }
    .await;
    let dropped = scratch.drop_database().await;
    let samples = measured?;
    dropped?;
    Ok(samples)
}

/// The refusal when seeding needs more than [`CEILING_BYTES`]. Its suggestion is held
/// against the free room too when that is the smaller, so the message says so, or the
/// scale it names would look too small.
fn over_ceiling(
    scenario: &Scenario,
    scale: u64,
    described: &str,
    suggestion: Suggestion,
    capacity: &Capacity,
) -> Error {
    let free = match capacity.available {
        Some(free) if (free as f64) < CEILING_BYTES => format!(
            ", and only {} is {}",
            format_bytes(free as f64),
            capacity.measured
        ),
        _ => String::new(),
    };
    Error::input(
        &scenario.dataset.path,
        format!(
            "at --scale {scale} {described}: over the {} plancheck seeds at most on any backend{free}; {suggestion}",
            format_bytes(CEILING_BYTES),
        ),
    )
}

/// The refusal when seeding needs more than the `available` bytes: `described` says
/// how much, `suggestion` what scale would fit.
// Exit code 2, bad input, though the machine is what falls short: the scale is the
// input, and lowering it is what the user does about it (as the issue that asked for
// the guard says); 3 would say that plancheck or its server failed.
fn shortfall(
    scenario: &Scenario,
    scale: u64,
    described: &str,
    suggestion: Suggestion,
    available: u64,
    capacity: &Capacity,
) -> Error {
    let what_to_do = match suggestion {
        Suggestion::NoScale => format!("{suggestion}: {}", capacity.remedy),
        _ => format!("{suggestion}, or {}", capacity.remedy),
    };
    Error::input(
        &scenario.dataset.path,
        format!(
            "this machine lacks the room for --scale {scale} ({} rows of {}): {described}, but only {} is {}; {what_to_do}",
            format_count(scale as f64),
            scenario.dataset.scale_table(),
            format_bytes(available as f64),
            capacity.measured,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: f64 = (1u64 << 30) as f64;

    fn free(bytes: f64) -> Capacity {
        Capacity {
            available: Some(bytes as u64),
            measured: "free here".into(),
            remedy: "make room".into(),
        }
    }

    #[test]
    fn the_suggested_scale_is_the_largest_round_one_within_the_room_less_the_margin() {
        // A kilobyte a row: 95% of 123 MB is 116,850 rows, rounded down.
        let per_row = |at: u64| at as f64 * 1000.0;
        assert_eq!(
            scale_that_fits(1_000_000, 1.23e8, per_row),
            Suggestion::Scale(110_000)
        );
        // 95% of 33 MB is 31,350 rows, rounded down.
        assert_eq!(
            scale_that_fits(1_000_000, 3.3e7, per_row),
            Suggestion::Scale(31_000)
        );
        assert_eq!(scale_that_fits(10, 1.0, per_row), Suggestion::NoScale);
        assert_eq!(
            Suggestion::Scale(330_000).to_string(),
            "lower --scale (about 330,000 would fit)"
        );
    }

    #[test]
    fn a_need_that_does_not_grow_in_proportion_still_gets_a_scale_that_fits() {
        // 40 MB whatever the scale and a kilobyte a row: in proportion to the
        // refused 400,000 rows (440 MB) 66 MB would take 60,000 rows, which need 100 MB.
        let need_at = |at: u64| 4.0e7 + at as f64 * 1000.0;
        let Suggestion::Scale(suggested) = scale_that_fits(400_000, 6.6e7, need_at) else {
            panic!("no scale suggested");
        };
        assert_eq!(suggested, 22_000);
        assert!(need_at(suggested) <= 6.6e7 * (1.0 - SUGGESTION_MARGIN));
    }

    #[test]
    fn an_estimate_over_the_ceiling_suggests_a_scale_within_the_free_room_when_that_is_smaller() {
        // A kilobyte a row, 2 billion rows (1.8 TiB), and 100 GiB free: held against the
        // ceiling, a billion rows would be suggested and then refused for the disk.
        let need_at = |at: u64| at as f64 * 1000.0;
        let capacity = free(100.0 * GIB);
        let refused = verdict(2_000_000_000, need_at(2_000_000_000), &capacity, need_at);
        assert_eq!(
            refused,
            Verdict::OverCeiling(Suggestion::Scale(100_000_000))
        );
        assert!(need_at(100_000_000) <= 100.0 * GIB);
        // With more free than the ceiling, the ceiling bounds it.
        let roomy = free(4.0 * CEILING_BYTES);
        assert_eq!(
            verdict(2_000_000_000, need_at(2_000_000_000), &roomy, need_at),
            Verdict::OverCeiling(Suggestion::Scale(1_000_000_000))
        );
    }

    #[test]
    fn a_scale_within_the_room_fits_and_one_over_it_is_short() {
        let need_at = |at: u64| at as f64 * 1000.0;
        let capacity = free(GIB);
        assert_eq!(
            verdict(1000, need_at(1000), &capacity, need_at),
            Verdict::Fits
        );
        assert_eq!(
            verdict(2_000_000, need_at(2_000_000), &capacity, need_at),
            Verdict::Short {
                available: GIB as u64,
                suggestion: Suggestion::Scale(1_000_000)
            }
        );
    }

    #[test]
    fn two_leading_digits_are_kept() {
        assert_eq!(round_down_to_two_digits(61_874), 61_000);
        assert_eq!(round_down_to_two_digits(99), 99);
        assert_eq!(round_down_to_two_digits(100), 100);
        assert_eq!(round_down_to_two_digits(1), 1);
        assert_eq!(
            round_down_to_two_digits(u64::MAX),
            18_000_000_000_000_000_000
        );
    }
}
