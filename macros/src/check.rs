//! Every misuse the macro can see, reported at the offending token with the fix in words.
//! Type-level misuses (a state type init does not return, an event that does not
//! deserialize) are left to the compiler, with messages from `lambda_thaw::__private`'s
//! `#[diagnostic::on_unimplemented]` traits, spanned at the user's tokens by `expand`.

use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType, Type};

use crate::parse::Args;

/// Checks the function and its options together; pushes one error per problem.
pub(crate) fn handler(item: &ItemFn, args: &Args, errors: &mut Vec<syn::Error>) {
    let sig = &item.sig;
    let error = |span: proc_macro2::Span, message: &str| syn::Error::new(span, message);

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
    if let ReturnType::Default = sig.output {
        errors.push(error(
            sig.paren_token.span.close(),
            "the handler must return a `Result`; add `-> Result<Response, lambda_thaw::Error>`",
        ));
    }

    let mut typed = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(error(
                receiver.span(),
                "a handler cannot take `self`; make it a free function (put shared things in the state built by `init`)",
            )),
            FnArg::Typed(param) => typed.push(param),
        }
    }
    let has_init = args.init_written.is_some();
    match typed.len() {
        0 => errors.push(error(
            sig.paren_token.span.join(),
            "the handler needs an event parameter, e.g. `event: LambdaEvent<serde_json::Value>`",
        )),
        1 if has_init => {
            let init_span = args.init_written.unwrap();
            errors.push(error(
                init_span,
                "`init` builds a state, but the handler has no parameter for it; add one after the event, e.g. `state: &State`",
            ));
        }
        _ => {}
    }
    if let Some(param) = typed.get(1) {
        if !has_init {
            errors.push(error(
                param.span(),
                "this parameter would be the state, but there is no `init` to build it; add `#[handler(init = setup)]` or remove the parameter",
            ));
        } else {
            match &*param.ty {
                Type::Reference(reference) if reference.mutability.is_some() => errors.push(error(
                    reference.mutability.span(),
                    "the state is shared by every invocation of the environment, so it is borrowed shared: write `&` instead of `&mut` and use interior mutability (e.g. a `Mutex`) for what changes",
                )),
                Type::Reference(_) => {}
                other => errors.push(error(
                    other.span(),
                    &format!(
                        "the state parameter must be a shared reference: write `&{}`",
                        quote::quote!(#other).to_string().replace(' ', "")
                    ),
                )),
            }
        }
    }
    for extra in typed.iter().skip(2) {
        errors.push(error(
            extra.span(),
            "too many parameters: a handler takes the event and, with `init`, a `&State`; put everything else in the state",
        ));
    }

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
}
