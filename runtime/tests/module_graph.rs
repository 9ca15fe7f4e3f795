//! The crate's modules import in one direction. Reads the module tree from `lib.rs` (`mod`
//! declarations, `#[path]` included, inline modules such as `mod tests` too), resolves every
//! `crate::…` and `super::…` path to the file that holds its module, and fails on:
//!
//! * an import cycle between files, or between the crate's top-level modules;
//! * an import running up the layers written in `lib.rs` (one is allowed, named below);
//! * a name imported through a re-export instead of from the module that defines it.
//!
//! A module's own declarations and re-exports of its descendants are the tree itself, not
//! imports. Runs in `cargo test`; no dependency but the tokenizer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// The layers of `lib.rs`, bottom first: a module may import from its own layer and below.
const LAYERS: &[&[&str]] = &[
    &["redact", "emf"],
    &["lifecycle"],
    &[
        "probe",
        "init",
        "state",
        "close",
        "requirements",
        "diagnose",
        "erase",
        "refused",
    ],
    &[
        "batch",
        "builder",
        "layer",
        "testing",
        "cache",
        "sqlx",
        "idempotency",
        "http",
        "expansion",
        "defer_layer",
    ],
    &["__private"],
];

/// Imports allowed to run up a layer, each with its reason.
const ALLOWED_UPWARD: &[(&str, &str, &str)] = &[(
    "diagnose",
    "sqlx",
    "the errorType of a boxed error is found by downcasting, which needs the type",
)];

#[test]
fn the_runtime_imports_in_one_direction() {
    // `MODULE_GRAPH_SRC=dir`: check another tree, e.g. an older checkout's `runtime/src`.
    let crate_root = std::env::var_os("MODULE_GRAPH_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let graph = Graph::read(&crate_root);
    let mut problems = Vec::new();

    let cycles = graph.file_cycles();
    for cycle in &cycles {
        problems.push(format!(
            "import cycle between files: {}",
            cycle.join(" -> ")
        ));
    }
    let top_cycles = graph.top_level_cycles();
    for cycle in &top_cycles {
        problems.push(format!(
            "import cycle between modules: {}",
            cycle.join(" -> ")
        ));
    }

    let layer_of = |module: &str| {
        LAYERS
            .iter()
            .position(|layer| layer.contains(&module))
            .unwrap_or_else(|| {
                panic!("module `{module}` is in no layer: add it to LAYERS and to lib.rs's list")
            })
    };
    let mut upward = BTreeSet::new();
    let mut from_root = BTreeSet::new();
    for edge in &graph.edges {
        let (from, to) = (graph.top_level(&edge.from), graph.top_level(&edge.to));
        let (Some(from), Some(to)) = (from, to) else {
            // The crate root is above every layer; nothing may import from it.
            if graph.top_level(&edge.to).is_none() {
                from_root.insert(format!(
                    "{} imports `{}` from lib.rs: import it from the module that defines it",
                    edge.from, edge.name
                ));
            }
            continue;
        };
        if from != to && layer_of(&to) > layer_of(&from) {
            upward.insert((
                from,
                to,
                format!("{} -> {} (`{}`)", edge.from, edge.to, edge.name),
            ));
        }
    }
    problems.extend(from_root);
    let mut upward_modules = BTreeSet::new();
    for (from, to, seen) in &upward {
        upward_modules.insert((from.clone(), to.clone()));
        if !ALLOWED_UPWARD.iter().any(|(f, t, _)| f == from && t == to) {
            problems.push(format!("import runs up the layers: {seen}"));
        }
    }

    for reexported in graph.through_reexports() {
        problems.push(reexported);
    }

    println!(
        "{} files, {} imports between files, {} file cycles, {} module cycles, {} upward import(s) between modules: {:?}",
        graph.files.len(),
        graph.edges.len(),
        cycles.len(),
        top_cycles.len(),
        upward_modules.len(),
        upward_modules
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    assert!(upward_modules.len() <= 1, "at most one upward import");
}

/// The checker itself finds what it is for: a cycle, an upward import, a re-export.
#[test]
fn the_check_catches_a_cycle_an_upward_import_and_a_reexport() {
    let dir = std::env::temp_dir().join(format!("module-graph-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lifecycle")).unwrap();
    let write = |path: &str, text: &str| std::fs::write(dir.join(path), text).unwrap();
    write(
        "lib.rs",
        "mod redact;\nmod lifecycle;\npub use lifecycle::run::Run;\n",
    );
    write(
        "redact.rs",
        "pub fn hide() { let _ = crate::lifecycle::run::Run; }\n",
    );
    write(
        "lifecycle/mod.rs",
        "pub mod run;\npub mod stop;\npub use run::Run;\n",
    );
    write(
        "lifecycle/run.rs",
        "pub struct Run;\nfn go() { super::stop::halt(); crate::redact::hide(); }\n",
    );
    write(
        "lifecycle/stop.rs",
        "pub fn halt() { let _ = crate::lifecycle::Run; }\n#[cfg(test)] mod tests { use super::*; }\n",
    );
    let graph = Graph::read(&dir);
    let cycles = graph.file_cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].contains(&"redact.rs".to_string()), "{cycles:?}");
    assert_eq!(graph.top_level_cycles().len(), 1);
    let reexports = graph.through_reexports();
    assert_eq!(reexports.len(), 1, "{reexports:?}");
    assert!(reexports[0].contains("`Run`"), "{reexports:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One import: `from` names `name` in the module held by the file `to`.
struct Edge {
    from: String,
    to: String,
    name: String,
}

struct Graph {
    /// File (relative to `src/`) → its module path (`lifecycle::invoke`; the root is empty).
    files: BTreeMap<String, Vec<String>>,
    /// Module path (inline modules included) → the file that holds it.
    modules: BTreeMap<Vec<String>, String>,
    /// File → the names it defines.
    defines: BTreeMap<String, BTreeSet<String>>,
    edges: Vec<Edge>,
}

impl Graph {
    fn read(root: &Path) -> Graph {
        let mut graph = Graph {
            files: BTreeMap::new(),
            modules: BTreeMap::new(),
            defines: BTreeMap::new(),
            edges: Vec::new(),
        };
        let mut pending = vec![(root.join("lib.rs"), Vec::<String>::new())];
        let mut paths = Vec::new();
        while let Some((file, module)) = pending.pop() {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            let tokens: TokenStream = text
                .parse()
                .unwrap_or_else(|e| panic!("cannot tokenize {}: {e:?}", file.display()));
            let name = file
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            graph.files.insert(name.clone(), module.clone());
            graph.modules.insert(module.clone(), name.clone());
            let mut scan = Scan {
                file: &file,
                file_name: &name,
                children: Vec::new(),
                paths: Vec::new(),
                defines: BTreeSet::new(),
                inline: Vec::new(),
            };
            scan.tokens(tokens, &module);
            for inline in scan.inline {
                graph.modules.insert(inline, name.clone());
            }
            for (child, child_file) in scan.children {
                let mut child_module = module.clone();
                child_module.push(child);
                pending.push((child_file, child_module));
            }
            graph.defines.insert(name.clone(), scan.defines);
            paths.extend(scan.paths);
        }
        for (from, base, path) in paths {
            if let Some(edge) = graph.resolve(&from, &base, &path) {
                graph.edges.push(edge);
            }
        }
        graph
    }

    /// The file and name a path refers to, unless it stays in `from` or goes down into a
    /// module `from` declares (the tree itself).
    fn resolve(&self, from: &str, base: &[String], path: &[String]) -> Option<Edge> {
        let mut module: Vec<String> = base.to_vec();
        let mut rest = path.iter().peekable();
        match rest.peek().map(|s| s.as_str()) {
            Some("crate") => {
                module.clear();
                rest.next();
            }
            Some("super") | Some("self") => {}
            _ => return None,
        }
        let mut name = String::from("*");
        for segment in rest {
            match segment.as_str() {
                "super" => {
                    module.pop();
                }
                "self" => {}
                segment => {
                    let mut deeper = module.clone();
                    deeper.push(segment.to_string());
                    if self.modules.contains_key(&deeper) {
                        module = deeper;
                    } else {
                        name = segment.to_string();
                        break;
                    }
                }
            }
        }
        let to = self.modules.get(&module)?.clone();
        let from_module = &self.files[from];
        if to == from || module.starts_with(from_module) {
            return None;
        }
        Some(Edge {
            from: from.to_string(),
            to,
            name,
        })
    }

    /// The crate's top-level module a file belongs to; `None` for `lib.rs`.
    fn top_level(&self, file: &str) -> Option<String> {
        self.files[file].first().cloned()
    }

    fn file_cycles(&self) -> Vec<Vec<String>> {
        let pairs = self.edges.iter().map(|e| (e.from.clone(), e.to.clone()));
        cycles(pairs)
    }

    fn top_level_cycles(&self) -> Vec<Vec<String>> {
        let pairs = self.edges.iter().filter_map(|e| {
            let (from, to) = (self.top_level(&e.from)?, self.top_level(&e.to)?);
            (from != to).then_some((from, to))
        });
        cycles(pairs)
    }

    /// Names imported from a file that does not define them (it re-exports them).
    fn through_reexports(&self) -> Vec<String> {
        let mut found = BTreeSet::new();
        for edge in &self.edges {
            if edge.name == "*" || self.defines[&edge.to].contains(&edge.name) {
                continue;
            }
            found.insert(format!(
                "{} imports `{}` through a re-export in {}: import it from the module that defines it",
                edge.from, edge.name, edge.to
            ));
        }
        found.into_iter().collect()
    }
}

/// Every cycle of the graph, one per strongly connected component, as a path of its nodes.
fn cycles(pairs: impl Iterator<Item = (String, String)>) -> Vec<Vec<String>> {
    let mut next: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in pairs {
        next.entry(to.clone()).or_default();
        next.entry(from).or_default().insert(to);
    }
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(node) = stack.pop() {
            for n in &next[&node] {
                if n == to {
                    return true;
                }
                if seen.insert(n.clone()) {
                    stack.push(n.clone());
                }
            }
        }
        false
    };
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for node in next.keys() {
        if done.contains(node) || !reaches(node, node) {
            continue;
        }
        let component: Vec<String> = next
            .keys()
            .filter(|other| *other == node || (reaches(node, other) && reaches(other, node)))
            .cloned()
            .collect();
        done.extend(component.iter().cloned());
        let mut cycle = component;
        cycle.push(node.clone());
        found.push(cycle);
    }
    found
}

/// What one file declares, defines and names.
struct Scan<'a> {
    file: &'a Path,
    file_name: &'a str,
    /// `mod name;` declarations: the child's name and file.
    children: Vec<(String, PathBuf)>,
    /// (file, module the path appears in, the path's segments).
    paths: Vec<(String, Vec<String>, Vec<String>)>,
    defines: BTreeSet<String>,
    /// Inline modules (`mod tests { … }`), by module path.
    inline: Vec<Vec<String>>,
}

impl Scan<'_> {
    fn tokens(&mut self, tokens: TokenStream, module: &[String]) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut path_attr: Option<String> = None;
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Punct(p) if p.as_char() == '#' => {
                    if let Some(TokenTree::Group(g)) = tokens.get(i + 1) {
                        path_attr = path_attribute(g.stream()).or(path_attr);
                        i += 2;
                        continue;
                    }
                }
                TokenTree::Ident(id) if *id == "mod" => {
                    if let Some(TokenTree::Ident(name)) = tokens.get(i + 1) {
                        let name = name.to_string();
                        self.defines.insert(name.clone());
                        match tokens.get(i + 2) {
                            Some(TokenTree::Group(body))
                                if body.delimiter() == Delimiter::Brace =>
                            {
                                let mut inner = module.to_vec();
                                inner.push(name);
                                self.inline.push(inner.clone());
                                self.tokens(body.stream(), &inner);
                                i += 3;
                                path_attr = None;
                                continue;
                            }
                            _ => {
                                let child = self.child_file(&name, path_attr.take());
                                self.children.push((name, child));
                                i += 3;
                                continue;
                            }
                        }
                    }
                }
                // (`+ use<'a, T>` in a return type captures generics: not an import.)
                TokenTree::Ident(id)
                    if *id == "use"
                        && !matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '<') =>
                {
                    let end = tokens[i..]
                        .iter()
                        .position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ';'))
                        .map_or(tokens.len(), |n| i + n);
                    for path in use_paths(&tokens[i + 1..end], Vec::new()) {
                        self.record(module, path);
                    }
                    i = end + 1;
                    path_attr = None;
                    continue;
                }
                TokenTree::Ident(id) => {
                    let word = id.to_string();
                    if matches!(
                        word.as_str(),
                        "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static" | "union"
                    ) && let Some(TokenTree::Ident(name)) = tokens.get(i + 1)
                    {
                        self.defines.insert(name.to_string());
                    }
                    if (word == "crate" || word == "super") && is_path_sep(&tokens, i + 1) {
                        let (path, used) = plain_path(&tokens[i..]);
                        self.record(module, path);
                        i += used;
                        continue;
                    }
                }
                TokenTree::Group(g) => self.tokens(g.stream(), module),
                TokenTree::Punct(p) if p.as_char() == ';' => path_attr = None,
                _ => {}
            }
            i += 1;
        }
    }

    fn record(&mut self, module: &[String], path: Vec<String>) {
        if matches!(path.first().map(String::as_str), Some("crate" | "super")) {
            self.paths
                .push((self.file_name.to_string(), module.to_vec(), path));
        }
    }

    /// Where `mod name;` in this file finds its file.
    fn child_file(&self, name: &str, path_attr: Option<String>) -> PathBuf {
        let dir = self.file.parent().unwrap();
        let stem = self.file.file_stem().unwrap().to_string_lossy();
        let owns_dir = stem == "lib" || stem == "mod" || stem == "main";
        if let Some(path) = path_attr {
            return dir.join(path);
        }
        let base = if owns_dir {
            dir.to_path_buf()
        } else {
            dir.join(&*stem)
        };
        let flat = base.join(format!("{name}.rs"));
        if flat.exists() {
            flat
        } else {
            base.join(name).join("mod.rs")
        }
    }
}

/// `path = "…"` in an attribute's brackets.
fn path_attribute(stream: TokenStream) -> Option<String> {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    match tokens.as_slice() {
        [
            TokenTree::Ident(id),
            TokenTree::Punct(eq),
            TokenTree::Literal(lit),
        ] if *id == "path" && eq.as_char() == '=' => {
            Some(lit.to_string().trim_matches('"').to_string())
        }
        _ => None,
    }
}

fn is_path_sep(tokens: &[TokenTree], at: usize) -> bool {
    matches!(
        (tokens.get(at), tokens.get(at + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) if a.as_char() == ':' && b.as_char() == ':'
    )
}

/// `a::b::c` at the start of `tokens`: its segments and how many tokens it took.
fn plain_path(tokens: &[TokenTree]) -> (Vec<String>, usize) {
    let mut segments = Vec::new();
    let mut i = 0;
    while let Some(TokenTree::Ident(id)) = tokens.get(i) {
        segments.push(id.to_string());
        i += 1;
        if is_path_sep(tokens, i) {
            i += 2;
        } else {
            break;
        }
    }
    (segments, i)
}

/// The paths a `use` tree names (`a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`).
fn use_paths(tokens: &[TokenTree], prefix: Vec<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for branch in tokens.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ',')) {
        let mut path = prefix.clone();
        let mut i = 0;
        let mut nested = false;
        while i < branch.len() {
            match &branch[i] {
                TokenTree::Ident(id) if *id == "as" => break,
                TokenTree::Ident(id) if *id != "pub" => path.push(id.to_string()),
                TokenTree::Punct(p) if p.as_char() == '*' => path.push("*".into()),
                TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
                    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                    out.extend(use_paths(&inner, path.clone()));
                    nested = true;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        if !nested && path.len() > prefix.len() {
            // `use a::b::{self}` names the module itself.
            if path.last().map(String::as_str) == Some("self") {
                path.pop();
            }
            out.push(path);
        }
    }
    out
}
