//! The import structure of `src/`: dependencies run one way. Every file is a module; a file
//! depends on another when it names a path into it (`use crate::a::b::C`, `super::x`, or
//! `crate::a::b::f(..)` in code). Test modules (`#[cfg(test)] mod ... { }`) and comments are
//! left out. A circle of files is a strongly connected component of that graph.
//!
//! Run it alone with `scripts/test structure`; on failure it prints each circle with the
//! names that tie it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// `src/a/b.rs` or `src/a/b/mod.rs` -> `["a", "b"]`; `src/lib.rs` -> `[]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without comments, string contents and `#[cfg(test)]` modules.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<i32> = None;
    let mut depth = 0i32;
    let mut test_attr = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        // Strings are blanked so a brace or a path inside one is not read as code.
        let mut clean = String::new();
        let mut in_str = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
                clean.push('"');
            } else if !in_str {
                clean.push(c);
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
        }
        let clean = clean.split("//").next().unwrap_or("").to_string();
        if t.starts_with("#[cfg(test)]") {
            test_attr = true;
            continue;
        }
        let starts_test_mod = test_attr && t.contains("mod ") && clean.contains('{');
        if !t.starts_with("#[") {
            test_attr = false;
        }
        let opens = clean.matches('{').count() as i32;
        let closes = clean.matches('}').count() as i32;
        if skip_depth.is_none() && starts_test_mod {
            skip_depth = Some(depth);
        }
        depth += opens - closes;
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            continue;
        }
        out.push_str(&clean);
        out.push('\n');
    }
    out
}

/// The paths a `use` tree names: `crate::a::{b, c::{D, e}}` -> `crate::a::b`, `crate::a::c::D`,
/// `crate::a::c::e`.
fn expand_use(tree: &str) -> Vec<String> {
    // `A as B` keeps `A`: the rename is marked before the spaces go.
    let tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let tree: String = tree
        .replace(" as ", "@")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    fn go(prefix: &str, tree: &str, out: &mut Vec<String>) {
        match tree.find('{') {
            None => out.push(format!("{prefix}{tree}")),
            Some(open) => {
                let head = &tree[..open];
                let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
                let mut depth = 0;
                let mut start = 0;
                let mut parts = vec![];
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            parts.push(&inner[start..i]);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                parts.push(&inner[start..]);
                for p in parts.into_iter().filter(|p| !p.is_empty()) {
                    go(&format!("{prefix}{head}"), p, out);
                }
            }
        }
    }
    let mut out = vec![];
    go("", &tree, &mut out);
    out.into_iter()
        .map(|p| p.split('@').next().unwrap().to_string())
        .map(|p| p.trim_end_matches("::self").to_string())
        .collect()
}

/// The paths a file names: its `use` trees and the `crate::`/`super::`/`self::` paths in code.
fn paths_in(code: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = code;
    // `use` statements (possibly over several lines), up to their `;`; the rest of the code is
    // kept for the inline paths.
    let mut others = String::new();
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        others.push_str(&rest[..i]);
        rest = &rest[i + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            others.push_str("use ");
            continue;
        }
        if let Some(end) = rest.find(';') {
            let tree = &rest[..end];
            if tree.starts_with("crate::")
                || tree.starts_with("super::")
                || tree.starts_with("self::")
                || tree.starts_with('{')
            {
                out.extend(expand_use(tree));
            }
            rest = &rest[end..];
        }
    }
    others.push_str(rest);
    // Inline paths: `crate::a::b::f(...)`, `super::x::Y`.
    let bytes: Vec<char> = others.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let at_word = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        let tail: String = bytes[i..(i + 7).min(bytes.len())].iter().collect();
        if at_word
            && (tail.starts_with("crate::")
                || tail.starts_with("super::")
                || tail.starts_with("self::"))
        {
            let mut j = i;
            while j < bytes.len()
                && (bytes[j].is_alphanumeric() || bytes[j] == '_' || bytes[j] == ':')
            {
                j += 1;
            }
            let path: String = bytes[i..j].iter().collect();
            out.push(path.trim_end_matches(':').to_string());
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The file a path leads into: the longest module prefix that is a file of the crate.
fn resolve(from: &[String], path: &str, modules: &BTreeMap<Vec<String>, String>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first() {
        Some(&"crate") => vec![],
        Some(&"super") | Some(&"self") => from.to_vec(),
        _ => return None,
    };
    if segs[0] == "crate" {
        segs.remove(0);
    } else {
        while let Some(s) = segs.first() {
            match *s {
                "super" => {
                    base.pop();
                }
                "self" => {}
                _ => break,
            }
            segs.remove(0);
        }
    }
    let mut full = base;
    full.extend(segs.iter().map(|s| s.to_string()));
    while !full.is_empty() {
        if let Some(f) = modules.get(&full) {
            return Some(f.clone());
        }
        full.pop();
    }
    modules.get(&full).cloned()
}

fn graph() -> Graph {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = vec![];
    files(&root, &mut all);
    let mut modules = BTreeMap::new();
    for f in &all {
        let rel = f.strip_prefix(&root).unwrap();
        // The binary is a crate of its own over the library.
        if rel == Path::new("main.rs") {
            continue;
        }
        modules.insert(module_of(rel), format!("src/{}", rel.display()));
    }
    let mut g = Graph::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(root.join(file.trim_start_matches("src/"))).unwrap();
        let edges = g.entry(file.clone()).or_default();
        for path in paths_in(&code_of(&text)) {
            if let Some(to) = resolve(module, &path, &modules)
                && to != *file
            {
                edges.entry(to).or_default().insert(path);
            }
        }
    }
    g
}

/// Tarjan's strongly connected components with more than one file.
fn circles(g: &Graph) -> Vec<BTreeSet<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        if let Some(edges) = t.g.get(v) {
            for w in edges.keys() {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut c = BTreeSet::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                c.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if c.len() > 1 {
                t.out.push(c);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        next: 0,
        out: vec![],
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn describe(g: &Graph, c: &BTreeSet<String>) -> String {
    let mut s = format!("a circle of {} files:\n", c.len());
    for from in c {
        for (to, names) in &g[from] {
            if c.contains(to) {
                let names: Vec<_> = names.iter().take(4).cloned().collect();
                s.push_str(&format!("  {from} -> {to}: {}\n", names.join(", ")));
            }
        }
    }
    s
}

#[test]
fn the_reader_finds_the_paths_a_file_names() {
    let code = code_of(
        "use crate::http::{ApiResult, extract::{ClientInfo, RequestId as R}};\n\
         use super::service::{self, X};\n\
         // use crate::commented::Out;\n\
         fn f() { crate::tenants::domains::check(\"crate::in::a::string\"); }\n\
         #[cfg(test)]\n\
         mod tests {\n    use crate::store::Test;\n    fn g() { if true { } }\n}\n\
         fn h() { super::sibling::y() }\n",
    );
    let paths: BTreeSet<String> = paths_in(&code).into_iter().collect();
    for want in [
        "crate::http::ApiResult",
        "crate::http::extract::ClientInfo",
        "crate::http::extract::RequestId",
        "super::service",
        "super::service::X",
        "crate::tenants::domains::check",
        "super::sibling::y",
    ] {
        assert!(paths.contains(want), "{want} in {paths:?}");
    }
    for unwanted in [
        "crate::commented::Out",
        "crate::store::Test",
        "crate::in::a::string",
        "crate::http",
    ] {
        assert!(
            !paths.iter().any(|p| p == unwanted),
            "{unwanted} in {paths:?}"
        );
    }
}

#[test]
fn the_finder_sees_a_circle() {
    let mut g = Graph::new();
    let mut edge = |a: &str, b: &str| {
        g.entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default()
            .insert("x".into());
        g.entry(b.into()).or_default();
    };
    edge("a", "b");
    edge("b", "c");
    edge("c", "a");
    edge("c", "d");
    let found = circles(&g);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0],
        ["a", "b", "c"].into_iter().map(String::from).collect()
    );
}

#[test]
fn dependencies_between_files_run_one_way() {
    let g = graph();
    assert!(g.len() > 50, "the crate's files were read: {}", g.len());
    let found: Vec<String> = circles(&g).iter().map(|c| describe(&g, c)).collect();
    assert!(
        found.is_empty(),
        "imports that run back up (move the shared item down, or the caller up):\n{}",
        found.join("\n")
    );
}

/// What an engine (`src/engine/`) may stand on: other engines and the foundations below them.
const ENGINE_GROUND: [&str; 4] = [
    "src/engine/",
    "src/domain/",
    "src/crypto.rs",
    "src/error.rs",
];

/// The crates of the layers above the engines: HTTP serving, SQL, the runtime, outbound calls.
/// (An engine's types may derive `utoipa::ToSchema`: that documents them, it calls nothing.)
const ENGINE_FORBIDDEN_CRATES: [&str; 5] = ["axum", "sqlx", "tokio", "reqwest", "tower"];

/// What `file` (an engine, with its `code`) reaches outside the ground engines stand on.
fn engine_reaches_up(g: &Graph, file: &str, code: &str) -> Vec<String> {
    let mut out: Vec<String> = g[file]
        .iter()
        .filter(|(to, _)| !ENGINE_GROUND.iter().any(|ok| to.starts_with(ok)))
        .map(|(to, via)| {
            format!(
                "{file} -> {to} ({})",
                via.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    for krate in ENGINE_FORBIDDEN_CRATES {
        let named = code.match_indices(&format!("{krate}::")).any(|(i, _)| {
            !code[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        });
        if named {
            out.push(format!("{file} uses the crate {krate}"));
        }
    }
    out
}

#[test]
fn the_engine_check_sees_an_engine_that_reaches_up() {
    let mut g = Graph::new();
    let file = "src/engine/x.rs".to_string();
    g.entry(file.clone())
        .or_default()
        .entry("src/domain/email.rs".into())
        .or_default();
    assert!(engine_reaches_up(&g, &file, "use serde_json::Value;").is_empty());
    g.get_mut(&file)
        .unwrap()
        .entry("src/state.rs".into())
        .or_default()
        .insert("crate::state::AppState".into());
    let found = engine_reaches_up(&g, &file, "fn f() { let _ = axum::http::StatusCode::OK; }");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("crate::state::AppState"), "{found:?}");
    assert!(found[1].contains("axum"), "{found:?}");
}

#[test]
fn engines_stand_only_on_domain_types_crypto_and_each_other() {
    let g = graph();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let engines: Vec<&String> = g.keys().filter(|f| f.starts_with("src/engine/")).collect();
    assert!(engines.len() >= 8, "the engines were read: {engines:?}");
    let mut found = vec![];
    for file in engines {
        let code = code_of(&std::fs::read_to_string(root.join(file)).unwrap());
        found.extend(engine_reaches_up(&g, file, &code));
    }
    assert!(
        found.is_empty(),
        "an engine reaches above domain, crypto and error (move the caller up, or the item down):\n{}",
        found.join("\n")
    );
}

/// What cached permission sets are compiled from: a write to one of these tables must move the
/// `rbac` counter in its transaction, or every replica keeps answering from the old roles.
const RBAC_TABLES: [&str; 5] = [
    "roles",
    "role_permissions",
    "role_assignments",
    "memberships",
    "tenants",
];

/// The only files that may write those tables, and the two doors a write goes through there:
/// `Tx::changing(Counter::Rbac)` for a statement run at once, `Stmt::moving(Counter::Rbac)` for
/// one that may join a batch.
const RBAC_HOMES: [&str; 2] = ["store/roles.rs", "store/tenants.rs"];
const RBAC_DOORS: [&str; 2] = ["changing(Counter::Rbac)", ".moving(Counter::Rbac)"];

/// Each SQL write to an RBAC table in `text` (outside its test module) that is not inside a
/// function of an RBAC home going through a door: `file: the function's first line`.
fn unguarded_rbac_writes(file: &str, text: &str) -> Vec<String> {
    let code = text.split("\n#[cfg(test)]").next().unwrap_or(text);
    let lower = code.to_ascii_lowercase();
    let mut out = Vec::new();
    for verb in ["insert into ", "update ", "delete from "] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(verb) {
            let at = from + i;
            from = at + verb.len();
            let rest = &lower[from..];
            let table: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !RBAC_TABLES.contains(&table.as_str()) {
                continue;
            }
            let start = code[..at]
                .rfind("\nfn ")
                .max(code[..at].rfind(" fn "))
                .unwrap_or(0);
            let end = code[at..].find("\n}\n").map_or(code.len(), |e| at + e);
            let body = &code[start..end];
            let guarded = RBAC_HOMES.iter().any(|h| file.ends_with(h))
                && RBAC_DOORS.iter().any(|d| body.contains(d));
            if !guarded {
                let head = body.trim_start().lines().next().unwrap_or("").trim();
                out.push(format!("{file}: `{table}` written in `{head}`"));
            }
        }
    }
    out
}

#[test]
fn the_rbac_write_check_sees_a_write_that_skips_the_counter() {
    let guarded = "pub async fn assign(\n    tx: &mut Tx) -> Result<()> {\n    on_conn!(tx.changing(Counter::Rbac), |c| sqlx::query(\"INSERT INTO role_assignments (id) VALUES ($1)\"))\n}\n";
    assert!(unguarded_rbac_writes("src/store/roles.rs", guarded).is_empty());
    let skipped = "pub async fn assign(c: Conn<'_>) -> Result<()> {\n    on_conn!(c, |c| sqlx::query(\"DELETE FROM role_assignments WHERE id = $1\"))\n}\n";
    assert_eq!(
        unguarded_rbac_writes("src/store/roles.rs", skipped).len(),
        1
    );
    // Outside the homes even a door does not count: the write belongs in the store.
    assert_eq!(
        unguarded_rbac_writes("src/users/service.rs", guarded).len(),
        1
    );
    // Other tables, and a test module, are not RBAC writes.
    let other = "fn f() {\n    q(\"UPDATE users SET x = 1\");\n}\n\n#[cfg(test)]\nmod t {\n    q(\"UPDATE roles SET x = 1\");\n}\n";
    assert!(unguarded_rbac_writes("src/store/users.rs", other).is_empty());
}

/// Every write to what permissions are compiled from moves the `rbac` counter: the store's
/// functions for those tables are the only writers, and each goes through a door
/// (`Tx::changing` or a `Stmt` marked `moving`) that moves the counter at commit.
#[test]
fn every_write_to_what_permissions_are_compiled_from_moves_the_rbac_counter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut found = Vec::new();
    let mut writers = 0;
    for f in all {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&f).unwrap();
        if RBAC_HOMES.iter().any(|h| rel.ends_with(h)) {
            writers += 1;
        }
        found.extend(unguarded_rbac_writes(&format!("src/{rel}"), &text));
    }
    assert_eq!(writers, RBAC_HOMES.len(), "the RBAC homes were read");
    assert!(
        found.is_empty(),
        "writes to RBAC tables that do not move the rbac counter (write through \
         store::roles / store::tenants with tx.changing(Counter::Rbac) or Stmt::moving):\n{}",
        found.join("\n")
    );
}
