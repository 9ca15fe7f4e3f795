//! What the function sits in, when that is an `impl` or a `trait`. An attribute macro is
//! given only the function, so the `impl` around it is invisible to it; without this the
//! expansion (a module, an import, `main`) fails there with six errors, none of which says
//! "use a free function". The function's source file is the only place the `impl` can be
//! seen, so an indented function's file is read and searched for it. (An editor holding
//! unsaved changes sees the file as last saved until it is saved.)

use std::path::PathBuf;

use proc_macro2::Span;
use syn::{ImplItem, Item, ItemFn, Stmt, TraitItem};

/// An `impl` or `trait` that holds the handler, as written in its header.
pub(crate) enum Enclosing {
    /// `impl Service` (or `impl Trait for Service`): the self type.
    Impl(String),
    /// `trait Service`: its name.
    Trait(String),
}

/// The `impl` or `trait` the handler is written in, if its source can be read and shows
/// one. `None` whenever that cannot be known (a function made by another macro, a source
/// that does not parse), so the other checks decide.
pub(crate) fn of(function: &ItemFn) -> Option<Enclosing> {
    let first = quote::ToTokens::to_token_stream(function)
        .into_iter()
        .next()?
        .span();
    let (file, line) = location(first)?;
    let source = std::fs::read_to_string(file).ok()?;
    // A function that starts its line is at the top of its file: the common case, and
    // the file is not parsed.
    let text = source.lines().nth(line.checked_sub(1)?)?;
    if !text.starts_with(char::is_whitespace) {
        return None;
    }
    find(
        syn::parse_file(&source).ok()?.items.iter(),
        &function.sig.ident,
    )
}

/// The file and (1-based) line a token was written at; `None` outside the compiler
/// (unit tests) or for a token without a file.
fn location(span: Span) -> Option<(PathBuf, usize)> {
    if !proc_macro::is_available() {
        return None;
    }
    let span = span.unwrap();
    Some((span.local_file()?, span.line()))
}

/// Searches `items` (and the modules and function bodies inside them) for an `impl` or
/// `trait` holding a function named `name` that carries `#[handler]` (by any path).
fn find<'a>(mut items: impl Iterator<Item = &'a Item>, name: &syn::Ident) -> Option<Enclosing> {
    let is_handler = |sig: &syn::Signature, attrs: &[syn::Attribute]| {
        sig.ident == *name
            && attrs.iter().any(|a| {
                a.path()
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "handler")
            })
    };
    items.find_map(|item| match item {
        Item::Impl(block) => block
            .items
            .iter()
            .any(|i| matches!(i, ImplItem::Fn(f) if is_handler(&f.sig, &f.attrs)))
            .then(|| {
                let ty = &block.self_ty;
                Enclosing::Impl(quote::quote!(#ty).to_string().replace(' ', ""))
            }),
        Item::Trait(block) => block
            .items
            .iter()
            .any(|i| matches!(i, TraitItem::Fn(f) if is_handler(&f.sig, &f.attrs)))
            .then(|| Enclosing::Trait(block.ident.to_string())),
        Item::Mod(module) => find(module.content.as_ref()?.1.iter(), name),
        Item::Fn(function) => {
            let mut inner = function.block.stmts.iter().filter_map(|s| match s {
                Stmt::Item(item) => Some(item),
                _ => None,
            });
            find(&mut inner as &mut dyn Iterator<Item = &Item>, name)
        }
        _ => None,
    })
}
