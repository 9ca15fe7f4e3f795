// The options that open the box: the user's tracing set-up, a current-thread runtime, a
// tower layer over every invocation; and a `&'static` state, moved into deferred work, that
// holds a `TtlCache`.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_thaw::lambda_runtime::tower::layer::{Layer, layer_fn};
use lambda_thaw::{Error, InvocationService, LambdaEvent, TtlCache};

pub struct State {
    flags: TtlCache<String>,
    audited: AtomicU64,
}

async fn setup() -> Result<State, Error> {
    Ok(State {
        flags: TtlCache::new(Duration::from_secs(300)),
        audited: AtomicU64::new(0),
    })
}

fn install_tracing() {}

fn count_invocations() -> impl Layer<InvocationService, Service = InvocationService> + Send + 'static {
    let count = Arc::new(AtomicU64::new(0));
    layer_fn(move |inner: InvocationService| {
        count.fetch_add(1, Ordering::Relaxed);
        inner
    })
}

#[allow(dead_code)]
mod function {
    use super::{Error, LambdaEvent, Ordering, State, count_invocations, install_tracing, setup};

    #[lambda_thaw::handler(init = setup, tracing = install_tracing, runtime = "current_thread", layer = count_invocations)]
    async fn handle(event: LambdaEvent<String>, state: &'static State) -> Result<String, Error> {
        let flags = state.flags.get(|| async { Ok::<_, Error>("on".to_string()) }).await?;
        lambda_thaw::defer(async move {
            state.audited.fetch_add(1, Ordering::Relaxed);
        })?;
        Ok(format!("{} {}", event.payload, flags))
    }
}

fn main() {}
