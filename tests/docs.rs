//! The file-format reference (`docs/reference/*.md`) cannot drift from the loaders.
//!
//! **How the accepted keys are enumerated.** Every table of every input file is a serde struct
//! with `deny_unknown_fields` (INV-13: an unknown key is an error), and serde's error for an
//! unknown key lists every key the struct accepts (`unknown field `__probe`, expected one of
//! `a`, `b``). So the test starts from a valid example file, puts a bogus key `__probe` into a
//! table and hands the text to the *public loader itself* (`scenario::load_str`,
//! `sweep::load_str`, `plan::load_str`, `validate::parse`): the error names the table's keys.
//! Each key is then probed in turn: a value `{ __probe = 1 }` reveals a nested table (its keys),
//! a tagged enum (`missing field `kind``, then `{ kind = "__probe" }` lists the kinds and
//! `{ kind = "<k>", __probe = 1 }` each kind's keys), or an enum of names (`unknown variant`,
//! which lists the accepted values); `[{ __probe = 1 }]` reveals an array of tables. Anything
//! else is a leaf. Because the probe goes through the loader, a table read later by hand (a
//! sweep's `slo`, a plan's `demand.input`) is enumerated too, and nothing here keeps a list of
//! keys that could fall behind: a key added to a struct appears in the error, so in this test.
//! A few values hold another format whole (`base` of a sweep is a scenario, `hardware.chip` a
//! chip profile): they are listed in `DELEGATED` and documented as one entry.
//!
//! **What the pages must hold.** Each key is a table row whose first cell is the key in
//! backticks: `| `serving.max_batch` | type | default | accepted | meaning | example |`.
//! Array elements are written `[]` (`deployment.groups[].tp`); a tagged enum's kind is a key
//! (`workload.arrival.kind`, whose accepted cell names every kind) and a kind's own keys carry
//! `[kind=...]` (`workload.arrival[kind=poisson,gamma].rate_per_s` covers both kinds). The test
//! fails naming every accepted key without a row (and the page to add it to) and every row whose
//! key the loader no longer accepts. Keys under an open table (one the probe cannot see into:
//! `axes`, a plan's `slo`) are accepted as documented.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const PROBE: &str = "__probe";

/// Values that hold another format whole: documented as one entry pointing to that format.
const DELEGATED: [&str; 6] = [
    "hardware.chip",
    "hardware.instance_overrides",
    "base",
    "candidate[].scenario",
    "whatif[].candidate[].scenario",
    "whatif[].chip_overrides",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// One step of a key path: a table key, an array element, or a tagged enum's kind.
#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Elem,
    Kind(String),
}

fn label(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Elem => s.push_str("[]"),
            Seg::Kind(k) => s.push_str(&format!("[kind={k}]")),
        }
    }
    s
}

/// The value at `path` (created as tables on the way), replaced by `value`; a path that ends at
/// an array element or a kind merges `value` (a table) into that element.
fn set(doc: &mut toml::Table, path: &[Seg], value: toml::Value) {
    let Some((Seg::Key(k), mut rest)) = path.split_first() else {
        unreachable!("paths start at a key")
    };
    if rest.is_empty() {
        doc.insert(k.clone(), value);
        return;
    }
    let mut slot = doc.remove(k).unwrap_or(toml::Value::Table(toml::Table::new()));
    let elem = matches!(rest.first(), Some(Seg::Elem));
    if elem {
        rest = &rest[1..];
        let first = match slot {
            toml::Value::Array(a) => a.into_iter().next().filter(toml::Value::is_table),
            _ => None,
        };
        slot = first.unwrap_or(toml::Value::Table(toml::Table::new()));
    }
    if let Some(Seg::Kind(kind)) = rest.first() {
        let mut t = toml::Table::new();
        t.insert("kind".into(), toml::Value::String(kind.clone()));
        slot = toml::Value::Table(t);
        rest = &rest[1..];
    }
    let mut inner = match slot {
        toml::Value::Table(t) => t,
        _ => toml::Table::new(),
    };
    if rest.is_empty() {
        if let toml::Value::Table(v) = value {
            inner.extend(v);
        }
    } else {
        set(&mut inner, rest, value);
    }
    let v = toml::Value::Table(inner);
    doc.insert(k.clone(), if elem { toml::Value::Array(vec![v]) } else { v });
}

/// The value at a path of keys and array elements (the first element) in the example, if any.
fn lookup<'a>(doc: &'a toml::Table, path: &[Seg]) -> Option<&'a toml::Value> {
    let (Seg::Key(k), rest) = path.split_first()? else {
        return None;
    };
    let mut v = doc.get(k)?;
    let mut rest = rest;
    while let Some(Seg::Elem) = rest.first() {
        v = v.as_array()?.first()?;
        rest = &rest[1..];
    }
    match rest {
        [] => Some(v),
        _ => lookup(v.as_table()?, rest),
    }
}

/// The backticked words after `marker` in `msg`, up to the end of that sentence.
fn listed_after(msg: &str, marker: &str) -> Option<Vec<String>> {
    let at = msg.find(marker)? + marker.len();
    let rest = &msg[at..];
    let end = rest.find([';', '\n', '(']).unwrap_or(rest.len());
    let rest = &rest[..end];
    if rest.contains("there are no fields") {
        return Some(Vec::new());
    }
    Some(rest.split('`').skip(1).step_by(2).map(str::to_string).collect())
}

/// What a key's value is, as the loader reveals it.
enum Shape {
    Table(Vec<String>),
    Tagged,
    Names(Vec<String>),
    Leaf,
}

/// A loader: the error message for a document, or None when it is accepted.
type Loader<'a> = &'a dyn Fn(&str) -> Option<String>;

struct Prober<'a> {
    load: Loader<'a>,
    base: toml::Table,
    /// Every key found: its label, and the accepted names of a kind or an enum of names.
    keys: BTreeMap<String, Vec<String>>,
    /// Labels of open tables (their sub-keys cannot be enumerated).
    open: BTreeSet<String>,
    /// Labels of tables whose keys are listed (a row for the table itself is allowed, not
    /// required).
    tables: BTreeSet<String>,
}

impl Prober<'_> {
    fn try_value(&self, path: &[Seg], value: toml::Value) -> Option<String> {
        let mut doc = self.base.clone();
        set(&mut doc, path, value);
        (self.load)(&toml::to_string(&doc).unwrap())
    }

    fn probe_table() -> toml::Value {
        let mut t = toml::Table::new();
        t.insert(PROBE.into(), toml::Value::Integer(1));
        toml::Value::Table(t)
    }

    fn shape(&self, path: &[Seg], value: toml::Value) -> Shape {
        let msg = self.try_value(path, value).unwrap_or_default();
        if let Some(keys) = listed_after(&msg, &format!("unknown field `{PROBE}`, expected")) {
            return Shape::Table(keys);
        }
        if msg.contains(&format!("unknown field `{PROBE}`, there are no fields")) {
            return Shape::Table(Vec::new());
        }
        if msg.contains("missing field `kind`") {
            return Shape::Tagged;
        }
        if let Some(names) = listed_after(&msg, &format!("unknown variant `{PROBE}`, expected")) {
            return Shape::Names(names);
        }
        Shape::Leaf
    }

    /// Records the keys of the table at `path` and everything below them.
    fn table(&mut self, path: &[Seg], fields: Vec<String>) {
        for f in fields {
            let mut p = path.to_vec();
            p.push(Seg::Key(f));
            self.key(&p);
        }
    }

    fn key(&mut self, path: &[Seg]) {
        let name = label(path);
        if DELEGATED.contains(&name.as_str()) {
            self.keys.insert(name, Vec::new());
            return;
        }
        match self.shape(path, Self::probe_table()) {
            Shape::Table(fields) => {
                self.tables.insert(name);
                self.table(path, fields);
            }
            Shape::Tagged => self.tagged(path),
            Shape::Names(names) => {
                self.keys.insert(name, names);
            }
            Shape::Leaf => {
                let mut p = path.to_vec();
                p.push(Seg::Elem);
                match self.shape(&p, Self::probe_table()) {
                    Shape::Table(fields) => {
                        self.keys.insert(name, Vec::new());
                        self.table(&p, fields);
                    }
                    Shape::Tagged => {
                        self.keys.insert(name, Vec::new());
                        self.tagged(&p);
                    }
                    _ => {
                        // Open: the loader takes any table there, or the example writes a table
                        // whose keys are checked by pattern (a plan's `slo`).
                        let accepted = self.try_value(path, Self::probe_table()).is_none();
                        if accepted || lookup(&self.base, path).is_some_and(toml::Value::is_table) {
                            self.open.insert(name.clone());
                        }
                        self.keys.insert(name, Vec::new());
                    }
                }
            }
        }
    }

    /// A tagged enum at `path`: its `kind` and each kind's keys.
    fn tagged(&mut self, path: &[Seg]) {
        let mut t = toml::Table::new();
        t.insert("kind".into(), toml::Value::String(PROBE.into()));
        let msg = self.try_value(path, toml::Value::Table(t)).unwrap_or_default();
        let kinds = listed_after(&msg, &format!("unknown variant `{PROBE}`, expected"))
            .unwrap_or_else(|| panic!("{}: a tagged enum without a list of kinds: {msg}", label(path)));
        self.keys.insert(format!("{}.kind", label(path)), kinds.clone());
        for k in kinds {
            let mut p = path.to_vec();
            p.push(Seg::Kind(k.clone()));
            let msg = self.try_value(&p, Self::probe_table()).unwrap_or_default();
            let fields = listed_after(&msg, &format!("unknown field `{PROBE}`, expected"))
                .or_else(|| msg.contains("there are no fields").then(Vec::new))
                .unwrap_or_else(|| panic!("{}: kind {k} does not list its keys: {msg}", label(path)));
            self.table(&p, fields.into_iter().filter(|f| f != "kind").collect());
        }
    }
}

/// Every key a loader accepts, starting from the valid example `example` (its root table).
fn accepted_keys(load: Loader, example: &str) -> Accepted {
    let mut p = Prober {
        load,
        base: example.parse::<toml::Table>().unwrap(),
        keys: BTreeMap::new(),
        open: BTreeSet::new(),
        tables: BTreeSet::new(),
    };
    let msg = p
        .try_value(&[Seg::Key(PROBE.into())], toml::Value::Integer(1))
        .unwrap_or_default();
    let fields = listed_after(&msg, &format!("unknown field `{PROBE}`, expected"))
        .unwrap_or_else(|| panic!("the root table does not list its keys: {msg}"));
    p.table(&[], fields);
    Accepted {
        keys: p.keys,
        open: p.open,
        tables: p.tables,
    }
}

/// What a loader accepts: every key (with its accepted names), open tables, listed tables.
struct Accepted {
    keys: BTreeMap<String, Vec<String>>,
    open: BTreeSet<String>,
    tables: BTreeSet<String>,
}

/// A documented row: its key (expanded over `[kind=a,b]`) and its accepted-values cell.
fn documented(page: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("docs/reference").join(page))
        .unwrap_or_else(|e| panic!("docs/reference/{page}: {e}"));
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("| `") else { continue };
        let Some(end) = rest.find('`') else { continue };
        let cells: Vec<&str> = line.split(" | ").collect();
        let accepted = cells.get(3).copied().unwrap_or("").to_string();
        for key in expand(&rest[..end]) {
            out.insert(key, accepted.clone());
        }
    }
    out
}

/// `a[kind=x,y].b` → `a[kind=x].b`, `a[kind=y].b`.
fn expand(key: &str) -> Vec<String> {
    let Some(start) = key.find("[kind=") else {
        return vec![key.to_string()];
    };
    let end = start + key[start..].find(']').expect("a closed [kind=...]");
    let (head, tail) = (&key[..start], &key[end + 1..]);
    let tails = expand(tail);
    key[start + 6..end]
        .split(',')
        .flat_map(|k| tails.iter().map(move |t| format!("{head}[kind={}]{t}", k.trim())))
        .collect()
}

/// The failures of one page against the keys its loader accepts.
fn check_page(page: &str, what: &str, a: &Accepted) -> Vec<String> {
    let (keys, open) = (&a.keys, &a.open);
    let docs = documented(page);
    let mut failures = Vec::new();
    for (key, names) in keys {
        match docs.get(key) {
            None => failures.push(format!(
                "docs/reference/{page}: no entry for `{key}`, which the {what} loader accepts: add a row \
                 | `{key}` | type | default (and where it is printed) | accepted values | meaning | example |"
            )),
            Some(accepted) => {
                for n in names.iter().filter(|n| !accepted.contains(n.as_str())) {
                    failures.push(format!(
                        "docs/reference/{page}: the row of `{key}` does not name the accepted value `{n}` in its accepted-values cell"
                    ));
                }
            }
        }
    }
    let under_open = |k: &str| {
        open.iter()
            .chain(DELEGATED.iter().map(|d| d.to_string()).collect::<Vec<_>>().iter())
            .any(|o| k.starts_with(&format!("{o}.")) || k.starts_with(&format!("{o}[")))
    };
    for key in docs
        .keys()
        .filter(|k| !keys.contains_key(*k) && !a.tables.contains(*k) && !under_open(k))
    {
        failures.push(format!(
            "docs/reference/{page}: documents `{key}`, which the {what} loader does not accept: rename or remove the row"
        ));
    }
    failures
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn assert_no_failures(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_scenario_key_is_documented() {
    let file = root().join("scenarios/quickstart.toml");
    let load = |t: &str| codesim::scenario::load_str(t, &file).err().map(|e| e.to_string());
    let a = accepted_keys(&load, &read("scenarios/quickstart.toml"));
    assert!(
        a.keys.len() > 100,
        "the probe found only {} scenario keys",
        a.keys.len()
    );
    assert!(
        a.keys.contains_key("workload.arrival[kind=poisson].rate_per_s"),
        "{:?}",
        a.keys
    );
    assert_no_failures(check_page("scenario.md", "scenario", &a));
}

#[test]
fn every_sweep_key_is_documented() {
    let file = root().join("scenarios/sweep-features.toml");
    let load = |t: &str| codesim::sweep::load_str(t, &file).err().map(|e| e.to_string());
    let a = accepted_keys(&load, &read("scenarios/sweep-features.toml"));
    assert!(
        a.keys.contains_key("plot.x") && a.keys.contains_key("base"),
        "{:?}",
        a.keys
    );
    assert_no_failures(check_page("sweep.md", "sweep", &a));
}

#[test]
fn every_plan_key_is_documented() {
    let file = root().join("scenarios/plan-chat.toml");
    let load = |t: &str| codesim::plan::load_str(t, &file).err().map(|e| e.to_string());
    let a = accepted_keys(&load, &read("scenarios/plan-chat.toml"));
    assert!(
        a.keys.contains_key("demand.rate_per_s") && a.keys.contains_key("whatif[].traffic_scale"),
        "{:?}",
        a.keys
    );
    assert_no_failures(check_page("plan.md", "plan", &a));
}

#[test]
fn every_validation_key_is_documented() {
    let file = root().join("validation/neuron-features.toml");
    let load = |t: &str| codesim::validate::parse(t, &file).err().map(|e| e.to_string());
    let mut example: toml::Table = read("validation/neuron-features.toml").parse().unwrap();
    if let Some(toml::Value::Array(cases)) = example.get_mut("case") {
        cases.truncate(1);
    }
    let a = accepted_keys(&load, &toml::to_string(&example).unwrap());
    assert!(a.keys.contains_key("case[].measured.ttft_p50_ms"), "{:?}", a.keys);
    assert_no_failures(check_page("validation.md", "validation", &a));
}

/// Every trace format name, every CSV column and every Mooncake field the readers know has a
/// row in traces.md. The names come from the readers themselves: the format names from serde's
/// error for an unknown format, the columns and fields from the reader's error for a header it
/// does not recognise (which lists every layout it accepts); the optional `max_tokens` column is
/// checked by reading a trace that has one.
#[test]
fn every_trace_format_and_column_is_documented() {
    use codesim::workload::trace::{TraceFormat, parse_trace};
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Probe {
        format: TraceFormat,
    }
    let msg = toml::from_str::<Probe>(&format!("format = \"{PROBE}\""))
        .err()
        .unwrap()
        .to_string();
    let formats = listed_after(&msg, &format!("unknown variant `{PROBE}`, expected")).expect("format names");
    let header = parse_trace(b"nonsense header\n", "t.csv", TraceFormat::Auto)
        .err()
        .unwrap()
        .to_string();
    let accepted = &header[header.find("accepted:").expect("the accepted layouts")..];
    let mut names: Vec<String> = formats;
    for quoted in accepted.split('`').skip(1).step_by(2) {
        if quoted.starts_with('{') {
            names.extend(quoted.split('"').skip(1).step_by(2).map(str::to_string));
        } else {
            names.extend(quoted.split(',').map(|c| c.trim().to_string()));
        }
    }
    let with_max = parse_trace(
        b"TIMESTAMP,ContextTokens,GeneratedTokens,max_tokens\n2023-11-16 18:15:46.0,10,5,7\n",
        "t.csv",
        TraceFormat::Auto,
    )
    .unwrap();
    assert_eq!(
        with_max.requests[0].max_tokens,
        Some(7),
        "the max_tokens column is read"
    );
    names.push("max_tokens".into());
    let docs = documented("traces.md");
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !docs.contains_key(*n))
        .map(|n| format!("docs/reference/traces.md: no row for `{n}`, which the trace readers accept"))
        .collect();
    assert!(names.len() > 15, "{names:?}");
    assert_no_failures(missing);
}

/// Every field name `src/model/hf.rs` and `src/model/hf_layers.rs` ask a `config.json` for has
/// a row in hf-config.md (a row `a.b` covers a field `b` read inside the object `a`), and every
/// row names a field they read. The readers go through a handful of accessors (`get`,
/// `optional`, `required`, `bool_or`, `routed`, and `const KEY`), so the field names are the
/// string literals passed to them: scanning for those calls finds every field read.
#[test]
fn every_hf_config_field_is_documented() {
    let mut read = BTreeSet::new();
    for file in [
        "src/model/hf.rs",
        "src/model/hf_layers.rs",
        "src/model/vision.rs",
        "src/model/audio.rs",
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for accessor in [
            "get(\"",
            "optional(\"",
            "required(\"",
            "bool_or(\"",
            "routed(\"",
            "&str = \"",
        ] {
            for (i, _) in text.match_indices(accessor) {
                let rest = &text[i + accessor.len()..];
                let name = &rest[..rest.find('"').unwrap()];
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    read.insert(name.to_string());
                }
            }
        }
    }
    assert!(
        read.contains("hidden_size") && read.contains("quant_method"),
        "{read:?}"
    );
    let docs = documented("hf-config.md");
    let last = |k: &str| k.rsplit('.').next().unwrap().to_string();
    let documented_names: BTreeSet<String> = docs.keys().map(|k| last(k)).collect();
    let mut failures: Vec<String> = read
        .iter()
        .filter(|f| !documented_names.contains(*f))
        .map(|f| format!("docs/reference/hf-config.md: no row for `{f}`, which the config.json reader reads"))
        .collect();
    failures.extend(
        docs.keys()
            .filter(|k| !read.contains(&last(k)))
            .map(|k| format!("docs/reference/hf-config.md: documents `{k}`, which the reader does not read")),
    );
    assert_no_failures(failures);
}

/// `codesim --help` and README.md point to every reference page, and every page they name
/// exists.
#[test]
fn help_and_readme_link_every_reference_page() {
    let pages = [
        "scenario.md",
        "sweep.md",
        "plan.md",
        "validation.md",
        "traces.md",
        "hf-config.md",
        "import.md",
    ];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_codesim"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let readme = read("README.md");
    for page in pages {
        assert!(
            root().join("docs/reference").join(page).is_file(),
            "docs/reference/{page} is missing"
        );
        let link = format!("docs/reference/{page}");
        assert!(help.contains(&link), "`codesim --help` does not name {link}:\n{help}");
        assert!(readme.contains(&link), "README.md does not link {link}");
    }
}
