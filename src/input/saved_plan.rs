//! Plans saved elsewhere, for `plancheck judge`: what EXPLAIN (FORMAT JSON) printed
//! (the array alone, or inside psql's aligned output with its header, `+`
//! continuations and row-count footer), a bare plan object, or `auto_explain`'s JSON
//! in a server log (text log lines, or `jsonlog` lines whose `message` holds it). A
//! file may hold several plans (a log); each is judged on its own. Anything else is
//! refused, naming the file and saying what was expected.

use std::path::Path;

use super::file;
use crate::error::{Error, Result};
use crate::plan::{Plan, PlanError};

/// What a plan file is read as: a plan of millions of nodes is not a plan anybody
/// pasted, and a log of more than 64 MiB should be cut to the plans that matter first.
pub const PLAN_FILE: file::Kind = file::Kind {
    what: "a plan file",
    limit: 64 * 1024 * 1024,
    stdin: true,
};

/// One plan read from a file.
#[derive(Debug, Clone)]
pub struct SavedPlan {
    /// `plan.json`, or `server.log:120` for a plan found at that line of a log.
    pub source: String,
    /// The plan document as JSON text, as found.
    pub text: String,
    pub plan: Plan,
    /// The query text, when the file carries it (`auto_explain` logs it).
    pub query_text: Option<String>,
}

/// Every plan in the file at `path`, or on standard input for `-`.
pub async fn read(path: &Path) -> Result<Vec<SavedPlan>> {
    match path == Path::new("-") {
        true => plans_in(
            &file::stdin_path(),
            &file::read_stdin_text(&PLAN_FILE).await?,
        ),
        false => plans_in(path, &file::read_text(path, &PLAN_FILE)?),
    }
}

/// Every plan in `text`, read from `path`.
fn plans_in(path: &Path, text: &str) -> Result<Vec<SavedPlan>> {
    parse(text)
        .map_err(|message| Error::input(path, message))
        .map(|plans| {
            plans
                .into_iter()
                .map(|(line, text, plan, query_text)| SavedPlan {
                    source: match line {
                        Some(line) => format!("{}:{line}", path.display()),
                        None => path.display().to_string(),
                    },
                    text,
                    plan,
                    query_text,
                })
                .collect()
        })
}

/// A plan found in a text: the line it starts at (for logs), its JSON text, the plan
/// and the query text when given.
type Found = (Option<usize>, String, Plan, Option<String>);

const EXPECTED: &str = "expected EXPLAIN (FORMAT JSON) output (a JSON array holding one object with a \"Plan\" key, alone or as psql prints it), a plan object, or auto_explain log lines in JSON (auto_explain.log_format = json)";

/// Every plan in `text`, or what is wrong with it.
fn parse(text: &str) -> std::result::Result<Vec<Found>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("is empty; {EXPECTED}"));
    }
    if looks_like_text_explain(trimmed) {
        return Err(
            "holds EXPLAIN's text format; plancheck reads JSON: run EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) <query> (in psql, \\pset format unaligned keeps it pasteable), or set auto_explain.log_format = json".into(),
        );
    }
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        // One document, or (starting with `{` too) jsonlog lines.
        return match document(trimmed) {
            Ok((text, plan, query)) => Ok(vec![(None, text, plan, query)]),
            Err(error) => match log_plans(text) {
                Ok(logged) if !logged.is_empty() => Ok(logged),
                _ => Err(error),
            },
        };
    }
    if let Some(json) = psql_aligned(trimmed) {
        return document(&json).map(|(text, plan, query)| vec![(None, text, plan, query)]);
    }
    let logged = log_plans(text)?;
    if logged.is_empty() {
        return Err(format!("holds no plan; {EXPECTED}"));
    }
    Ok(logged)
}

/// EXPLAIN's text format: `Seq Scan on t  (cost=0.00..1.00 rows=1 width=4)`.
fn looks_like_text_explain(text: &str) -> bool {
    !text.starts_with(['[', '{']) && text.contains("(cost=") && !text.contains("\"Node Type\"")
}

/// One JSON document: an EXPLAIN array, `{"Plan": …}` (as auto_explain logs it, with
/// `Query Text`), or a bare node `{"Node Type": …}`.
fn document(json: &str) -> std::result::Result<(String, Plan, Option<String>), String> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|error| format!("is not valid JSON ({error}); {EXPECTED}"))?;
    let first = match &value {
        serde_json::Value::Array(items) => items.first().cloned().unwrap_or_default(),
        other => other.clone(),
    };
    let document = match (&first.get("Plan"), &first.get("Node Type")) {
        (Some(_), _) => first,
        (None, Some(_)) => serde_json::json!({ "Plan": first }),
        _ => {
            return Err(format!(
                "holds JSON without a \"Plan\" or \"Node Type\" key; {EXPECTED}"
            ));
        }
    };
    let query = document
        .get("Query Text")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let plan = Plan::from_explain(&document).map_err(|error| match error {
        PlanError::Impossible(impossible) => format!("holds an impossible plan: {impossible}"),
        PlanError::Json(error) => format!(
            "holds a plan that does not parse: {}",
            file::json_error(&error)
        ),
    })?;
    Ok((json.to_owned(), plan, query))
}

/// The JSON inside psql's aligned output: a `QUERY PLAN` header and a dashed rule,
/// lines ending in ` +`, and a `(1 row)` footer.
fn psql_aligned(text: &str) -> Option<String> {
    let mut lines = text
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("---"));
    lines.next()?;
    let mut json = String::new();
    for line in lines {
        let line = line.trim_end();
        if line.trim_start().starts_with('(') && line.trim_end().ends_with(')') {
            break;
        }
        let line = line.strip_suffix('+').unwrap_or(line);
        json.push_str(line.strip_prefix(' ').unwrap_or(line));
        json.push('\n');
    }
    let json = json.trim().to_owned();
    json.starts_with('[').then_some(json)
}

/// Plans logged by auto_explain: in a text log, the JSON after `plan:` (on that line
/// and the lines after it); in `jsonlog`, a line whose `message` holds `plan:` and
/// the JSON.
fn log_plans(text: &str) -> std::result::Result<Vec<Found>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let message = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|entry| entry.get("message")?.as_str().map(str::to_owned));
        let (json, consumed) = match (message, line.find("plan:")) {
            (Some(message), _) => match message.split_once("plan:") {
                Some((_, json)) => (json.trim().to_owned(), 1),
                None => (String::new(), 1),
            },
            (None, Some(at)) => json_object(&lines[index..], &line[at + "plan:".len()..]),
            (None, None) => (String::new(), 1),
        };
        if json.starts_with('{') {
            let (text, plan, query) = document(&json)
                .map_err(|message| format!("line {}: the logged plan {message}", index + 1))?;
            found.push((Some(index + 1), text, plan, query));
        }
        index += consumed;
    }
    Ok(found)
}

/// The JSON object that starts at `first` (the rest of a log line after `plan:`) and
/// runs over the following lines until its braces balance, and how many lines it
/// took.
fn json_object(lines: &[&str], first: &str) -> (String, usize) {
    let mut json = first.trim_start().to_owned();
    let mut taken = 1;
    let balanced = |json: &str| {
        let (mut depth, mut in_string, mut escaped) = (0i64, false, false);
        for c in json.chars() {
            match (in_string, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (true, false, '"') => in_string = false,
                (false, _, '"') => in_string = true,
                (false, _, '{') => depth += 1,
                (false, _, '}') => depth -= 1,
                _ => {}
            }
        }
        depth == 0 && json.contains('{')
    };
    while !balanced(&json) && taken < lines.len() {
        json.push('\n');
        json.push_str(lines[taken]);
        taken += 1;
    }
    (json.trim().to_owned(), taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARRAY: &str = r#"[
  {
    "Plan": {
      "Node Type": "Index Scan",
      "Relation Name": "t",
      "Index Name": "t_created_at",
      "Scan Direction": "Backward",
      "Plan Rows": 10,
      "Total Cost": 1.0
    }
  }
]"#;

    #[test]
    fn every_form_a_plan_is_pasted_in_reads_the_same_plan() {
        let psql = format!(
            "                 QUERY PLAN\n--------------------------------------------\n{}\n(1 row)\n",
            ARRAY
                .lines()
                .map(|line| format!(" {line}+"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let bare = r#"{"Node Type": "Index Scan", "Relation Name": "t", "Index Name": "t_created_at", "Plan Rows": 10, "Total Cost": 1.0}"#;
        let object = r#"{"Query Text": "select 1", "Plan": {"Node Type": "Index Scan", "Relation Name": "t", "Index Name": "t_created_at", "Plan Rows": 10, "Total Cost": 1.0}}"#;
        let log = format!(
            "2026-11-29 10:00:00 UTC [42] LOG:  duration: 1.2 ms  plan:\n{object}\n2026-11-29 10:00:01 UTC [42] LOG:  checkpoint starting\n"
        );
        let jsonlog = format!(
            "{}\n",
            serde_json::json!({"timestamp": "2026-11-29", "message": format!("duration: 1.2 ms  plan:\n{object}")})
        );
        for text in [
            ARRAY,
            psql.as_str(),
            bare,
            object,
            log.as_str(),
            jsonlog.as_str(),
        ] {
            let plans = parse(text).unwrap_or_else(|error| panic!("{error}\n{text}"));
            assert_eq!(plans.len(), 1, "{text}");
            assert_eq!(plans[0].2.root.index_name.as_deref(), Some("t_created_at"));
        }
        assert_eq!(parse(&log).unwrap()[0].0, Some(1));
        assert_eq!(parse(&log).unwrap()[0].3.as_deref(), Some("select 1"));
    }

    #[test]
    fn what_is_not_a_json_plan_is_refused_saying_what_was_expected() {
        let text =
            "Limit  (cost=0.43..10.2 rows=26 width=8)\n  ->  Index Scan using t_created_at on t";
        assert!(parse(text).unwrap_err().contains("EXPLAIN's text format"));
        assert!(parse("").unwrap_err().starts_with("is empty"));
        assert!(
            parse("[{\"Plan\": {\"Node Type\"")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            parse("{\"rows\": 3}")
                .unwrap_err()
                .contains("without a \"Plan\"")
        );
        assert!(
            parse("hello\nworld\n")
                .unwrap_err()
                .starts_with("holds no plan")
        );
    }
}
