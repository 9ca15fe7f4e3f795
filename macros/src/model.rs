//! The handler as the expansion sees it: its parameters by role, its options resolved.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Path, Type};

use crate::parse::Args;

/// A typed parameter of the handler.
pub(crate) struct Param {
    pub(crate) ty: Type,
    pub(crate) span: Span,
}

/// The handler's state parameter `&S`.
pub(crate) struct StateParam {
    /// `S`, the type the per-environment cell holds.
    pub(crate) ty: Type,
    /// The `&S` as written, for errors about the parameter.
    pub(crate) span: Span,
}

/// What the expansion needs to know.
pub(crate) struct Handler {
    pub(crate) name: Ident,
    pub(crate) event: Option<Param>,
    pub(crate) state: Option<StateParam>,
    pub(crate) init: Option<(Path, Span)>,
    pub(crate) lazy: bool,
    pub(crate) early_return: bool,
    /// Milliseconds before the deadline at which the handler is cancelled; 0 = off.
    pub(crate) deadline_margin_ms: u64,
    pub(crate) shutdown: Option<(Path, Span)>,
    pub(crate) krate: Path,
}

/// The default `deadline_margin`, documented in the runtime crate.
pub(crate) const DEFAULT_DEADLINE_MARGIN_MS: u64 = 500;

impl Handler {
    /// Reads the function and its options. Shapes the model cannot hold are left to
    /// `check`, which reports them; here they are simply skipped.
    pub(crate) fn new(item: &ItemFn, args: &Args) -> Self {
        let typed: Vec<&syn::PatType> = item
            .sig
            .inputs
            .iter()
            .filter_map(|arg| match arg {
                FnArg::Typed(typed) => Some(typed),
                FnArg::Receiver(_) => None,
            })
            .collect();
        let event = typed.first().map(|p| Param {
            ty: (*p.ty).clone(),
            span: p.ty.span(),
        });
        let state = typed.get(1).and_then(|p| match &*p.ty {
            Type::Reference(reference) if reference.mutability.is_none() => Some(StateParam {
                ty: (*reference.elem).clone(),
                span: p.ty.span(),
            }),
            _ => None,
        });
        Self {
            name: item.sig.ident.clone(),
            event,
            state,
            init: args.init.as_ref().map(|i| (i.value.clone(), i.span)),
            lazy: args.lazy.as_ref().is_some_and(|l| l.value),
            early_return: args.early_return.as_ref().is_none_or(|e| e.value),
            deadline_margin_ms: args
                .deadline_margin
                .as_ref()
                .map_or(DEFAULT_DEADLINE_MARGIN_MS, |m| m.value),
            shutdown: args.shutdown.as_ref().map(|s| (s.value.clone(), s.span)),
            krate: args
                .krate
                .as_ref()
                .map(|k| k.value.clone())
                .unwrap_or_else(|| syn::parse_quote!(::lambda_thaw)),
        }
    }

    /// The init path as the user wrote it, for logs and errors.
    pub(crate) fn init_name(&self) -> String {
        self.init
            .as_ref()
            .map(|(path, _)| quote::quote!(#path).to_string().replace(' ', ""))
            .unwrap_or_default()
    }
}
