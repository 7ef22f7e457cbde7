//! Leftovers of runs that are gone: containers, local server directories and scratch
//! databases whose owner died without cleaning up (SIGKILL, a crash, a machine reset),
//! and those a user kept with `--keep`. Every run sweeps the orphans of its own kind
//! of server before it starts; `plancheck clean` lists all of them, kept ones too,
//! and removes them with `--yes`. A resource whose owner still runs is never touched.

use std::fmt;
use std::sync::Arc;

pub use super::backend::{Place, Remains};

/// Something a plancheck run left behind.
#[derive(Debug, Clone)]
pub struct Leftover {
    /// What it is, and how its backend removes it.
    pub resource: Arc<dyn Remains>,
    pub state: State,
}

/// Why it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Its run ended without removing it; the text says how that is known.
    Orphaned(String),
    /// Kept on purpose (`--keep`); removed only by `plancheck clean --yes`.
    Kept,
}

impl Leftover {
    pub fn new(resource: impl Remains + 'static, state: State) -> Leftover {
        Leftover {
            resource: Arc::new(resource),
            state,
        }
    }

    /// Why it is there, and what still runs in it.
    pub fn why(&self) -> String {
        match self.resource.still_running() {
            Some(running) => format!("{}; {running}", self.state),
            None => self.state.to_string(),
        }
    }

    /// What removing it did, for the user.
    pub fn removed(&self) -> String {
        self.resource.removed()
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Orphaned(why) => write!(f, "orphaned: {why}"),
            State::Kept => f.write_str("kept with --keep"),
        }
    }
}

/// What a look for leftovers found, and where it could not look.
#[derive(Debug, Default)]
pub struct Survey {
    pub leftovers: Vec<Leftover>,
    /// Each place that could not be looked at, with why: a look that failed is no
    /// all-clear, so whoever asked must say so.
    pub unlooked: Vec<String>,
}

/// Every leftover in `scope`, orphaned and kept; live runs' resources are left out.
pub async fn find(scope: &[Box<dyn Place>]) -> Survey {
    let mut survey = Survey::default();
    for place in scope {
        match place.leftovers().await {
            Ok(found) => survey.leftovers.extend(found),
            Err(why) => survey.unlooked.push(why),
        }
    }
    survey
}

/// Removes one leftover; `Err` says why it could not be.
pub async fn remove(leftover: &Leftover) -> Result<(), String> {
    leftover.resource.remove().await
}

/// Removes the orphans in `scope` (never what was kept) and says what went, and
/// where it could not look.
pub async fn orphans(scope: &[Box<dyn Place>]) -> Vec<String> {
    let survey = find(scope).await;
    let mut lines: Vec<String> = survey
        .unlooked
        .iter()
        .map(|why| format!("could not look for leftovers: {why}"))
        .collect();
    for leftover in survey.leftovers {
        if let State::Orphaned(why) = &leftover.state {
            lines.push(match remove(&leftover).await {
                Ok(()) => format!(
                    "swept a dead run's leftover: {} ({why})",
                    leftover.removed()
                ),
                Err(error) => format!(
                    "could not sweep a dead run's leftover {}: {error}",
                    leftover.resource
                ),
            });
        }
    }
    lines
}
