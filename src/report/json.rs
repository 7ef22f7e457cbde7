//! The JSON exporter: `report.json` (the document itself), each query's EXPLAIN
//! output as the server printed it (`<query>[.<variant>].explain.json`), and the
//! index facts the checks read (`catalog.json`, `catalog.after.json`), so the plans
//! can be judged again without a server.

use super::document::{self, Report};
use super::{CATALOG_AFTER_FILE, CATALOG_FILE, Exporter};

/// Writes the document and the raw files beside it.
pub struct Json;

impl Exporter for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn files(&self, report: &Report) -> Vec<(String, String)> {
        let mut files = vec![
            (document::FILE.to_owned(), report.to_json()),
            (CATALOG_FILE.to_owned(), pretty(&report.catalog)),
        ];
        if let Some(after) = &report.catalog_after {
            files.push((CATALOG_AFTER_FILE.to_owned(), pretty(after)));
        }
        for variant in &report.variants {
            for query in &variant.queries {
                let mut text = query.explain.clone();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                files.push((query.plan_file.clone(), text));
            }
        }
        files
    }
}

fn pretty(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("reports hold JSON-safe values");
    text.push('\n');
    text
}
