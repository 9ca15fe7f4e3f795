//! Records orders. Its state holds a config that goes stale (a [`TtlCache`] inside the
//! state, not in a `static`) and a notifier that deferred work uses after the response —
//! which is why the handler takes the state as `&'static State`: it lives as long as the
//! environment, so it can move into `defer`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_thaw::{Error, LambdaEvent, TtlCache, handler};
use serde::{Deserialize, Serialize};

/// What an order event carries.
#[derive(Debug, Deserialize)]
pub struct Order {
    /// What was ordered.
    pub item: String,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct Receipt {
    /// The order's number in this environment.
    pub number: u64,
    /// The greeting from the (cached) config.
    pub greeting: String,
    /// The thread that ran the handler (`main` on a current-thread runtime).
    pub thread: String,
    /// Notifications sent so far, after earlier responses.
    pub notified: u64,
}

/// The per-environment state.
#[derive(Debug)]
pub struct State {
    config: TtlCache<String>,
    orders: AtomicU64,
    notified: AtomicU64,
}

/// Builds the state once per environment (a plain `fn` returning the state: one of the
/// init shapes `#[handler]` accepts).
#[must_use]
pub fn setup() -> State {
    State {
        config: TtlCache::new(Duration::from_mins(5)),
        orders: AtomicU64::new(0),
        notified: AtomicU64::new(0),
    }
}

async fn fetch_config() -> Result<String, Error> {
    tracing::info!("config fetched");
    Ok("thanks".to_string())
}

/// Records an order; notifies after the response.
///
/// # Errors
///
/// When the config cannot be fetched, or the notification cannot be queued.
#[handler(
    init = setup,
    tracing = crate::telemetry::json_logs,
    runtime = "current_thread",
    layer = crate::telemetry::layers
)]
pub async fn handle(event: LambdaEvent<Order>, state: &'static State) -> Result<Receipt, Error> {
    let greeting = state.config.get(fetch_config).await?;
    let number = state.orders.fetch_add(1, Ordering::SeqCst) + 1;
    let item = event.payload.item;
    // The state moves into the deferred work: it is `&'static`.
    lambda_thaw::defer(async move {
        state.notified.fetch_add(1, Ordering::SeqCst);
        tracing::info!(number, item, "order notified");
    })?;
    Ok(Receipt {
        number,
        greeting: greeting.to_string(),
        thread: std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string(),
        notified: state.notified.load(Ordering::SeqCst),
    })
}

#[cfg(test)]
mod tests {
    use lambda_thaw::testing::{DeferredOutcome, Invocation};

    use super::{Order, handle, setup};

    #[tokio::test]
    async fn an_order_is_answered_and_notified_after_the_response() {
        let state = Box::leak(Box::new(setup()));
        let invocation = Invocation::new();
        let event = invocation.event(Order { item: "tea".into() });
        let invoked = invocation.run(handle(event, state)).await;
        assert_eq!(invoked.deferred, vec![DeferredOutcome::Done]);
        let receipt = invoked.response().unwrap();
        assert_eq!(
            (receipt.number, receipt.notified),
            (1, 0),
            "notified after the response"
        );
        let next = Invocation::new();
        let event = next.event(Order {
            item: "cake".into(),
        });
        let receipt = next.run(handle(event, state)).await.response().unwrap();
        assert_eq!((receipt.number, receipt.notified), (2, 1));
    }
}
