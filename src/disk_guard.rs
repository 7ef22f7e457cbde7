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

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::datagen::layout;
use crate::error::{Error, Result};
use crate::input::Scenario;
use crate::judge::{format_bytes, format_count};
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
/// Needs no server and allocates nothing in proportion to the scale.
pub fn refuse_absurd(scenario: &Scenario, scale: u64) -> Result<()> {
    let dataset = &scenario.dataset;
    let expected = layout::expected_rows(&dataset.model, scale);
    let least = estimate::lower_bound_bytes(&expected);
    if least <= CEILING_BYTES {
        return Ok(());
    }
    Err(Error::input(
        &dataset.path,
        format!(
            "--scale {scale} ({} rows of {}) makes {} rows in all, at least {} before any column or index \
             ({MIN_ROW_BYTES} bytes of row header each), over the {} plancheck seeds at most on any backend; \
             lower --scale (the dataset's own is {})",
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
/// measured again, so nothing of it reaches the run's database.
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
    refuse_absurd(scenario, scale)?;
    let dataset = &scenario.dataset;
    let expected = layout::expected_rows(&dataset.model, scale);
    let capacity = server.capacity().await;
    refuse_bare_rows(scenario, scale, &expected, &capacity)?;
    let sample_scale = estimate::sample_scale(dataset, scale, seed)?;
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
    let estimate = sampled_estimate(server, scenario, scale, sample_scale, seed).await?;
    let required = estimate.required_bytes(lanes);
    let described = format!(
        "its tables and indexes come to about {} (estimated from a sample seeded at --scale {}), \
         and seeding needs about {} with room to sort the largest indexes and a {:.0}% margin",
        format_bytes(estimate.data_bytes()),
        format_count(sample_scale as f64),
        format_bytes(required),
        estimate::MARGIN * 100.0
    );
    if required > CEILING_BYTES {
        return Err(Error::input(
            &dataset.path,
            format!(
                "at --scale {scale} {described}: over the {} plancheck seeds at most on any backend; lower --scale (about {} would fit)",
                format_bytes(CEILING_BYTES),
                scale_that_fits(scale, required, CEILING_BYTES)
            ),
        ));
    }
    // Measured again: the sample's database has come and gone since.
    let capacity = server.capacity().await;
    if let Some(available) = capacity.available.filter(|free| required > *free as f64) {
        return Err(shortfall(
            scenario,
            scale,
            &described,
            Some(required),
            available,
            &capacity,
        ));
    }
    Ok(DiskCheck {
        estimate,
        required_bytes: required,
        capacity,
    })
}

/// Refuses the run when the dataset's bare rows alone do not fit the free room: no
/// estimate is needed to say so.
fn refuse_bare_rows(
    scenario: &Scenario,
    scale: u64,
    expected: &[f64],
    capacity: &Capacity,
) -> Result<()> {
    let least = estimate::lower_bound_bytes(expected) * (1.0 + estimate::MARGIN);
    match capacity.available.filter(|free| least > *free as f64) {
        Some(available) => Err(shortfall(
            scenario,
            scale,
            &format!(
                "its {} rows need at least {} before any column or index",
                format_count(expected.iter().sum()),
                format_bytes(least)
            ),
            None,
            available,
            capacity,
        )),
        None => Ok(()),
    }
}

/// The room the estimate is held against: the free room, within the ceiling.
fn room(capacity: &Capacity) -> f64 {
    capacity
        .available
        .map_or(CEILING_BYTES, |free| (free as f64).min(CEILING_BYTES))
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
    let expected = layout::expected_rows(&scenario.dataset.model, scale);
    let samples = measure_in_scratch(server, scenario, sample_scale, seed).await?;
    Ok(estimate::extrapolate(
        &samples,
        &expected,
        scale,
        sample_scale,
    ))
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

/// The refusal when seeding needs `required` bytes (when estimated; a lower bound
/// does not say what scale would fit) and `available` are free.
// Exit code 2, bad input, though the machine is what falls short: the scale is the
// input, and lowering it is what the user does about it (as the issue that asked for
// the guard says); 3 would say that plancheck or its server failed.
fn shortfall(
    scenario: &Scenario,
    scale: u64,
    described: &str,
    required: Option<f64>,
    available: u64,
    capacity: &Capacity,
) -> Error {
    let lower = match required {
        Some(required) => format!(
            "lower --scale (about {} would fit)",
            scale_that_fits(scale, required, available as f64)
        ),
        None => "lower --scale".to_owned(),
    };
    Error::input(
        &scenario.dataset.path,
        format!(
            "this machine lacks the room for --scale {scale} ({} rows of {}): {described}, but only {} is {}; {lower}, or {}",
            format_count(scale as f64),
            scenario.dataset.scale_table(),
            format_bytes(available as f64),
            capacity.measured,
            capacity.remedy
        ),
    )
}

/// A round scale whose need is within `available`, taking the need as proportional
/// to the scale (tables of fixed size make it a little pessimistic).
fn scale_that_fits(scale: u64, required: f64, available: f64) -> String {
    let fits = scale as f64 * available / required;
    if fits < 1.0 {
        return "none: even the smallest scale does not".into();
    }
    // Two significant digits, rounded down.
    let magnitude = 10f64.powi((fits.log10().floor() as i32 - 1).max(0));
    format_count((fits / magnitude).floor() * magnitude)
}

#[cfg(test)]
mod tests {
    use super::scale_that_fits;

    #[test]
    fn the_suggested_scale_is_round_and_fits() {
        assert_eq!(scale_that_fits(1_000_000, 4.0e9, 1.0e9), "250,000");
        assert_eq!(scale_that_fits(1_000_000, 3.0e9, 1.0e9), "330,000");
        assert_eq!(
            scale_that_fits(10, 1.0e9, 1.0),
            "none: even the smallest scale does not"
        );
    }
}
