//! Every misuse the macro can see in the model, reported at the offending token with the
//! fix in words. Type-level misuses (a state type init does not return, an event that does
//! not deserialize) are left to the compiler, with messages from `lambda_thaw::requirements`'
//! `#[diagnostic::on_unimplemented]` traits, spanned at the user's tokens by `expand`.

use syn::spanned::Spanned;
use syn::{ReturnType, Type};

use crate::model::{Handler, Param, Role};
use crate::parse::RuntimeArg;
use crate::placement::Enclosing;

/// Checks the handler and its options together; pushes one error per problem.
pub(crate) fn handler(model: &Handler, errors: &mut Vec<syn::Error>) {
    let sig = &model.sig;
    let args = &model.options;
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
    if let Some((module, root)) = &model.placement.main_out_of_reach {
        errors.push(error(
            name.span(),
            &format!(
                "`#[handler]` generates `main` inside module `{module}`, and the binary's root (`{root}`) does not bring it in, so the binary has no `main`: add `use {module}::main;` to `{root}`"
            ),
        ));
    }

    if sig.asyncness.is_none() {
        errors.push(error(
            sig.fn_token.span,
            "the `async` keyword is missing from the handler; write `async fn`",
        ));
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
        ReturnType::Type(_, ty) if !looks_like_result(ty) => {
            let written = quote::quote!(#ty).to_string().replace(' ', "");
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

    let has_init = args.init_written.is_some();
    if let Some(shutdown) = &args.shutdown
        && !has_init
    {
        errors.push(error(
            shutdown.span,
            "`shutdown` receives the state that `init` built, but there is no `init`; add `init = setup` or remove `shutdown`",
        ));
    }
    if let Some(lazy) = &args.lazy
        && !has_init
    {
        errors.push(error(
            lazy.span,
            "`lazy` defers `init`, but there is no `init`; add `init = setup` or remove `lazy`",
        ));
    }
    if let (Some(workers), Some(runtime)) = (&args.worker_threads, &args.runtime)
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

/// Checks the parameters by role (see `model::Role`): one event or one payload, at most
/// one context (only beside a payload), and a `&S` exactly when there is an `init`.
fn parameters(model: &Handler, errors: &mut Vec<syn::Error>) {
    let sig = &model.sig;
    let has_init = model.options.init_written.is_some();
    let (events, payloads, contexts, states, requests) = (
        model.with_role(Role::Event),
        model.with_role(Role::Payload),
        model.with_role(Role::Context),
        model.with_role(Role::State),
        model.with_role(Role::Request),
    );
    let whole = |p: &Param| p.written.span();
    // An HTTP request is the whole event: nothing else may claim to be.
    if let Some(request) = requests.first() {
        let conflicts: Vec<&&Param> = events
            .iter()
            .chain(&payloads)
            .chain(&contexts)
            .chain(requests.iter().skip(1))
            .collect();
        for other in &conflicts {
            errors.push(syn::Error::new(
                whole(other),
                format!(
                    "`{}` is neither the request nor the state: the handler takes the HTTP request as `{}` (its `Context` is `request.lambda_context()`); {SHAPES}",
                    other.text(),
                    request.text()
                ),
            ));
        }
        if !conflicts.is_empty() {
            return;
        }
    }

    if events.is_empty() && payloads.is_empty() && requests.is_empty() {
        let span = model
            .params
            .first()
            .map_or_else(|| sig.paren_token.span.join(), whole);
        errors.push(syn::Error::new(
            span,
            format!("the handler needs an event parameter, e.g. `event: LambdaEvent<serde_json::Value>`; {SHAPES}"),
        ));
    }
    // A non-reference parameter beside the event, with an init: the state without `&`.
    if has_init
        && states.is_empty()
        && events.len() == 1
        && payloads.len() == 1
        && contexts.is_empty()
    {
        let ty = &payloads[0].ty;
        errors.push(syn::Error::new(
            payloads[0].span(),
            format!(
                "the state parameter must be a shared reference: write `&{}`",
                quote::quote!(#ty).to_string().replace(' ', "")
            ),
        ));
        return;
    }
    if let Some(event) = events.first() {
        for other in payloads.iter().chain(&contexts) {
            errors.push(syn::Error::new(
                whole(other),
                format!(
                    "`{}` is neither the event nor the state: the handler already takes the whole event as `{}`; {SHAPES}; put other values in the state",
                    other.text(),
                    event.text()
                ),
            ));
        }
    }
    for extra in events.iter().skip(1) {
        errors.push(syn::Error::new(
            whole(extra),
            format!("a second `LambdaEvent` parameter; {SHAPES}"),
        ));
    }
    for extra in payloads.iter().skip(1) {
        errors.push(syn::Error::new(
            whole(extra),
            format!(
                "`{}` and `{}` could both be the payload (a parameter that is not `LambdaEvent`, `Context` or `&State`); {SHAPES}; put other values in the state",
                payloads[0].text(),
                extra.text()
            ),
        ));
    }
    for extra in contexts.iter().skip(1) {
        errors.push(syn::Error::new(
            whole(extra),
            format!("a second `Context` parameter; {SHAPES}"),
        ));
    }

    if states.is_empty() && has_init {
        errors.push(syn::Error::new(
            model.options.init_written.unwrap_or_else(|| sig.ident.span()),
            "`init` builds a state, but the handler has no parameter for it; add one, e.g. `state: &State`",
        ));
    }
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
