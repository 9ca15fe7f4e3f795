//! The handler as the rest of the macro sees it, read once from the function and its
//! options: each parameter's role, which one is the state, and what kind of event the
//! handler takes. `check` reports what the model shows to be wrong; `expand` writes code
//! from it.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, PatType, Path, Type};

use crate::parse::{Args, Located, RuntimeArg, TracingArg};
use crate::placement::{self, Placement};
use crate::written::written;

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
    /// `&mut Transaction<'_, DB>`: the claim's transaction, with `idempotent(key = …)`.
    Transaction,
    /// Anything else: the deserialized payload.
    Payload,
}

/// The types recognised by the last segment of their path, and whether that segment may
/// carry generic arguments. A reference is the state; anything else is the payload.
const RECOGNISED: &[(&str, bool, Role)] = &[
    ("LambdaEvent", true, Role::Event),
    ("Context", false, Role::Context),
    ("Request", false, Role::Request),
];

/// Recognises a parameter by its type as written.
fn role_of(ty: &Type) -> Role {
    let last = match ty {
        Type::Reference(reference)
            if reference.mutability.is_some() && last_ident_is(&reference.elem, "Transaction") =>
        {
            return Role::Transaction;
        }
        Type::Reference(_) => return Role::State,
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    };
    last.and_then(|last| {
        RECOGNISED
            .iter()
            .find(|(name, generic, _)| {
                last.ident == name && (*generic || last.arguments.is_empty())
            })
            .map(|(_, _, role)| *role)
    })
    .unwrap_or(Role::Payload)
}

/// Whether `ty` is a path whose last segment is `name` (`sqlx::Transaction<'_, Postgres>`).
fn last_ident_is(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none()
        && path.path.segments.last().is_some_and(|last| last.ident == name))
}

/// A typed parameter of the handler.
pub(crate) struct Param {
    pub(crate) role: Role,
    /// The type as written; for the state, the referenced type `S`.
    pub(crate) ty: Type,
    /// The whole parameter (`pattern: Type`) as written.
    pub(crate) written: PatType,
}

impl Param {
    /// Where the parameter's type is written, for errors about it.
    pub(crate) fn span(&self) -> Span {
        self.written.ty.span()
    }

    /// `pattern: Type`, as the user wrote it, for messages.
    pub(crate) fn text(&self) -> String {
        written(&self.written)
    }
}

/// What kind of event the handler takes, decided once from its parameters.
pub(crate) enum Entry {
    /// `LambdaEvent<T>`, the type as written.
    Event(Type, Span),
    /// A payload `T` (the runtime deserializes `LambdaEvent<T>` and splits it), and
    /// whether the handler also takes the `Context`.
    Payload { ty: Type, span: Span, context: bool },
    /// An HTTP `Request`: `lambda_http` deserializes the event.
    Http,
    /// No event parameter at all (an error `check` reports).
    Missing,
}

/// Everything the checks and the expansion need to know about the handler.
pub(crate) struct Handler {
    /// The signature as written, for the checks of its keywords and shape.
    pub(crate) sig: syn::Signature,
    /// The parameters in the order the handler takes them (`self` is not one of them).
    pub(crate) params: Vec<Param>,
    /// Where a `self` parameter was written.
    pub(crate) receivers: Vec<Span>,
    /// Where the source shows the function written: in an `impl`, or in a module whose
    /// `main` the binary's root does not bring in.
    pub(crate) placement: Placement,
    pub(crate) options: Options,
    /// The parameter that receives the state: the first `&S`, when there is an `init`.
    state: Option<usize>,
    pub(crate) entry: Entry,
    /// The handler is `pub`: its `main` is too, so a binary can `use` it from a library.
    pub(crate) public: bool,
    /// Where the body moves the state into `defer(…)` while the state is taken as `&S`
    /// rather than `&'static S` (rustc's lifetime error would not say what to write).
    pub(crate) state_into_defer: Option<Span>,
}

/// The attribute's options, typed: all that check and expand know of them.
pub(crate) struct Options {
    /// `init = path`.
    pub(crate) init: Option<Init>,
    /// Where `init` was written, even with a value that was refused (so that no "there is
    /// no `init`" is added to the error about its value).
    pub(crate) init_written: Option<Span>,
    /// `lazy` is on.
    pub(crate) lazy: bool,
    /// Where `lazy` was written, on or off.
    pub(crate) lazy_written: Option<Span>,
    /// `early_return` (default on).
    pub(crate) early_return: bool,
    /// Milliseconds before the deadline at which the handler is cancelled; 0 = off;
    /// `None` = the runtime's default (`lambda_thaw::DEFAULT_DEADLINE_MARGIN`).
    pub(crate) deadline_margin_ms: Option<u64>,
    /// `shutdown = path`.
    pub(crate) shutdown: Option<Located<Path>>,
    /// `tracing = path` or `tracing = false`; `None`: `lambda_runtime`'s default.
    pub(crate) tracing: Option<TracingArg>,
    /// `runtime = "…"`.
    pub(crate) runtime: Option<Located<RuntimeArg>>,
    /// `worker_threads = N`.
    pub(crate) worker_threads: Option<Located<usize>>,
    /// `layer = path`: a function that returns a tower layer.
    pub(crate) layer: Option<Located<Path>>,
    /// `metrics = "Namespace"`: CloudWatch metrics on, in that namespace.
    pub(crate) metrics: Option<String>,
    /// `idempotent(key = …)`: the key's JSON pointers, and where the option was written.
    pub(crate) idempotent: Option<Located<Vec<String>>>,
    /// Where `idempotent` was written, even with keys that were refused.
    pub(crate) idempotent_written: Option<Span>,
    /// Where `lambda-thaw` is (`crate = "…"`, else `::lambda_thaw`).
    pub(crate) krate: Path,
}

/// `init = path`: the function, where it was named, and its name for logs and errors.
pub(crate) struct Init {
    pub(crate) path: Path,
    pub(crate) span: Span,
    pub(crate) name: String,
}

impl From<Args> for Options {
    fn from(args: Args) -> Self {
        Options {
            init: args.init.map(|init| Init {
                name: written(&init.value),
                path: init.value,
                span: init.span,
            }),
            init_written: args.init_written,
            lazy: args.lazy.as_ref().is_some_and(|l| l.value),
            lazy_written: args.lazy.map(|l| l.span),
            early_return: args.early_return.is_none_or(|e| e.value),
            deadline_margin_ms: args.deadline_margin.map(|m| m.value),
            shutdown: args.shutdown,
            tracing: args.tracing.map(|t| t.value),
            runtime: args.runtime,
            worker_threads: args.worker_threads,
            layer: args.layer,
            metrics: args.metrics.map(|m| m.value),
            idempotent: args.idempotent,
            idempotent_written: args.idempotent_written,
            krate: args
                .krate
                .map(|k| k.value)
                .unwrap_or_else(|| syn::parse_quote!(::lambda_thaw)),
        }
    }
}

impl Handler {
    /// Reads the function and its options.
    pub(crate) fn new(item: &ItemFn, options: Args) -> Self {
        let mut params = Vec::new();
        let mut receivers = Vec::new();
        for input in &item.sig.inputs {
            match input {
                FnArg::Receiver(receiver) => receivers.push(receiver.span()),
                FnArg::Typed(typed) => {
                    let role = role_of(&typed.ty);
                    let ty = match (&*typed.ty, role) {
                        (Type::Reference(reference), Role::State) => (*reference.elem).clone(),
                        (ty, _) => ty.clone(),
                    };
                    params.push(Param {
                        role,
                        ty,
                        written: typed.clone(),
                    });
                }
            }
        }
        let first = |role: Role| params.iter().position(|p| p.role == role);
        let options = Options::from(options);
        let state = first(Role::State).filter(|_| options.init.is_some());
        let state_into_defer = state.and_then(|i| moved_into_defer(&params[i], &item.block));
        let entry = match (
            first(Role::Request),
            first(Role::Event),
            first(Role::Payload),
        ) {
            (Some(_), _, _) => Entry::Http,
            (None, Some(event), _) => Entry::Event(params[event].ty.clone(), params[event].span()),
            (None, None, Some(payload)) => Entry::Payload {
                ty: params[payload].ty.clone(),
                span: params[payload].span(),
                context: first(Role::Context).is_some(),
            },
            (None, None, None) => Entry::Missing,
        };
        Self {
            sig: item.sig.clone(),
            params,
            receivers,
            placement: placement::of(item),
            state,
            state_into_defer,
            entry,
            public: matches!(item.vis, syn::Visibility::Public(_)),
            options,
        }
    }

    pub(crate) fn name(&self) -> &Ident {
        &self.sig.ident
    }

    /// The return type as written (the function's name if there is none).
    pub(crate) fn output_span(&self) -> Span {
        match &self.sig.output {
            syn::ReturnType::Type(_, ty) => ty.span(),
            syn::ReturnType::Default => self.sig.ident.span(),
        }
    }

    /// `E` when the return type is written `Result<R, E>`, to check it where it is
    /// written; `None` for an alias such as `lambda_thaw::Result<R>`.
    pub(crate) fn error_ty(&self) -> Option<Type> {
        match &self.sig.output {
            syn::ReturnType::Type(_, ty) => result_error_type(ty),
            syn::ReturnType::Default => None,
        }
    }

    /// The parameters with `role`, in order.
    pub(crate) fn with_role(&self, role: Role) -> Vec<&Param> {
        self.params.iter().filter(|p| p.role == role).collect()
    }

    /// Where the state parameter is among the typed parameters.
    pub(crate) fn state_index(&self) -> Option<usize> {
        self.state
    }

    /// The state parameter, if the handler has a state (an `init` and a `&S`).
    pub(crate) fn state(&self) -> Option<&Param> {
        self.state.map(|i| &self.params[i])
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

/// Where the body names the state parameter inside the arguments of a `defer(…)` call,
/// when that parameter is a reference without the `'static` lifetime. Tokens only: a
/// `defer` of any path (`lambda_thaw::defer`, a `use`d `defer`).
fn moved_into_defer(state: &Param, body: &syn::Block) -> Option<Span> {
    let Type::Reference(reference) = &*state.written.ty else {
        return None;
    };
    if reference
        .lifetime
        .as_ref()
        .is_some_and(|lifetime| lifetime.ident == "static")
    {
        return None;
    }
    let syn::Pat::Ident(name) = &*state.written.pat else {
        return None;
    };
    find_defer_naming(quote::ToTokens::to_token_stream(body), &name.ident)
}

fn find_defer_naming(tokens: proc_macro2::TokenStream, name: &Ident) -> Option<Span> {
    use proc_macro2::{Delimiter, TokenTree};
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Ident(ident) if ident == "defer" => {
                if let Some(TokenTree::Group(args)) = tokens.get(i + 1)
                    && args.delimiter() == Delimiter::Parenthesis
                    && names(args.stream(), name)
                {
                    return Some(ident.span());
                }
            }
            TokenTree::Group(group) => {
                if let Some(span) = find_defer_naming(group.stream(), name) {
                    return Some(span);
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether `tokens` mention the identifier `name` anywhere.
fn names(tokens: proc_macro2::TokenStream, name: &Ident) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == *name,
        proc_macro2::TokenTree::Group(group) => names(group.stream(), name),
        _ => false,
    })
}
