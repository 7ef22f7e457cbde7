//! Tidy tests of the source tree itself, as rust-analyzer keeps its own: the module
//! graph ARCHITECTURE.md draws is the one the code has.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::repo_path;

/// The model layer: the vocabulary every stage speaks. It imports none of the stages.
const MODEL: &[&str] = &[
    "error", "fit", "format", "outcome", "pg_wire", "plan", "slug", "value",
];

/// The top-level modules of `src/` and the other top-level modules each one's code
/// (not its tests) names as `crate::<module>`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo_path("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let mut text = String::new();
        collect_code(&path, &mut text);
        let mut uses = BTreeSet::new();
        for (index, _) in text.match_indices("crate::") {
            let rest = &text[index + "crate::".len()..];
            let module: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !module.is_empty() && module != name {
                uses.insert(module);
            }
        }
        // A module may be a file and a folder beside it (`cli.rs`, `cli/`): one module.
        graph.entry(name).or_insert_with(BTreeSet::new).extend(uses);
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for uses in graph.values_mut() {
        // `crate::say!` and the like are macros, not modules.
        uses.retain(|module| modules.contains(module));
    }
    graph
}

/// The text of a module file, or of every file under a module folder, without the
/// `#[cfg(test)]` part at the end of each file (tests may read any module).
fn collect_code(path: &Path, text: &mut String) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            collect_code(&entry.unwrap().path(), text);
        }
    } else if path.extension().is_some_and(|ext| ext == "rs") {
        let code = std::fs::read_to_string(path).unwrap();
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        text.push_str(code);
    }
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = module_graph();
    // Depth-first search; a module met again while still on the path closes a cycle.
    fn visit<'a>(
        module: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(module) {
            return;
        }
        if let Some(start) = path.iter().position(|seen| *seen == module) {
            panic!(
                "the modules import each other in a cycle: {} -> {module}",
                path[start..].join(" -> ")
            );
        }
        path.push(module);
        for next in &graph[module] {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(module);
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_model_layer_imports_no_stage() {
    let graph = module_graph();
    for module in MODEL {
        let stages: Vec<&String> = graph[*module]
            .iter()
            .filter(|used| !MODEL.contains(&used.as_str()))
            .collect();
        assert!(
            stages.is_empty(),
            "{module} is in the model layer but imports {stages:?}"
        );
    }
}
