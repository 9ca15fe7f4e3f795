//! Parses the attribute's options, keeping each one's span for errors.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitBool, LitStr, Path};

use crate::written::written;

/// A value and where the user wrote it.
#[derive(Clone)]
pub(crate) struct Located<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// The options as written, before cross-checks: what [`OPTIONS`] reads, and what the model
/// takes apart into typed fields (nothing after the model reads it).
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) init: Option<Located<Path>>,
    pub(crate) lazy: Option<Located<bool>>,
    pub(crate) early_return: Option<Located<bool>>,
    pub(crate) krate: Option<Located<Path>>,
    /// Milliseconds; 0 turns the guard off.
    pub(crate) deadline_margin: Option<Located<u64>>,
    pub(crate) shutdown: Option<Located<Path>>,
    pub(crate) tracing: Option<Located<TracingArg>>,
    pub(crate) runtime: Option<Located<RuntimeArg>>,
    pub(crate) worker_threads: Option<Located<usize>>,
    pub(crate) layer: Option<Located<Path>>,
    /// The CloudWatch namespace of the EMF metrics.
    pub(crate) metrics: Option<Located<String>>,
    /// `idempotent(key = "/pointer", …)`: the key's JSON pointers into the payload.
    pub(crate) idempotent: Option<Located<Vec<String>>>,
    /// Where `idempotent` was written, even with keys we could not accept, so the checks
    /// do not add "the transaction parameter needs `idempotent`" to that error.
    pub(crate) idempotent_written: Option<Span>,
    /// Where `init` was written, even with a value we could not accept, so the checks
    /// do not add "there is no `init`" to the error already reported about its value.
    pub(crate) init_written: Option<Span>,
}

/// `tracing = path` (the user's set-up) or `tracing = false` (none).
#[derive(Clone)]
pub(crate) enum TracingArg {
    Custom(Path),
    Off,
}

/// `runtime = "current_thread"` or `"multi_thread"`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuntimeArg {
    CurrentThread,
    MultiThread,
}

/// How an option's value is read into [`Args`]; the span is where its name was written.
type ReadOption = fn(&syn::meta::ParseNestedMeta<'_>, &mut Args, Span) -> syn::Result<()>;

/// Every option, in the order the docs list them, with how its value is read: the one
/// list. "Expected one of" and the near-miss suggestions are made from it.
const OPTIONS: &[(&str, ReadOption)] = &[
    // init = path::to::setup
    ("init", |meta, args, span| {
        // Written, even if its value is refused: no "there is no `init`" on top.
        args.init_written.get_or_insert(span);
        let path = parse_function(meta, "init")?;
        set(&mut args.init, "init", path, span)
    }),
    // lazy, or lazy = true|false
    ("lazy", |meta, args, span| {
        let lazy = parse_flag(meta)?;
        set(&mut args.lazy, "lazy", lazy, span)
    }),
    // early_return = false
    ("early_return", |meta, args, span| {
        let early = parse_bool(meta, "early_return")?;
        set(&mut args.early_return, "early_return", early, span)
    }),
    // deadline_margin = "500ms" (or "2s", or "0" to turn it off)
    ("deadline_margin", |meta, args, span| {
        let ms = parse_duration_ms(meta, "deadline_margin")?;
        set(&mut args.deadline_margin, "deadline_margin", ms, span)
    }),
    // shutdown = path::to::close
    ("shutdown", |meta, args, span| {
        let path = parse_function(meta, "shutdown")?;
        set(&mut args.shutdown, "shutdown", path, span)
    }),
    // tracing = my_mod::init_tracing, or tracing = false
    ("tracing", |meta, args, span| {
        let tracing = parse_tracing(meta)?;
        set(&mut args.tracing, "tracing", tracing, span)
    }),
    // runtime = "current_thread" or "multi_thread"
    ("runtime", |meta, args, span| {
        let runtime = parse_runtime(meta)?;
        set(&mut args.runtime, "runtime", runtime, span)
    }),
    // worker_threads = 2
    ("worker_threads", |meta, args, span| {
        let workers = parse_count(meta, "worker_threads")?;
        set(&mut args.worker_threads, "worker_threads", workers, span)
    }),
    // layer = my_mod::metrics_layer: a fn returning a tower layer
    ("layer", |meta, args, span| {
        let path = parse_function(meta, "layer")?;
        set(&mut args.layer, "layer", path, span)
    }),
    // metrics = "Orders": CloudWatch metrics (EMF) in that namespace
    ("metrics", |meta, args, span| {
        let namespace = parse_namespace(meta)?;
        set(&mut args.metrics, "metrics", namespace, span)
    }),
    // idempotent(key = "/order_id"): each event once, in the claim's transaction
    ("idempotent", |meta, args, span| {
        args.idempotent_written.get_or_insert(span);
        let keys = parse_idempotent(meta)?;
        set(&mut args.idempotent, "idempotent", keys, span)
    }),
    // crate = "my_crate::lambda_thaw"
    ("crate", |meta, args, span| {
        let path = parse_crate(meta)?;
        set(&mut args.krate, "crate", path, span)
    }),
];

/// The options, for "expected one of" messages.
pub(crate) fn accepted() -> String {
    let names: Vec<String> = OPTIONS
        .iter()
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    names.join(", ")
}

/// Parses every option, collecting every error (not only the first).
pub(crate) fn args(tokens: TokenStream, errors: &mut Vec<syn::Error>) -> Args {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.clone();
        let name = key
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_else(|| written(&key));
        let span = key.span();
        let result = match OPTIONS.iter().find(|(option, _)| *option == name) {
            Some((_, read)) => read(&meta, &mut args, span),
            None => {
                skip_value(&meta);
                let guess = closest_option(&name);
                if guess == Some("init") {
                    // The misspelled `init` is reported here; not again as "no `init`".
                    args.init_written.get_or_insert(span);
                }
                let hint = guess.map_or_else(String::new, |g| format!("did you mean `{g}`? "));
                Err(syn::Error::new(
                    span,
                    format!(
                        "unknown option `{name}`; {hint}expected one of: {}",
                        accepted()
                    ),
                ))
            }
        };
        if let Err(error) = result {
            errors.push(error);
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(tokens) {
        errors.push(syn::Error::new(
            error.span(),
            format!(
                "{error}; options are written `#[handler(init = setup, lazy)]`, one of: {}",
                accepted()
            ),
        ));
    }
    args
}

/// The accepted option closest to `name`, if it is a near miss (at most two edits).
fn closest_option(name: &str) -> Option<&'static str> {
    OPTIONS
        .iter()
        .map(|(option, _)| (edit_distance(name, option), *option))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, option)| option)
}

/// Levenshtein distance between `a` and `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

fn set<T>(slot: &mut Option<Located<T>>, name: &str, value: T, span: Span) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            span,
            format!("duplicate option `{name}`; give it once"),
        ));
    }
    *slot = Some(Located { value, span });
    Ok(())
}

fn parse_function(meta: &syn::meta::ParseNestedMeta<'_>, name: &str) -> syn::Result<Path> {
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!(
            "`{name}` needs a function: write `{name} = my_function`"
        )));
    }
    let value: Expr = meta.value()?.parse()?;
    match value {
        Expr::Path(path) if path.qself.is_none() => Ok(path.path),
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => Err(syn::Error::new(
            text.span(),
            format!(
                "`{name}` takes a path to a function, not a string: write `{name} = {}`",
                text.value()
            ),
        )),
        Expr::Call(call) => Err(syn::Error::new(
            call.paren_token.span.join(),
            format!("`{name}` takes the function itself, not a call: remove the parentheses"),
        )),
        Expr::Closure(closure) => Err(syn::Error::new(
            closure.or1_token.span(),
            format!(
                "`{name}` takes a path to a named function, not a closure: move the code into a `fn` and write `{name} = that_fn`"
            ),
        )),
        other => Err(syn::Error::new(
            other.span(),
            format!(
                "`{name}` takes a path to a function, like `{name} = my_function` or `{name} = module::my_function`"
            ),
        )),
    }
}

/// The string literal `value` is, or an error at `value` saying what was wanted.
fn quoted(value: Expr, wanted: impl std::fmt::Display) -> syn::Result<syn::LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => Ok(text),
        other => Err(syn::Error::new(other.span(), wanted)),
    }
}

fn parse_duration_ms(meta: &syn::meta::ParseNestedMeta<'_>, name: &str) -> syn::Result<u64> {
    const FORM: &str = "a duration in quotes: \"500ms\", \"2s\", or \"0\" to turn it off";
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!("`{name}` needs {FORM}")));
    }
    let text = quoted(meta.value()?.parse()?, format!("`{name}` takes {FORM}"))?;
    duration_ms(&text.value()).ok_or_else(|| {
        syn::Error::new(
            text.span(),
            format!(
                "`{}` is not a duration; `{name}` takes {FORM}",
                text.value()
            ),
        )
    })
}

/// `"500ms"`, `"2s"`, `"1.5s"`, `"0"` → milliseconds.
pub(crate) fn duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "0" {
        return Some(0);
    }
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| (value * scale).round() as u64)
}

fn parse_flag(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<bool> {
    if meta.input.peek(syn::Token![=]) {
        parse_bool(meta, "lazy")
    } else {
        Ok(true)
    }
}

fn parse_bool(meta: &syn::meta::ParseNestedMeta<'_>, name: &str) -> syn::Result<bool> {
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!(
            "`{name}` needs a value: write `{name} = true` or `{name} = false`"
        )));
    }
    let value: Expr = meta.value()?.parse()?;
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(LitBool { value, .. }),
            ..
        }) => Ok(value),
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) if matches!(text.value().as_str(), "true" | "false") => Err(syn::Error::new(
            text.span(),
            format!("`{name}` takes a bool, not a string: remove the quotes"),
        )),
        other => Err(syn::Error::new(
            other.span(),
            if name == "lazy" {
                "`lazy` takes `true` or `false`, or stands alone: `#[handler(init = setup, lazy)]`"
                    .to_string()
            } else {
                format!("`{name}` takes `true` or `false`")
            },
        )),
    }
}

/// `idempotent(key = "/order_id")`, one `key` per JSON pointer into the payload.
fn parse_idempotent(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Vec<String>> {
    const FORM: &str = "write `idempotent(key = \"/order_id\")`: the JSON pointer of the event's key in its payload (several `key = …` for a key of several fields)";
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!("`idempotent` needs its key: {FORM}")));
    }
    let mut keys = Vec::new();
    meta.parse_nested_meta(|inner| {
        if !inner.path.is_ident("key") {
            return Err(syn::Error::new(
                inner.path.span(),
                format!("`idempotent` takes `key = \"/pointer\"` only; {FORM}"),
            ));
        }
        let text = quoted(
            inner.value()?.parse()?,
            format!("a key is a JSON pointer in quotes; {FORM}"),
        )?;
        let pointer = text.value();
        if !pointer.starts_with('/') {
            return Err(syn::Error::new(
                text.span(),
                format!(
                    "`{pointer}` is not a JSON pointer: it starts with `/`, as `\"/{}\"`",
                    pointer.trim_start_matches('/')
                ),
            ));
        }
        keys.push(pointer);
        Ok(())
    })?;
    if keys.is_empty() {
        return Err(meta.error(format!("`idempotent` needs its key: {FORM}")));
    }
    Ok(keys)
}

fn parse_tracing(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<TracingArg> {
    const FORM: &str = "a function that installs your subscriber (`tracing = my_tracing`), or `tracing = false` for none";
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!("`tracing` needs {FORM}")));
    }
    let fork = meta.input.fork();
    let _ = fork.parse::<syn::Token![=]>();
    if fork.peek(LitBool) {
        let value: LitBool = meta.value()?.parse()?;
        return if value.value {
            Err(syn::Error::new(
                value.span(),
                "`tracing = true` is the default: remove it, or give a function that installs your subscriber",
            ))
        } else {
            Ok(TracingArg::Off)
        };
    }
    parse_function(meta, "tracing").map(TracingArg::Custom)
}

fn parse_runtime(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<RuntimeArg> {
    const FORM: &str = "`runtime = \"current_thread\"` or `runtime = \"multi_thread\"`";
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!("`runtime` needs a flavour: {FORM}")));
    }
    let text = quoted(
        meta.value()?.parse()?,
        format!("`runtime` takes a flavour in quotes: {FORM}"),
    )?;
    match text.value().as_str() {
        "current_thread" => Ok(RuntimeArg::CurrentThread),
        "multi_thread" => Ok(RuntimeArg::MultiThread),
        other => Err(syn::Error::new(
            text.span(),
            format!("unknown runtime flavour `{other}`; expected {FORM}"),
        )),
    }
}

fn parse_count(meta: &syn::meta::ParseNestedMeta<'_>, name: &str) -> syn::Result<usize> {
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format!("`{name}` needs a number: write `{name} = 2`")));
    }
    let value: Expr = meta.value()?.parse()?;
    match &value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => match int.base10_parse::<usize>() {
            Ok(0) => Err(syn::Error::new(
                int.span(),
                format!("`{name}` must be at least 1"),
            )),
            Ok(n) => Ok(n),
            Err(_) => Err(syn::Error::new(
                int.span(),
                format!("`{name}` takes a whole number, like `{name} = 2`"),
            )),
        },
        other => Err(syn::Error::new(
            other.span(),
            format!("`{name}` takes a whole number, like `{name} = 2`"),
        )),
    }
}

fn parse_crate(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Path> {
    if !meta.input.peek(syn::Token![=]) {
        return Err(
            meta.error("`crate` needs a path in quotes: write `crate = \"my_crate::lambda_thaw\"`")
        );
    }
    let text = quoted(
        meta.value()?.parse()?,
        "`crate` takes a path in quotes, like `crate = \"my_crate::lambda_thaw\"`",
    )?;
    parse_path_literal(&text)
}

fn parse_namespace(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<String> {
    const TAKES: &str =
        "`metrics` takes the CloudWatch namespace in quotes, like `metrics = \"Orders\"`";
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(TAKES));
    }
    let text = quoted(meta.value()?.parse()?, TAKES)?;
    let namespace = text.value();
    let problem = if namespace.trim().is_empty() {
        Some("the metrics namespace is empty: name one, like `metrics = \"Orders\"`".to_owned())
    } else if namespace.chars().count() > 255 {
        Some(format!(
            "the metrics namespace is {} characters long; CloudWatch takes at most 255",
            namespace.chars().count()
        ))
    } else {
        namespace
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || " .-_/#:".contains(*c)))
            .map(|bad| {
                format!(
                    "the metrics namespace cannot hold `{bad}`: CloudWatch takes letters, digits, \
                     spaces and `.-_/#:`"
                )
            })
    };
    match problem {
        Some(problem) => Err(syn::Error::new(text.span(), problem)),
        None => Ok(namespace),
    }
}

fn parse_path_literal(text: &LitStr) -> syn::Result<Path> {
    text.parse::<Path>().map_err(|_| {
        syn::Error::new(
            text.span(),
            format!(
                "`{}` is not a path; write it like `crate = \"my_crate::lambda_thaw\"`",
                text.value()
            ),
        )
    })
}

/// After an unknown key, consume `= value` so the next option still parses.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) {
    if meta.input.peek(syn::Token![=]) {
        let _ = meta.value().and_then(|v| v.parse::<Expr>());
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.parse_nested_meta(|_| Ok(()));
    }
}

#[cfg(test)]
mod tests {
    use super::{accepted, closest_option};

    #[test]
    fn near_misses_find_their_option() {
        assert_eq!(closest_option("int"), Some("init"));
        assert_eq!(closest_option("shutdwn"), Some("shutdown"));
        assert_eq!(closest_option("worker_thread"), Some("worker_threads"));
        assert_eq!(closest_option("timeout"), None, "too far from anything");
    }

    #[test]
    fn the_accepted_list_is_the_table() {
        assert_eq!(
            accepted(),
            "`init`, `lazy`, `early_return`, `deadline_margin`, `shutdown`, `tracing`, `runtime`, `worker_threads`, `layer`, `metrics`, `idempotent`, `crate`"
        );
    }
}
