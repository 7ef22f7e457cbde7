//! Plain data passed between stages: what capture and timing measured about each
//! query, and what the checks and reports read. Nothing here talks to a server.

use serde::Serialize;

use crate::plan::{Catalog, Plan};

/// Everything measured about the queries of one scenario run.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub queries: Vec<QueryEvidence>,
    /// Index facts of the scratch database, captured beside the plans.
    pub catalog: Catalog,
}

/// What was measured about one query.
#[derive(Debug, Clone)]
pub struct QueryEvidence {
    pub name: String,
    /// The parsed EXPLAIN (ANALYZE, BUFFERS) plan.
    pub plan: Plan,
    /// The raw EXPLAIN document, saved verbatim in the report.
    pub raw_explain: serde_json::Value,
    /// Client-side wall-clock timings of the plain query.
    pub timing: Timing,
}

/// Repeated client-side timings of one query.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Timing {
    /// Every measured run, in milliseconds, in the order they ran.
    pub samples_ms: Vec<f64>,
}

impl Timing {
    /// The median sample (mean of the middle two for an even count).
    pub fn median_ms(&self) -> f64 {
        let mut sorted = self.samples_ms.clone();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => f64::NAN,
            len if len % 2 == 1 => sorted[len / 2],
            len => (sorted[len / 2 - 1] + sorted[len / 2]) / 2.0,
        }
    }

    /// The fastest and slowest samples.
    pub fn range_ms(&self) -> (f64, f64) {
        let min = self
            .samples_ms
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let max = self
            .samples_ms
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (min, max)
    }
}

impl Evidence {
    /// The evidence of the query with this name.
    pub fn query(&self, name: &str) -> Option<&QueryEvidence> {
        self.queries.iter().find(|query| query.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::Timing;

    #[test]
    fn median_of_odd_and_even_counts() {
        let odd = Timing {
            samples_ms: vec![5.0, 1.0, 3.0],
        };
        assert_eq!(odd.median_ms(), 3.0);
        let even = Timing {
            samples_ms: vec![4.0, 1.0, 3.0, 2.0],
        };
        assert_eq!(even.median_ms(), 2.5);
        assert!(Timing { samples_ms: vec![] }.median_ms().is_nan());
    }
}

/// A named step of a run and how long it took.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Phase {
    pub name: String,
    pub ms: f64,
}

impl Phase {
    /// A phase that took `elapsed`.
    pub fn new(name: &str, elapsed: std::time::Duration) -> Phase {
        Phase {
            name: name.to_owned(),
            ms: elapsed.as_secs_f64() * 1000.0,
        }
    }
}
