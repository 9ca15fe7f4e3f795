//! Where the handler is written, when that makes the generated `main` unusable: inside an
//! `impl` or `trait`, or in a module whose `main` the binary's root never brings in.
//!
//! An attribute macro is given only the function, so neither is visible from its tokens;
//! without this, the first fails with six errors about modules and imports and the second
//! with rustc's "`main` function not found", neither saying what to do. The function's
//! source file (and the crate root's) is the only place they show, so they are read and
//! parsed — only when the function does not start its line (it may sit in an `impl`) or
//! is written in a module file of a binary. Anything that cannot be known for sure (a function made by
//! another macro, a source that does not parse, a root with a macro that may define
//! `main`) counts as fine: this only ever adds an error where rustc would report one.
//! (An editor holding unsaved changes sees the files as last saved.)

use std::path::{Path, PathBuf};

use proc_macro2::Span;
use syn::{ImplItem, Item, ItemFn, Stmt, TraitItem, UseTree};

/// What the source shows around the handler.
#[derive(Default)]
pub(crate) struct Placement {
    /// The `impl` or `trait` that holds it.
    pub(crate) enclosing: Option<Enclosing>,
    /// The module (`a::b`) whose `main` the binary's root does not bring in, and the root
    /// file's name.
    pub(crate) main_out_of_reach: Option<(String, String)>,
}

/// An `impl` or `trait` that holds the handler, as written in its header.
pub(crate) enum Enclosing {
    /// `impl Service` (or `impl Trait for Service`): the self type.
    Impl(String),
    /// `trait Service`: its name.
    Trait(String),
}

/// Where `function` is written, as far as its source shows.
pub(crate) fn of(function: &ItemFn) -> Placement {
    find_placement(function).unwrap_or_default()
}

fn find_placement(function: &ItemFn) -> Option<Placement> {
    let first = quote::ToTokens::to_token_stream(function)
        .into_iter()
        .next()?
        .span();
    let (file, column) = location(first)?;
    // Written at the start of its line: not inside an `impl` (nor an inline module).
    let indented = column > 1;
    let file = std::fs::canonicalize(file).ok()?;
    let root = binary_root();
    let in_module_file = root.as_ref().is_some_and(|root| *root != file);
    if !indented && !in_module_file {
        // The top of a binary's root or of a library's file: the common case, not read.
        return None;
    }
    let parsed = syn::parse_file(&std::fs::read_to_string(&file).ok()?).ok()?;
    let found = find(parsed.items.iter(), &function.sig.ident)?;
    let mut placement = Placement {
        enclosing: found.enclosing,
        main_out_of_reach: None,
    };
    if placement.enclosing.is_none()
        && let (Some(root), Some(modules)) = (root, found.modules)
    {
        placement.main_out_of_reach = main_out_of_reach(&root, &file, &parsed, modules);
    }
    Some(placement)
}

/// The file and (1-based) column a token was written at; `None` outside the compiler
/// (unit tests) or for a token without a file.
fn location(span: Span) -> Option<(PathBuf, usize)> {
    if !proc_macro::is_available() {
        return None;
    }
    let span = span.unwrap();
    Some((span.local_file()?, span.column()))
}

/// The root source file of the crate being compiled, when it is a binary that needs a
/// `main` (not a library, not a test harness). A proc macro runs inside rustc, so this is
/// read from rustc's own command line; elsewhere (an IDE's macro server) it is `None`.
fn binary_root() -> Option<PathBuf> {
    let args: Vec<String> = std::env::args_os()
        .filter_map(|a| a.into_string().ok())
        .collect();
    let binary = args
        .windows(2)
        .any(|pair| pair[0] == "--crate-type" && pair[1] == "bin")
        || args.iter().any(|a| a == "--crate-type=bin");
    if !binary || args.iter().any(|a| a == "--test") {
        return None;
    }
    let mut inputs = args.iter().skip(1).filter(|a| a.ends_with(".rs"));
    match (inputs.next(), inputs.next()) {
        (Some(input), None) => std::fs::canonicalize(input).ok(),
        _ => None,
    }
}

/// The handler as found in a file: the inline modules around it (`None` inside a
/// function body, where no path reaches it), and an `impl` or `trait` holding it.
struct Found {
    modules: Option<Vec<String>>,
    enclosing: Option<Enclosing>,
}

/// Searches `items` (and the modules and function bodies inside them) for the function
/// named `name` that carries `#[handler]` (by any path).
fn find<'a>(mut items: impl Iterator<Item = &'a Item>, name: &syn::Ident) -> Option<Found> {
    let is_handler = |sig: &syn::Signature, attrs: &[syn::Attribute]| {
        sig.ident == *name
            && attrs.iter().any(|a| {
                a.path()
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "handler")
            })
    };
    let enclosed = |enclosing| Found {
        modules: Some(Vec::new()),
        enclosing: Some(enclosing),
    };
    items.find_map(|item| match item {
        Item::Fn(function) if is_handler(&function.sig, &function.attrs) => Some(Found {
            modules: Some(Vec::new()),
            enclosing: None,
        }),
        Item::Impl(block) => block
            .items
            .iter()
            .any(|i| matches!(i, ImplItem::Fn(f) if is_handler(&f.sig, &f.attrs)))
            .then(|| {
                let ty = &block.self_ty;
                enclosed(Enclosing::Impl(
                    quote::quote!(#ty).to_string().replace(' ', ""),
                ))
            }),
        Item::Trait(block) => block
            .items
            .iter()
            .any(|i| matches!(i, TraitItem::Fn(f) if is_handler(&f.sig, &f.attrs)))
            .then(|| enclosed(Enclosing::Trait(block.ident.to_string()))),
        Item::Mod(module) => {
            let mut found = find(module.content.as_ref()?.1.iter(), name)?;
            if let Some(modules) = &mut found.modules {
                modules.insert(0, module.ident.to_string());
            }
            Some(found)
        }
        Item::Fn(function) => {
            let mut inner = function.block.stmts.iter().filter_map(|s| match s {
                Stmt::Item(item) => Some(item),
                _ => None,
            });
            let found = find(&mut inner as &mut dyn Iterator<Item = &Item>, name)?;
            Some(Found {
                modules: None,
                enclosing: found.enclosing,
            })
        }
        _ => None,
    })
}

/// The module path of a handler in `file` (`parsed`; inside the inline `modules` there),
/// when the binary's `root` neither defines nor imports a `main`; with the root's file name.
fn main_out_of_reach(
    root: &Path,
    file: &Path,
    parsed: &syn::File,
    modules: Vec<String>,
) -> Option<(String, String)> {
    let root_name = root.file_name()?.to_str()?.to_owned();
    let parsed_root;
    let (mut path, root_file) = if file == root {
        (Vec::new(), parsed)
    } else {
        // `src/orders.rs` or `src/orders/mod.rs` is module `orders` of root `src/main.rs`.
        let relative = file.strip_prefix(root.parent()?).ok()?;
        let mut path: Vec<String> = relative
            .iter()
            .map(|c| c.to_str().map(str::to_owned))
            .collect::<Option<_>>()?;
        let last = path.pop()?;
        if last != "mod.rs" {
            path.push(last.strip_suffix(".rs")?.to_owned());
        }
        parsed_root = syn::parse_file(&std::fs::read_to_string(root).ok()?).ok()?;
        // The root must declare the module by that name (`#[path]` would make it another).
        let declared = parsed_root.items.iter().any(|item| {
            matches!(item, Item::Mod(m) if m.content.is_none() && path.first().is_some_and(|p| m.ident == p) && !m.attrs.iter().any(|a| a.path().is_ident("path")))
        });
        if !declared {
            return None;
        }
        (path, &parsed_root)
    };
    path.extend(modules);
    // `#![no_main]`: the binary needs no `main` at all.
    let no_main = root_file.attrs.iter().any(|a| a.path().is_ident("no_main"));
    if path.is_empty() || no_main || root_file.items.iter().any(may_bring_in_main) {
        return None;
    }
    Some((path.join("::"), root_name))
}

/// Whether a root item defines `main`, imports something named `main` (or everything from
/// somewhere), or is a macro that might do either.
fn may_bring_in_main(item: &Item) -> bool {
    fn names_main(tree: &UseTree) -> bool {
        match tree {
            UseTree::Path(path) => names_main(&path.tree),
            UseTree::Name(name) => name.ident == "main",
            UseTree::Rename(rename) => rename.rename == "main",
            UseTree::Glob(_) => true,
            UseTree::Group(group) => group.items.iter().any(names_main),
        }
    }
    match item {
        Item::Fn(function) => function.sig.ident == "main",
        Item::Use(import) => names_main(&import.tree),
        Item::Macro(_) | Item::ExternCrate(_) | Item::Verbatim(_) => true,
        _ => false,
    }
}
