//! The handler as the expansion sees it: its parameters by role, its options resolved.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Path, Type};

use crate::parse::{Args, RuntimeArg, TracingArg};

/// What a handler parameter is, recognised by its type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    /// `LambdaEvent<T>`: payload and context together.
    Event,
    /// `Context`: the invocation's context, beside a payload.
    Context,
    /// `Request`: an HTTP request (feature `http`), the whole event of an HTTP handler.
    Request,
    /// `&S`: the state that `init` built.
    State,
    /// Anything else: the deserialized payload.
    Payload,
}

/// Recognises a parameter by its type as written.
pub(crate) fn role_of(ty: &Type) -> Role {
    match ty {
        Type::Reference(_) => Role::State,
        Type::Path(path) if path.qself.is_none() => match path.path.segments.last() {
            Some(last) if last.ident == "LambdaEvent" => Role::Event,
            Some(last) if last.ident == "Context" && last.arguments.is_empty() => Role::Context,
            Some(last) if last.ident == "Request" && last.arguments.is_empty() => Role::Request,
            _ => Role::Payload,
        },
        _ => Role::Payload,
    }
}

/// `E` in a return type written `Result<R, E>` (any path ending in `Result`).
fn result_error_type(ty: &Type) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match (types.next(), types.next(), types.next()) {
        (Some(_), Some(error), None) => Some(error.clone()),
        _ => None,
    }
}

/// A typed parameter of the handler.
pub(crate) struct Param {
    pub(crate) role: Role,
    /// The type as written; for the state, the referenced type `S`.
    pub(crate) ty: Type,
    /// The parameter's type as written, for errors about it.
    pub(crate) span: Span,
}

/// What the expansion needs to know.
pub(crate) struct Handler {
    pub(crate) name: Ident,
    /// The parameters in the order the handler takes them.
    pub(crate) params: Vec<Param>,
    pub(crate) init: Option<(Path, Span)>,
    pub(crate) lazy: bool,
    pub(crate) early_return: bool,
    /// Milliseconds before the deadline at which the handler is cancelled; 0 = off;
    /// `None` = the runtime's default (`lambda_thaw::DEFAULT_DEADLINE_MARGIN`).
    pub(crate) deadline_margin_ms: Option<u64>,
    pub(crate) shutdown: Option<(Path, Span)>,
    /// `tracing = path` or `tracing = false`; `None`: `lambda_runtime`'s default.
    pub(crate) tracing: Option<TracingArg>,
    pub(crate) runtime: Option<RuntimeArg>,
    pub(crate) worker_threads: Option<(usize, Span)>,
    /// `layer = path`: a function that returns a tower layer.
    pub(crate) layer: Option<(Path, Span)>,
    /// The handler is `pub`: its `main` is too, so a binary can `use` it from a library.
    pub(crate) public: bool,
    pub(crate) krate: Path,
    /// The return type as written (the function's name if there is none).
    pub(crate) output_span: Span,
    /// `E` when the return type is written `Result<R, E>`, to check it where it is
    /// written; `None` for an alias such as `lambda_thaw::Result<R>`.
    pub(crate) error_ty: Option<Type>,
}

impl Handler {
    /// Reads the function and its options. Shapes the model cannot hold are left to
    /// `check`, which reports them; here they are simply skipped.
    pub(crate) fn new(item: &ItemFn, args: &Args) -> Self {
        let params = item
            .sig
            .inputs
            .iter()
            .filter_map(|arg| match arg {
                FnArg::Typed(typed) => Some(typed),
                FnArg::Receiver(_) => None,
            })
            .map(|typed| {
                let role = role_of(&typed.ty);
                let ty = match (&*typed.ty, role) {
                    (Type::Reference(reference), Role::State) => (*reference.elem).clone(),
                    (ty, _) => ty.clone(),
                };
                Param {
                    role,
                    ty,
                    span: typed.ty.span(),
                }
            })
            .collect();
        Self {
            name: item.sig.ident.clone(),
            params,
            init: args.init.as_ref().map(|i| (i.value.clone(), i.span)),
            lazy: args.lazy.as_ref().is_some_and(|l| l.value),
            early_return: args.early_return.as_ref().is_none_or(|e| e.value),
            deadline_margin_ms: args.deadline_margin.as_ref().map(|m| m.value),
            shutdown: args.shutdown.as_ref().map(|s| (s.value.clone(), s.span)),
            tracing: args.tracing.as_ref().map(|t| t.value.clone()),
            runtime: args.runtime.as_ref().map(|r| r.value),
            worker_threads: args.worker_threads.as_ref().map(|w| (w.value, w.span)),
            layer: args.layer.as_ref().map(|l| (l.value.clone(), l.span)),
            public: matches!(item.vis, syn::Visibility::Public(_)),
            krate: args
                .krate
                .as_ref()
                .map(|k| k.value.clone())
                .unwrap_or_else(|| syn::parse_quote!(::lambda_thaw)),
            output_span: match &item.sig.output {
                syn::ReturnType::Type(_, ty) => ty.span(),
                syn::ReturnType::Default => item.sig.ident.span(),
            },
            error_ty: match &item.sig.output {
                syn::ReturnType::Type(_, ty) => result_error_type(ty),
                syn::ReturnType::Default => None,
            },
        }
    }

    /// The first parameter with `role`.
    pub(crate) fn param(&self, role: Role) -> Option<&Param> {
        self.params.iter().find(|p| p.role == role)
    }

    /// The init path as the user wrote it, for logs and errors; `None` without init.
    pub(crate) fn init_name(&self) -> Option<String> {
        self.init
            .as_ref()
            .map(|(path, _)| quote::quote!(#path).to_string().replace(' ', ""))
    }
}
