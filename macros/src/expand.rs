//! Writes the generated code: the user's function unchanged, the per-environment state
//! cell, and `main`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn};

use crate::model::{Entry, Handler, Role};
use crate::parse::{RuntimeArg, TracingArg};
use crate::{check, parse};

/// The whole expansion: parse → model → check → expand. On any error, the user's item
/// is still emitted (so the IDE keeps working) with every error next to it.
pub(crate) fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    let args = parse::args(args, &mut errors);
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        // A function whose body does not parse yet (half-typed in an editor): rustc
        // reports the syntax error itself when it reads the item back; nothing to add.
        Err(_) if is_a_function(&item) => return with_errors(item, errors),
        Err(_) => {
            errors.push(syn::Error::new(
                item_keyword(&item),
                "`#[handler]` goes on an `async fn`, e.g. `async fn handle(event: LambdaEvent<T>) -> Result<R, Error>`",
            ));
            return with_errors(item, errors);
        }
    };
    let model = Handler::new(&function, args);
    check::handler(&model, &mut errors);
    if !errors.is_empty() {
        let function = with_state_static(function, &model);
        return with_errors(quote!(#function), errors);
    }
    let generated = generate(&model);
    quote! {
        // `#[handler]` requires `async`, even for a handler that never awaits.
        #[allow(clippy::unused_async)]
        #function
        #generated
    }
}

/// The function as it should have been written when the only trouble is a state moved
/// into `defer(…)` as `&S`: with `&'static S`, so that our error (which says so) is the
/// only one, not rustc's lifetime error beside it.
fn with_state_static(mut function: ItemFn, model: &Handler) -> ItemFn {
    if model.state_into_defer.is_none() {
        return function;
    }
    let Some(at) = model.state_index() else {
        return function;
    };
    let typed = function
        .sig
        .inputs
        .iter_mut()
        .filter_map(|input| match input {
            syn::FnArg::Typed(typed) => Some(typed),
            syn::FnArg::Receiver(_) => None,
        });
    if let Some(state) = typed.into_iter().nth(at)
        && let syn::Type::Reference(reference) = &mut *state.ty
    {
        reference.lifetime = Some(syn::Lifetime::new("'static", reference.and_token.span));
    }
    function
}

/// Where an item that is not a function says what it is (`struct`, `const`, `fn`, …):
/// past its attributes and visibility.
fn item_keyword(item: &TokenStream) -> Span {
    use proc_macro2::TokenTree;
    let mut tokens = item.clone().into_iter().peekable();
    while let Some(token) = tokens.next() {
        match &token {
            // `#[attribute]`
            TokenTree::Punct(p) if p.as_char() == '#' => {
                tokens.next();
            }
            // `pub`, `pub(crate)`
            TokenTree::Ident(ident) if ident == "pub" => {
                if let Some(TokenTree::Group(_)) = tokens.peek() {
                    tokens.next();
                }
            }
            other => return other.span(),
        }
    }
    Span::call_site()
}

/// Whether `item` is a function (`fn` among its leading keywords), whatever its body.
fn is_a_function(item: &TokenStream) -> bool {
    use proc_macro2::TokenTree;
    item.clone()
        .into_iter()
        .take_while(|token| !matches!(token, TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Brace))
        .any(|token| matches!(&token, TokenTree::Ident(ident) if ident == "fn"))
}

fn with_errors(item: TokenStream, errors: Vec<syn::Error>) -> TokenStream {
    let errors = errors.into_iter().map(|e| e.to_compile_error());
    // A stand-in `main`, so the only errors are ours, not "`main` function not found".
    quote! {
        #item
        #(#errors)*
        fn main() {}
    }
}

fn generate(handler: &Handler) -> TokenStream {
    let krate = &handler.options.krate;
    let private = quote!(#krate::__private);
    let requirements = quote!(#krate::requirements);
    let name = handler.name();
    let (event_ty, event_check) = event(handler, &private, &requirements).unzip();
    let state = handler.state();
    let state_ty = match state {
        Some(state) => {
            let ty = &state.ty;
            quote!(#ty)
        }
        None => quote!(()),
    };

    // One check per type the user wrote, spanned there, so a mistake is one error at it.
    let state_check = state.map(|state| {
        let ty = &state.ty;
        quote_spanned! {state.span()=> #requirements::assert_state::<#ty>(); }
    });
    let (error_ty, error_check) = match &handler.error_ty() {
        Some(ty) => (
            quote!(#ty),
            Some(quote_spanned! {ty.span()=> #requirements::assert_error::<#ty>(); }),
        ),
        // An alias we cannot see into: `main`'s own bound reports a bad error type.
        None => (quote!(#private::Diagnostic), None),
    };
    let probe_event = match &event_ty {
        Some(ty) => quote!(#ty),
        // `lambda_http` deserializes an HTTP handler's event, whatever the source: nothing
        // to check, so any event that passes stands in for it.
        None => quote!(#private::LambdaEvent<()>),
    };
    // `Checked` when the checks hold; else `Rejected`, whose methods have no bounds, so
    // the failed check is the only error. Asked afresh wherever it is needed (it is a
    // zero-sized value) so that no closure has to capture it.
    let entry_kind = quote! {
        (&&#private::Probe::<(#state_ty, #probe_event, #error_ty)>::new()).__lambda_thaw_entry()
    };

    let init = init(handler, &private, &entry_kind);
    let call = call(handler, &state_ty, event_ty.as_ref(), &entry_kind);
    let shutdown = shutdown(handler, &private, &entry_kind);
    // Spanned at the return type: a response type the runtime cannot send is reported
    // there.
    let entry = match handler.entry {
        Entry::Http => Ident::new("run_http", handler.output_span()),
        _ => Ident::new("run", handler.output_span()),
    };
    let setup = setup(handler);
    let handler_name = name.to_string();
    let init_name = option(handler.options.init.as_ref().map(|init| &init.name));
    let lazy = handler.options.lazy;
    let early_return = handler.options.early_return;
    let deadline_margin_ms = option(handler.options.deadline_margin_ms);
    let metrics = option(handler.options.metrics.as_deref());
    let body = format_ident!("__lambda_thaw_main_{}", name);
    let main_module = Ident::new(ONE_HANDLER_PER_BINARY, Span::call_site());
    let main = entry_point(name, &body, &main_module, handler.public);
    // Spanned at the handler's name: the warning when a `fn main` of the user's shadows
    // the generated one.
    let main_check = quote_spanned! {name.span()=>
        #[allow(unused_imports)]
        use #requirements::{MainIsGenerated as _, YourOwnMain as _};
        (&&#private::Probe::<(_, #main_module::__LambdaThawExit)>::of(main)).shadowed_by_your_own_main();
    };
    // Spanned at the handler's name: the warning when the build aborts on a panic.
    let panic_check = quote_spanned! {name.span()=>
        #[cfg(panic = "abort")]
        let () = #requirements::built_with_panic_abort();
    };
    quote! {
        #[doc(hidden)]
        #[cfg_attr(test, allow(dead_code))]
        fn #body() -> ::std::process::ExitCode {
            #event_check
            #state_check
            #error_check
            #main_check
            #panic_check
            #[allow(unused_imports)]
            use #private::{EntryChecked as _, EntryRejected as _};
            // `lambda_thaw::Builder`, as a hand-written `main` would use it.
            #entry_kind
                .builder(
                    #private::Options {
                        handler_name: #handler_name,
                        init_name: #init_name,
                        lazy: #lazy,
                        early_return: #early_return,
                        deadline_margin_ms: #deadline_margin_ms,
                        metrics: #metrics,
                    },
                    #init,
                    #shutdown,
                )
                #setup
                .#entry(#call)
        }
        #main
    }
}

/// The builder calls for the options that shape the process: tracing, the tokio
/// runtime, a tower layer. Each is spanned at its option, so a function of the wrong type
/// is reported where it was named.
fn setup(handler: &Handler) -> TokenStream {
    let mut calls = TokenStream::new();
    match &handler.options.tracing {
        Some(TracingArg::Custom(path)) => {
            calls.extend(quote_spanned! {path.span()=> .tracing(#path) });
        }
        Some(TracingArg::Off) => calls.extend(quote!(.without_tracing())),
        None => {}
    }
    if handler
        .options
        .runtime
        .as_ref()
        .is_some_and(|r| r.value == RuntimeArg::CurrentThread)
    {
        calls.extend(quote!(.current_thread_runtime()));
    }
    if let Some(workers) = &handler.options.worker_threads {
        let (count, span) = (workers.value, workers.span);
        calls.extend(quote_spanned! {span=> .worker_threads(#count) });
    }
    if let Some(layer) = &handler.options.layer {
        let (path, span) = (&layer.value, layer.span);
        calls.extend(quote_spanned! {span=> .layer(#path()) });
    }
    calls
}

/// `Some(value)` or `None`, as tokens with absolute paths.
fn option<T: quote::ToTokens>(value: Option<T>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

/// The event type the runtime deserializes — the handler's `LambdaEvent<T>`, or
/// `LambdaEvent<T>` around its payload `T` — and the check that it deserializes, spanned
/// where the user wrote the type. `None` for HTTP handlers (`lambda_http` deserializes
/// their event).
fn event(
    handler: &Handler,
    private: &TokenStream,
    requirements: &TokenStream,
) -> Option<(syn::Type, TokenStream)> {
    match &handler.entry {
        Entry::Event(ty, span) => {
            let check = quote_spanned! {*span=> #requirements::assert_event::<#ty>(); };
            Some((ty.clone(), check))
        }
        Entry::Payload { ty, span, .. } => {
            let check = quote_spanned! {*span=> #requirements::assert_payload::<#ty>(); };
            Some((syn::parse_quote!(#private::LambdaEvent<#ty>), check))
        }
        Entry::Http | Entry::Missing => None,
    }
}

/// The init closure: the user's init, sync or async, returning `S` or `Result<S, E>`,
/// turned into a `Send` future of `Result<S, InitError>`.
fn init(handler: &Handler, private: &TokenStream, entry_kind: &TokenStream) -> TokenStream {
    let (Some(init), Some(state)) = (&handler.options.init, handler.state()) else {
        return quote!(|| async { ::core::result::Result::Ok(()) });
    };
    let ty = &state.ty;
    let krate = &handler.options.krate;
    let (path, init_span, init_name) = (&init.path, init.span, &init.name);
    let into_state = quote_spanned! {init_span=>
        #private::IntoInitResult::<#ty>::into_init_result(__lambda_thaw_output, #init_name)
    };
    // Spanned at `init = path`: an init future that is not `Send` is reported there.
    quote_spanned! {init_span=>
        || #entry_kind.send(async {
            #[allow(unused_imports)]
            use #private::{ViaFuture as _, ViaValue as _};
            let __lambda_thaw_call = #private::InitCall(#krate::requirements::InitFn::call_init(#path));
            // Its own statement: a borrow of the call must not live across the
            // await, or the init future would have to be `Sync`.
            let __lambda_thaw_kind = (&&__lambda_thaw_call).__lambda_thaw_init_kind();
            let __lambda_thaw_output = __lambda_thaw_kind.resolve(__lambda_thaw_call).await;
            #into_state
        })
    }
}

/// `main` itself, calling `body`. `public`: the handler is `pub`, and so is its `main`, so
/// that a binary can make a library's handler its entry point with `use lib::module::main;`.
fn entry_point(name: &Ident, body: &Ident, main_module: &Ident, public: bool) -> TokenStream {
    let vis = if public {
        quote!(pub)
    } else {
        quote!(pub(crate))
    };
    // A binary has one handler. `main` comes from a module whose name is the rule, so a
    // second handler in the same module is "the name `…` is defined multiple times", at
    // both handlers. Across modules, each non-`pub` handler also defines a macro of that
    // name at the crate's root (`#[macro_export]` puts it there from any module): the same
    // error, in the macro namespace (in the same module, both are reported). A `pub`
    // handler does not: a library may hold several, each binary bringing in one with
    // `use my_lib::orders::main;`.
    let one_per_binary = Ident::new(ONE_HANDLER_PER_BINARY, name.span());
    let rule = (!public).then(|| {
        quote! {
            #[doc(hidden)]
            #[macro_export]
            macro_rules! #one_per_binary { () => {} }
        }
    });
    quote! {
        #rule
        // Glob-imported so that the second import is not an error of its own, and so that
        // a `main` of the user's shadows the import (rustc then warns that the handler is
        // unused).
        // `pub(crate)`: a handler in a module is the entry point after `use module::main;`.
        // Under `cfg(test)` the harness brings its own `main`; ours is unused on purpose.
        #[doc(hidden)]
        #[cfg_attr(test, allow(dead_code))]
        mod #main_module {
            // A return type of its own, so the body can tell this `main` from a user's.
            #[doc(hidden)]
            #vis struct __LambdaThawExit(::std::process::ExitCode);

            impl ::std::process::Termination for __LambdaThawExit {
                fn report(self) -> ::std::process::ExitCode {
                    self.0
                }
            }

            /// The Lambda function's entry point, generated by `#[handler]`.
            #vis fn main() -> __LambdaThawExit {
                __LambdaThawExit(super::#body())
            }
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        #vis use self::#main_module::*;
    }
}

/// The module that holds `main`, and the macro each non-`pub` handler defines at the
/// crate's root. Its name is what rustc shows when a binary has two `#[handler]`s ("the
/// name `…` is defined multiple times", at both handlers).
const ONE_HANDLER_PER_BINARY: &str = "one_handler_per_binary_move_the_others_to_src_bin";

/// The closure the runtime calls per invocation: the event and the state in, the
/// handler's own parameters, in its own order, out.
fn call(
    handler: &Handler,
    state_ty: &TokenStream,
    event_ty: Option<&syn::Type>,
    entry_kind: &TokenStream,
) -> TokenStream {
    let name = handler.name();
    let event = quote!(__lambda_thaw_event);
    let args = handler.params.iter().map(|param| match param.role {
        Role::Event | Role::Request => quote!(__lambda_thaw_event),
        Role::Payload => quote!(__lambda_thaw_payload),
        Role::Context => quote!(__lambda_thaw_context),
        Role::State => quote!(__lambda_thaw_state),
        Role::Transaction => quote!(__lambda_thaw_tx),
    });
    let split = match handler.entry {
        Entry::Payload { context, .. } => {
            let context = if context {
                quote!(__lambda_thaw_context)
            } else {
                quote!(_)
            };
            Some(quote! { let (__lambda_thaw_payload, #context) = #event.into_parts(); })
        }
        _ => None,
    };
    let event_param = match (split.is_some(), event_ty) {
        (true, Some(ty)) => quote!(#event: #ty),
        _ => quote!(#event),
    };
    let invocation = match &handler.options.idempotent {
        None => quote_spanned! {name.span()=> #name(#(#args),*) },
        Some(idempotent) => {
            idempotent_invocation(handler, name, &idempotent.value, idempotent.span, args)
        }
    };
    // Spanned at the handler's name: a handler future that is not `Send` is reported there.
    quote_spanned! {name.span()=>
        |#event_param, __lambda_thaw_state: &'static #state_ty| {
            #split
            #entry_kind.send(#invocation)
        }
    }
}

/// With `idempotent(key = …)`: the key read from the payload at its pointers, then the
/// handler run in the claim's transaction of the state's store
/// (`lambda_thaw::idempotency::HasStore`), its response stored with its writes — or, for a
/// duplicate, the first response without running it. Paths spanned at the option, so a
/// build without the `idempotency` feature is told there.
fn idempotent_invocation(
    handler: &Handler,
    name: &Ident,
    keys: &[String],
    span: Span,
    args: impl Iterator<Item = TokenStream>,
) -> TokenStream {
    let krate = &handler.options.krate;
    let payload = match handler.entry {
        Entry::Payload { .. } => quote!(&__lambda_thaw_payload),
        _ => quote!(&__lambda_thaw_event.payload),
    };
    let idempotency = quote_spanned! {span=> #krate::idempotency };
    quote_spanned! {name.span()=>
        async move {
            let __lambda_thaw_key = #idempotency::Key::from_pointers(#payload, &[#(#keys),*])?;
            #idempotency::HasStore::idempotency(__lambda_thaw_state)
                .transactional(&__lambda_thaw_key, async move |__lambda_thaw_tx| {
                    #name(#(#args),*).await
                })
                .await
        }
    }
}

/// The shutdown hook: the user's `shutdown = path` (sync or async, returning `()` or a
/// `Result` whose error is logged), else closing the state when it implements
/// `lambda_thaw::Close` (an sqlx pool does), else none.
fn shutdown(handler: &Handler, private: &TokenStream, entry_kind: &TokenStream) -> TokenStream {
    let Some(state) = handler.state() else {
        return quote!(::core::option::Option::None);
    };
    let ty = &state.ty;
    match &handler.options.shutdown {
        Some(shutdown) => {
            let (path, span) = (&shutdown.value, shutdown.span);
            let krate = &handler.options.krate;
            let call = quote_spanned! {span=>
                #krate::requirements::ShutdownFn::<#ty, _>::call_shutdown(#path, __lambda_thaw_state)
            };
            quote! {
                ::core::option::Option::Some(|__lambda_thaw_state: &'static #ty| {
                    #entry_kind.shutdown_future(async move {
                        #[allow(unused_imports)]
                        use #private::{ViaFuture as _, ViaValue as _};
                        let __lambda_thaw_call = #private::InitCall(#call);
                        let __lambda_thaw_kind = (&&__lambda_thaw_call).__lambda_thaw_init_kind();
                        let __lambda_thaw_output = __lambda_thaw_kind.resolve(__lambda_thaw_call).await;
                        #private::log_failure(__lambda_thaw_output, "the shutdown hook");
                    })
                })
            }
        }
        None => quote! {
            {
                #[allow(unused_imports)]
                use #private::{ViaClose as _, ViaNoClose as _};
                (&&#private::Probe::<#ty>::new()).__lambda_thaw_close()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: &str, item: &str) -> String {
        handler(args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    #[test]
    fn keeps_the_function_and_generates_main_and_state() {
        let out = expand(
            "init = setup",
            "async fn handle(e: LambdaEvent<V>, db: &Pool) -> Result<R, E> { todo!() }",
        );
        assert!(out.contains("async fn handle"), "{out}");
        assert!(
            out.contains("Probe :: < (Pool , LambdaEvent < V > , E) >"),
            "{out}"
        );
        assert!(out.contains("fn main"), "{out}");
        assert!(out.contains(ONE_HANDLER_PER_BINARY), "{out}");
        assert!(
            out.contains("init_name : :: core :: option :: Option :: Some (\"setup\")"),
            "{out}"
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn a_state_moved_into_defer_is_one_error_saying_static() {
        let body = "{ lambda_thaw::defer(async move { db.audit() })?; todo!() }";
        let out = expand(
            "init = setup",
            &format!("async fn handle(e: LambdaEvent<V>, db: &Db) -> Result<V, E> {body}"),
        );
        assert!(out.contains("take it as `&'static Db`"), "{out}");
        assert!(
            out.contains("db : & 'static Db"),
            "emitted as it should be: {out}"
        );
        let fine = expand(
            "init = setup",
            &format!("async fn handle(e: LambdaEvent<V>, db: &'static Db) -> Result<V, E> {body}"),
        );
        assert!(!fine.contains("compile_error"), "{fine}");
        let elsewhere = expand(
            "init = setup",
            "async fn handle(e: LambdaEvent<V>, db: &Db) -> Result<V, E> { lambda_thaw::defer(async {})?; db.x(); todo!() }",
        );
        assert!(!elsewhere.contains("compile_error"), "{elsewhere}");
    }

    #[test]
    fn a_function_whose_body_does_not_parse_is_left_to_rustc() {
        let out = expand("", "async fn handle(e: V) -> Result<R, E> { let x = ; }");
        assert!(!out.contains("compile_error"), "{out}");
        assert!(!out.contains("__lambda_thaw_main"), "not expanded: {out}");
        assert!(out.contains("fn handle"), "{out}");
        let out = expand("", "struct Handle;");
        assert!(out.contains("goes on an `async fn`"), "{out}");
    }

    #[test]
    fn errors_keep_the_item_and_collect_every_problem() {
        let out = expand("bogus, lazy", "fn handle(e: V) -> Result<R, E> { todo!() }");
        assert!(out.contains("fn handle"), "{out}");
        assert!(out.contains("unknown option `bogus`"), "{out}");
        assert!(out.contains("`async` keyword is missing"), "{out}");
        assert!(out.contains("`lazy` defers `init`"), "{out}");
    }

    #[test]
    fn a_custom_crate_path_is_used() {
        let out = expand(
            "crate = \"my::thaw\"",
            "async fn h(e: E) -> Result<R, X> { todo!() }",
        );
        assert!(out.contains("my :: thaw :: __private"), "{out}");
        assert!(!out.contains(":: lambda_thaw ::"), "{out}");
    }
}
