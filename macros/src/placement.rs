//! Where the handler is written, when that makes the generated `main` unusable: inside an
//! `impl` or `trait`.
//!
//! An attribute macro is given only the function, so this is not visible from its tokens;
//! without it, the handler fails with six errors about modules and imports, none saying
//! what to do. The handler's own source file is the only place it shows, so that file is
//! read and parsed — only when the function does not start its line (it may sit in an
//! `impl`). Anything that cannot be known for sure (a function made by another macro, a
//! source that does not parse, no file at all as in an IDE's macro server) counts as fine:
//! this only ever adds an error where rustc would report several. Nothing else outside
//! the tokens is read: a handler in a module whose `main` the binary's root does not bring
//! in is left to rustc's E0601 ("`main` function not found"), which points at the `main`
//! the handler generated.

use std::path::PathBuf;

use proc_macro2::Span;
use syn::{ImplItem, Item, ItemFn, Stmt, TraitItem};

use crate::written::written;

/// What the source shows around the handler.
#[derive(Default)]
pub(crate) struct Placement {
    /// The `impl` or `trait` that holds it.
    pub(crate) enclosing: Option<Enclosing>,
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
    // Written at the start of its line: not inside an `impl` — the common case, not read.
    if column <= 1 {
        return None;
    }
    let parsed = syn::parse_file(&std::fs::read_to_string(&file).ok()?).ok()?;
    let found = find(parsed.items.iter(), &function.sig.ident)?;
    Some(Placement {
        enclosing: found.enclosing,
    })
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
                enclosed(Enclosing::Impl(written(ty)))
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
