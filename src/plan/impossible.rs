//! The numbers no PostgreSQL prints in a plan, found once when a plan is parsed (a
//! plan captured from a server and one brought from a file alike): a negative count or
//! time, loops that are not whole, a count beyond what a server can count, rows from
//! a node that never ran. A check reading such a plan would judge nonsense (1.7e308
//! loops make infinite rows examined), so the plan is refused, naming the node.
//!
//! What real plans do print stays accepted: PostgreSQL 18's per-loop rows with two
//! decimals, a node that never ran (`Actual Loops` 0 and nothing else counted), zero
//! rows, and estimates of any size (the planner's row estimates go up to 1e100).

use serde_json::{Map, Value};

use super::NodePath;

/// The largest count a server reports exactly: it counts rows, loops and blocks in
/// doubles, which hold whole numbers exactly up to 2^53. No run gets near it (at a
/// billion rows a second, 2^53 rows take over three months).
pub const MAX_COUNT: f64 = 9_007_199_254_740_992.0;

/// Counts of a node read by plancheck, each per loop but `Actual Loops` and the
/// buffers. `Plan Rows` is an estimate and is checked only for its sign.
const COUNTS: [&str; 6] = [
    "Actual Rows",
    "Actual Loops",
    "Rows Removed by Filter",
    "Rows Removed by Index Recheck",
    "Shared Hit Blocks",
    "Shared Read Blocks",
];

/// A node's times, per loop, in milliseconds.
const NODE_TIMES: [&str; 2] = ["Actual Startup Time", "Actual Total Time"];

/// The statement's times, in milliseconds.
const PLAN_TIMES: [&str; 2] = ["Planning Time", "Execution Time"];

/// What is impossible about a plan: where, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Impossible {
    /// The node, or `None` for the statement's own keys.
    pub node: Option<(NodePath, String)>,
    pub problem: String,
}

impl std::fmt::Display for Impossible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node {
            Some((path, label)) => write!(f, "node {path} ({label}): {}", self.problem),
            None => write!(f, "the plan's {}", self.problem),
        }
    }
}

/// The first impossible number in `document`, the object holding `Plan` (and the
/// statement's times), nodes in plan order.
pub fn find(document: &Value) -> Option<Impossible> {
    let statement = document.as_object()?;
    if let Some(problem) = PLAN_TIMES
        .iter()
        .find_map(|key| number_problem(statement, key, Bound::Time))
    {
        return Some(Impossible {
            node: None,
            problem,
        });
    }
    let mut stack = vec![(NodePath(Vec::new()), statement.get("Plan")?)];
    while let Some((path, node)) = stack.pop() {
        let Some(node) = node.as_object() else {
            continue;
        };
        if let Some(problem) = node_problem(node) {
            return Some(Impossible {
                node: Some((path, label(node))),
                problem,
            });
        }
        let children = node.get("Plans").and_then(Value::as_array);
        for (index, child) in children
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
            .rev()
        {
            let mut child_path = path.0.clone();
            child_path.push(index);
            stack.push((NodePath(child_path), child));
        }
    }
    None
}

/// What is impossible about one node's own numbers, if anything.
fn node_problem(node: &Map<String, Value>) -> Option<String> {
    let single = number_problem(node, "Plan Rows", Bound::Estimate)
        .or_else(|| {
            COUNTS
                .iter()
                .find_map(|key| number_problem(node, key, Bound::Count))
        })
        .or_else(|| {
            NODE_TIMES
                .iter()
                .find_map(|key| number_problem(node, key, Bound::Time))
        });
    if single.is_some() {
        return single;
    }
    let count = |key: &str| node.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let loops = count("Actual Loops");
    if loops.fract() != 0.0 {
        return Some(format!(
            "`Actual Loops` is {loops}; a node runs a whole number of times"
        ));
    }
    let per_loop = count("Actual Rows")
        + count("Rows Removed by Filter")
        + count("Rows Removed by Index Recheck");
    if node.contains_key("Actual Loops") && loops == 0.0 && per_loop > 0.0 {
        return Some(format!(
            "`Actual Loops` is 0, yet it counts {per_loop} rows; a node that never ran counts none"
        ));
    }
    let examined = per_loop * loops.max(1.0);
    (examined > MAX_COUNT).then(|| {
        format!(
            "its rows over {loops} loops come to {examined:e}, more than a server counts (2^53)"
        )
    })
}

/// How a number is bounded.
#[derive(Clone, Copy)]
enum Bound {
    /// A planner's estimate: never negative.
    Estimate,
    /// A count the executor made: never negative, never past [`MAX_COUNT`].
    Count,
    /// Milliseconds: never negative, never past [`MAX_COUNT`] (a span of some 285,000
    /// years).
    Time,
}

/// What is wrong with `key` in `object`, if it is there and wrong.
fn number_problem(object: &Map<String, Value>, key: &str, bound: Bound) -> Option<String> {
    let value = object.get(key)?;
    let Some(number) = value.as_f64() else {
        // Named by its type: a string is the file's content, and may be any size.
        let kind = match value {
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
            Value::Bool(_) => "a boolean",
            Value::Null => "null",
            Value::Number(_) => "a number out of range",
        };
        return Some(format!("`{key}` is {kind}, not a number"));
    };
    if number < 0.0 {
        let what = match bound {
            Bound::Time => "a time",
            Bound::Estimate | Bound::Count => "a count",
        };
        return Some(format!("`{key}` is {value}; {what} is never negative"));
    }
    match bound {
        Bound::Count | Bound::Time if number > MAX_COUNT => Some(format!(
            "`{key}` is {value}, more than a server counts (2^53)"
        )),
        _ => None,
    }
}

/// The node's label as [`super::Node::label`] words it, read from the raw object
/// (which may not deserialize into a `Node`). Its names come from the file, so each
/// is cut short and its control characters escaped: a forged plan's label can neither
/// flood the error nor drive the terminal.
fn label(node: &Map<String, Value>) -> String {
    let text = |key: &str| node.get(key).and_then(Value::as_str).map(shown);
    let mut label = text("Node Type").unwrap_or_else(|| "a node".into());
    if let Some(index) = text("Index Name") {
        label.push_str(&format!(" using {index}"));
    }
    if let Some(relation) = text("Relation Name") {
        label.push_str(&format!(" on {relation}"));
    }
    label
}

/// The longest name of a label, in characters: past any PostgreSQL identifier (63
/// bytes) and node type.
const NAME_SHOWN: usize = 64;

/// `name` as a label shows it: at most [`NAME_SHOWN`] characters (then `…`), control
/// characters escaped.
fn shown(name: &str) -> String {
    let mut out = String::new();
    for (count, character) in name.chars().enumerate() {
        if count == NAME_SHOWN {
            out.push('…');
            break;
        }
        match character.is_control() {
            true => out.extend(character.escape_default()),
            false => out.push(character),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(root: Value) -> Value {
        json!({"Plan": root, "Planning Time": 0.1, "Execution Time": 2.0})
    }

    fn scan(extra: Value) -> Value {
        let mut node = json!({
            "Node Type": "Index Scan", "Relation Name": "t", "Index Name": "t_a",
            "Plan Rows": 10, "Total Cost": 1.0,
            "Actual Rows": 10, "Actual Loops": 1, "Actual Total Time": 0.2,
            "Shared Hit Blocks": 3, "Shared Read Blocks": 0
        });
        node.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        node
    }

    #[test]
    fn what_real_servers_print_is_possible() {
        // 18's per-loop average, a node that never ran, zero rows, a huge estimate.
        let real = plan(json!({
            "Node Type": "Nested Loop", "Plan Rows": 1e100, "Actual Rows": 0, "Actual Loops": 1,
            "Plans": [
                scan(json!({"Actual Rows": 13.33, "Actual Loops": 3})),
                scan(json!({"Actual Rows": 0, "Actual Loops": 0, "Actual Total Time": 0.0})),
            ]
        }));
        assert_eq!(find(&real), None);
        // A plan without ANALYZE has only estimates.
        let estimated = json!({"Plan": {"Node Type": "Seq Scan", "Plan Rows": 5}});
        assert_eq!(find(&estimated), None);
    }

    #[test]
    fn each_impossible_number_is_named_with_its_node() {
        let cases = [
            (
                json!({"Actual Rows": -1}),
                "`Actual Rows` is -1; a count is never negative",
            ),
            (
                json!({"Actual Loops": -2}),
                "`Actual Loops` is -2; a count is never negative",
            ),
            (
                json!({"Actual Total Time": -0.5}),
                "`Actual Total Time` is -0.5; a time is never negative",
            ),
            (
                json!({"Actual Loops": 1.5}),
                "`Actual Loops` is 1.5; a node runs a whole number of times",
            ),
            (
                json!({"Actual Loops": 1.7e308}),
                "`Actual Loops` is 1.7e+308, more than a server counts (2^53)",
            ),
            (
                json!({"Actual Rows": u64::MAX}),
                "`Actual Rows` is 18446744073709551615, more than a server counts (2^53)",
            ),
            (
                json!({"Actual Rows": 2, "Actual Loops": 0}),
                "`Actual Loops` is 0, yet it counts 2 rows; a node that never ran counts none",
            ),
            (
                json!({"Actual Rows": 1e9, "Actual Loops": 1e8}),
                "its rows over 100000000 loops come to 1e17, more than a server counts (2^53)",
            ),
            (
                json!({"Plan Rows": -3}),
                "`Plan Rows` is -3; a count is never negative",
            ),
            (
                json!({"Actual Rows": "many"}),
                "`Actual Rows` is a string, not a number",
            ),
        ];
        for (extra, problem) in cases {
            let document = plan(json!({
                "Node Type": "Limit", "Plan Rows": 1, "Actual Rows": 1, "Actual Loops": 1,
                "Plans": [scan(json!({})), scan(extra)]
            }));
            let found = find(&document).unwrap_or_else(|| panic!("{problem}"));
            assert_eq!(
                found.to_string(),
                format!("node root/1 (Index Scan using t_a on t): {problem}")
            );
        }
        let late = json!({"Plan": scan(json!({})), "Execution Time": -1});
        assert_eq!(
            find(&late).unwrap().to_string(),
            "the plan's `Execution Time` is -1; a time is never negative"
        );
    }

    #[test]
    fn a_value_that_is_not_a_number_is_named_by_its_type_and_a_label_is_short_and_escaped() {
        // A plan file's strings are its content: none is quoted (a 50 MB string made a
        // 50 MB error), and a label carries no control character to a terminal.
        let secret = "s".repeat(10_000);
        let document = plan(json!({
            "Node Type": format!("\u{1b}[2J{}", "N".repeat(500)),
            "Relation Name": "t\nu",
            "Actual Rows": secret,
        }));
        let said = find(&document).unwrap().to_string();
        assert!(!said.contains("sss"), "{said}");
        assert!(!said.contains('\u{1b}') && !said.contains('\n'), "{said}");
        assert!(said.len() < 300, "{} bytes: {said}", said.len());
        assert!(
            said.ends_with("`Actual Rows` is a string, not a number"),
            "{said}"
        );
        for (value, kind) in [
            (json!(null), "null"),
            (json!(true), "a boolean"),
            (json!([1]), "an array"),
            (json!({"a": 1}), "an object"),
        ] {
            let document = plan(scan(json!({ "Actual Loops": value })));
            let said = find(&document).unwrap().to_string();
            assert!(
                said.ends_with(&format!("`Actual Loops` is {kind}, not a number")),
                "{said}"
            );
        }
    }
}
