//! Every misuse the macro can see in the model, reported at the offending token with the
//! fix in words. Type-level misuses (a state type init does not return, an event that does
//! not deserialize) are left to the compiler, with messages from `lambda_thaw::requirements`'
//! `#[diagnostic::on_unimplemented]` traits, spanned at the user's tokens by `expand`.

use syn::spanned::Spanned;
use syn::{ReturnType, Type};

use crate::model::{Handler, Param, Role};
use crate::parse::RuntimeArg;
use crate::placement::Enclosing;
use crate::written::written;

/// Checks the handler and its options together; pushes one error per problem.
pub(crate) fn handler(model: &Handler, errors: &mut Vec<syn::Error>) {
    let sig = &model.sig;
    let options = &model.options;
    let error = |span: proc_macro2::Span, message: &str| syn::Error::new(span, message);

    let name = &sig.ident;
    match &model.placement.enclosing {
        Some(Enclosing::Impl(ty)) => errors.push(error(
            name.span(),
            &format!(
                "`#[handler]` goes on a free function, and `{name}` is an associated function of `impl {ty}`: move it out of the `impl` block to module level (what it needs from `{ty}` can be built once by `init = …` and taken as `&{ty}`)"
            ),
        )),
        Some(Enclosing::Trait(name_of_trait)) => errors.push(error(
            name.span(),
            &format!(
                "`#[handler]` goes on a free function, and `{name}` is a method of `trait {name_of_trait}`: move it out of the trait to module level"
            ),
        )),
        None => {}
    }
    let returns_future = returned_future(&sig.output);
    if sig.asyncness.is_none() {
        match &returns_future {
            // `fn handle(…) -> impl Future<Output = Result<…>>`: one error, not a second
            // about the return type.
            Some(output) => errors.push(error(
                sig.output.span(),
                &format!(
                    "a handler is an `async fn`, not a `fn` returning a future: write `async fn {name}(…) -> {}` and move the future's body into the function",
                    output.as_deref().unwrap_or("Result<Response, lambda_thaw::Error>")
                ),
            )),
            None => errors.push(error(
                sig.fn_token.span,
                "the `async` keyword is missing from the handler; write `async fn`",
            )),
        }
    }
    if let Some(constness) = &sig.constness {
        errors.push(error(
            constness.span,
            "a handler cannot be `const`; remove `const`",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.push(error(
            unsafety.span,
            "a handler cannot be `unsafe`; remove `unsafe`",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(error(
            abi.span(),
            "a handler cannot have an `extern` ABI; remove it",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(error(
            sig.generics.span(),
            "a handler cannot be generic: Lambda calls one concrete function; name the concrete event and state types",
        ));
    }
    if sig.ident == "main" {
        errors.push(error(
            sig.ident.span(),
            "the handler cannot be named `main`: `#[handler]` generates `main`; rename it, e.g. `handle`",
        ));
    }
    match &sig.output {
        ReturnType::Default => errors.push(error(
            sig.paren_token.span.close(),
            "the handler must return a `Result`; add `-> Result<Response, lambda_thaw::Error>`",
        )),
        ReturnType::Type(_, ty) if !looks_like_result(ty) && returns_future.is_none() => {
            let written = written(ty);
            errors.push(error(
                ty.span(),
                &format!(
                    "the handler must return a `Result`, so Lambda gets an error instead of a panic: write `-> Result<{written}, lambda_thaw::Error>` (an alias of `Result` must have `Result` in its name)"
                ),
            ));
        }
        ReturnType::Type(..) => {}
    }

    // Inside an `impl` the error above already says "a free function".
    for receiver in model
        .receivers
        .iter()
        .filter(|_| model.placement.enclosing.is_none())
    {
        errors.push(error(
            *receiver,
            "a handler cannot take `self`; make it a free function (put shared things in the state built by `init`)",
        ));
    }
    let impl_traits: Vec<_> = model
        .params
        .iter()
        .filter(|p| matches!(*p.written.ty, Type::ImplTrait(_)))
        .collect();
    for param in &impl_traits {
        errors.push(error(
            param.span(),
            "a handler parameter needs a concrete type: the event is deserialized into it, and `impl Trait` names no type; write the type, e.g. `event: LambdaEvent<MyEvent>`",
        ));
    }
    if impl_traits.is_empty() {
        parameters(model, errors);
    }

    if let (Some(state), Some(_)) = (model.state(), model.state_into_defer) {
        let ty = &state.ty;
        errors.push(error(
            state.span(),
            &format!(
                "the state moves into `defer(…)`, whose work runs after the invocation has answered: take it as `&'static {}` — it lives as long as the environment, so deferred work may keep it",
                written(ty)
            ),
        ));
    }

    let has_init = options.init_written.is_some();
    if let Some(shutdown) = &options.shutdown
        && !has_init
    {
        errors.push(error(
            shutdown.span,
            "`shutdown` receives the state that `init` built, but there is no `init`; add `init = setup` or remove `shutdown`",
        ));
    }
    if let Some(lazy) = options.lazy_written
        && !has_init
    {
        errors.push(error(
            lazy,
            "`lazy` defers `init`, but there is no `init`; add `init = setup` or remove `lazy`",
        ));
    }
    if let (Some(workers), Some(runtime)) = (&options.worker_threads, &options.runtime)
        && runtime.value == RuntimeArg::CurrentThread
    {
        errors.push(error(
            workers.span,
            "`worker_threads` sets the multi-threaded runtime's workers, but `runtime = \"current_thread\"` has none; remove one of the two",
        ));
    }
}

/// The shapes a handler's parameters may take, for messages.
const SHAPES: &str = "a handler takes `(event: LambdaEvent<T>)`, `(payload: T, context: Context)` (the context is optional) or `(request: Request)` (feature `http`), plus `state: &S` with `init`, in any order";

/// Which parameters cannot stand beside which, in the order they are checked: when the
/// handler has a parameter of role `first`, every other parameter whose role is in
/// `others` is reported, with `message` (`{first}` and `{other}` are the two as written).
/// A parameter is reported once, by the first rule that finds it.
struct Conflict {
    first: Role,
    others: &'static [Role],
    message: &'static str,
}

const CONFLICTS: &[Conflict] = &[
    // An HTTP request is the whole event: nothing else may claim to be.
    Conflict {
        first: Role::Request,
        others: &[Role::Event, Role::Payload, Role::Context, Role::Request],
        message: "`{other}` is neither the request nor the state: the handler takes the HTTP request as `{first}` (its `Context` is `request.lambda_context()`); {shapes}",
    },
    Conflict {
        first: Role::Event,
        others: &[Role::Payload, Role::Context],
        message: "`{other}` is neither the event nor the state: the handler already takes the whole event as `{first}`; {shapes}; put other values in the state",
    },
    Conflict {
        first: Role::Event,
        others: &[Role::Event],
        message: "a second `LambdaEvent` parameter; {shapes}",
    },
    Conflict {
        first: Role::Payload,
        others: &[Role::Payload],
        message: "`{first}` and `{other}` could both be the payload (a parameter that is not `LambdaEvent`, `Context` or `&State`); {shapes}; put other values in the state",
    },
    Conflict {
        first: Role::Context,
        others: &[Role::Context],
        message: "a second `Context` parameter; {shapes}",
    },
];

/// Checks the parameters by role (see `model::Role`): the [`CONFLICTS`] between them, an
/// event of some kind, and a `&S` exactly when there is an `init`.
fn parameters(model: &Handler, errors: &mut Vec<syn::Error>) {
    let sig = &model.sig;
    let has_init = model.options.init_written.is_some();
    let count = |role: Role| model.with_role(role).len();
    let whole = |p: &Param| p.written.span();

    // The state written without `&` beside the event reads as a second payload: say so
    // instead (with an init, no `&S`, exactly an event and a payload).
    if has_init
        && count(Role::State) == 0
        && count(Role::Event) == 1
        && count(Role::Payload) == 1
        && count(Role::Context) == 0
        && count(Role::Request) == 0
    {
        let payload = model.with_role(Role::Payload)[0];
        errors.push(syn::Error::new(
            payload.span(),
            format!(
                "the state parameter must be a shared reference: write `&{}`",
                written(&payload.ty)
            ),
        ));
        return;
    }

    let mut reported = vec![false; model.params.len()];
    for rule in CONFLICTS {
        let Some(at) = model.params.iter().position(|p| p.role == rule.first) else {
            continue;
        };
        let first = &model.params[at];
        for (i, other) in model.params.iter().enumerate() {
            if i == at || reported[i] || !rule.others.contains(&other.role) {
                continue;
            }
            reported[i] = true;
            let message = rule
                .message
                .replace("{first}", &first.text())
                .replace("{other}", &other.text())
                .replace("{shapes}", SHAPES);
            errors.push(syn::Error::new(whole(other), message));
        }
        // A request beside anything else: the rest would only repeat it.
        if rule.first == Role::Request && reported.contains(&true) {
            return;
        }
    }

    if count(Role::Event) + count(Role::Payload) + count(Role::Request) == 0 {
        let span = model
            .params
            .first()
            .map_or_else(|| sig.paren_token.span.join(), whole);
        errors.push(syn::Error::new(
            span,
            format!("the handler needs an event parameter, e.g. `event: LambdaEvent<serde_json::Value>`; {SHAPES}"),
        ));
    }

    let states = model.with_role(Role::State);
    if states.is_empty() && has_init {
        errors.push(syn::Error::new(
            model.options.init_written.unwrap_or_else(|| sig.ident.span()),
            "`init` builds a state, but the handler has no parameter for it; add one, e.g. `state: &State`",
        ));
    }
    idempotency(model, errors);
    for (i, state) in states.iter().enumerate() {
        let Type::Reference(reference) = &*state.written.ty else {
            continue;
        };
        if !has_init {
            errors.push(syn::Error::new(
                whole(state),
                "this parameter would be the state, but there is no `init` to build it; add `#[handler(init = setup)]` or remove the parameter",
            ));
        } else if i > 0 {
            errors.push(syn::Error::new(
                whole(state),
                "a second reference parameter: the handler has one state (`&S`, built by `init`); put everything it needs in that one type",
            ));
        } else if let Some(mutability) = &reference.mutability {
            errors.push(syn::Error::new(
                mutability.span(),
                "the state is shared by every invocation of the environment, so it is borrowed shared: write `&` instead of `&mut` and use interior mutability (e.g. a `Mutex`) for what changes",
            ));
        }
    }
}

/// `idempotent(key = …)` and the `&mut Transaction` parameter go together; the store comes
/// from the state, so there is an `init`; an HTTP handler has no JSON payload to key on.
fn idempotency(model: &Handler, errors: &mut Vec<syn::Error>) {
    let transactions = model.with_role(Role::Transaction);
    match &model.options.idempotent {
        // Written with keys that were refused: that error is the one to read.
        None if model.options.idempotent_written.is_some() => {}
        None => {
            if let Some(tx) = transactions.first() {
                errors.push(syn::Error::new(
                    tx.span(),
                    "a `&mut Transaction` parameter is the claim's transaction of `idempotent(key = \"/field\")`: add that option (the event's key in its payload), or take the pool from the state and begin a transaction yourself",
                ));
            }
        }
        Some(idempotent) => {
            let span = idempotent.span;
            if transactions.is_empty() {
                errors.push(syn::Error::new(
                    span,
                    "`idempotent` runs the handler inside the transaction that claims the event's key: add a parameter `tx: &mut sqlx::Transaction<'_, Postgres>` (your database's) and write through it (`.execute(&mut **tx)`)",
                ));
            }
            for extra in transactions.iter().skip(1) {
                errors.push(syn::Error::new(
                    extra.span(),
                    "a second `&mut Transaction` parameter: the handler gets one, the claim's; remove this one",
                ));
            }
            if model.options.init_written.is_none() {
                errors.push(syn::Error::new(
                    span,
                    "`idempotent` needs the store from the state: add `init = setup`, where `setup` returns an `Idempotency<Postgres>` (or a state implementing `lambda_thaw::idempotency::HasStore`), and take it as `&State`",
                ));
            }
            if matches!(model.entry, crate::model::Entry::Http) {
                errors.push(syn::Error::new(
                    span,
                    "`idempotent` reads its key from a JSON payload, and an HTTP handler takes the request: call `Idempotency::transactional` in the handler with a `Key` you read from the request",
                ));
            }
        }
    }
}

/// `Result<…>`, `io::Result<…>`, `anyhow::Result<…>`, `HandlerResult<…>`: a path whose
/// last segment names a `Result`.
fn looks_like_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident.to_string().ends_with("Result")),
        Type::Paren(inner) => looks_like_result(&inner.elem),
        Type::Group(inner) => looks_like_result(&inner.elem),
        _ => false,
    }
}

/// `Some(output)` when the return type is `impl Future<Output = …>` (the output as written,
/// if it says one).
fn returned_future(output: &ReturnType) -> Option<Option<String>> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::ImplTrait(bounds) = &**ty else {
        return None;
    };
    bounds.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let last = bound.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            return Some(None);
        };
        Some(args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::AssocType(assoc) if assoc.ident == "Output" => {
                Some(written(&assoc.ty))
            }
            _ => None,
        }))
    })
}
