//! The arrows of docs/architecture.md, checked: every `crate::` path in a module's source must
//! name a module its row of the layout table allows. A new edge that points the wrong way (or a
//! module missing from the table) fails here, with the file and line of the edge.
//!
//! Test code (`#[cfg(test)]` modules and `tests.rs` files) may reach anywhere: a unit test of a
//! lower layer sometimes builds its input through a higher one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module → the modules it may use, read from the table in docs/architecture.md: rows of the form
/// ``| `name` | what lives there | `a`, `b`, … |``.
fn table() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let start = doc.find("<!-- layering table -->").expect("the layering table marker");
    let mut rows = BTreeMap::new();
    for line in doc[start..].lines().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 3 || !cells[0].starts_with('`') {
            continue;
        }
        let names = |cell: &str| -> BTreeSet<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(|s| {
                    s.trim_start_matches("src/")
                        .trim_end_matches('/')
                        .trim_end_matches(".rs")
                        .to_string()
                })
                .collect()
        };
        let module = names(cells[0]).into_iter().next().unwrap();
        rows.insert(module, names(cells[2]));
    }
    rows
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source of a file without its `#[cfg(test)]` items and comments.
fn production_code(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut skip_depth: Option<i64> = None;
    let mut depth: i64 = 0;
    let mut pending_cfg_test = false;
    for (n, raw) in text.lines().enumerate() {
        let line = match raw.find("//") {
            Some(i) => &raw[..i],
            None => raw,
        };
        let opens = line.matches('{').count() as i64;
        let closes = line.matches('}').count() as i64;
        if skip_depth.is_none() && line.trim_start().starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            continue;
        }
        if pending_cfg_test {
            // The item the attribute applies to: skipped to its closing brace (or its `;`).
            if opens == 0 && line.trim_end().ends_with(';') {
                pending_cfg_test = false;
                continue;
            }
            if opens > 0 {
                skip_depth = Some(depth);
                pending_cfg_test = false;
            }
        }
        depth += opens - closes;
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            continue;
        }
        out.push((n + 1, line.to_string()));
    }
    out
}

/// The top-level modules named by `crate::` paths on a line, including `use crate::{a, b::c}`.
fn crate_edges(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group: split on commas outside nested braces.
            let mut level = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => level += 1,
                    '}' if level == 0 => break,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        found.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                if level == 0 {
                    item.push(c);
                }
            }
            found.push(item);
        } else {
            found.push(rest.to_string());
        }
    }
    found
        .into_iter()
        .map(|s| {
            s.trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn every_crate_edge_follows_the_architecture_table() {
    let table = table();
    assert!(
        table.len() > 10,
        "the layering table was not found or is nearly empty: {table:?}"
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    let mut missing = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if matches!(module.as_str(), "lib" | "main" | "cli") || rel.file_name().is_some_and(|f| f == "tests.rs") {
            continue; // the crate root, the binary and test files may use anything
        }
        let Some(allowed) = table.get(&module) else {
            missing.insert(module);
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line_no, line) in production_code(&text) {
            for target in crate_edges(&line) {
                let macro_or_self = target == module || target == "typed_id";
                if !macro_or_self && table.contains_key(&target) && !allowed.contains(&target) {
                    wrong.push(format!("src/{}:{line_no}: {module} → {target}", rel.display()));
                } else if !macro_or_self && !table.contains_key(&target) {
                    missing.insert(target);
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "modules missing from the table in docs/architecture.md: {missing:?}"
    );
    assert!(
        wrong.is_empty(),
        "edges against docs/architecture.md (module → what it may not use):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_table_has_no_cycle() {
    let table = table();
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        table: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let mut cycle = path.clone();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in table.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, table, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in table.keys() {
        if let Some(cycle) = visit(n, &table, &mut state, &mut Vec::new()) {
            panic!("the layering table has a cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_edge_reader_sees_groups_and_skips_test_code() {
    assert_eq!(
        crate_edges("use crate::{hw::Chip, model, perf::{A, B}};"),
        ["hw", "model", "perf"]
    );
    assert_eq!(
        crate_edges("let x = crate::hash::mix64(1) + crate::sim::f();"),
        ["hash", "sim"]
    );
    let code = "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::sim;\n}\nfn f() { crate::b::g() }\n";
    let kept: Vec<String> = production_code(code)
        .into_iter()
        .flat_map(|(_, l)| crate_edges(&l))
        .collect();
    assert_eq!(kept, ["a", "b"]);
}
