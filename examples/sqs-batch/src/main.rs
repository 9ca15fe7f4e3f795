//! `sqs-batch`: a typed SQS handler (`aws_lambda_events::sqs::SqsEvent`) that processes
//! each message through `lambda_thaw::batch::sqs` — up to 10 at once, a panic or an error
//! failing that message alone, messages not started when the deadline is near reported
//! for a retry — and reports the ones that failed as partial batch failures
//! (`batchItemFailures`), so SQS retries only those — the queue's event source mapping
//! needs `ReportBatchItemFailures`. Messages are payments as JSON; one that does not
//! parse, or has a non-positive amount, fails alone.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_thaw::{Error, LambdaEvent, handler};
use serde::Deserialize;

#[derive(Deserialize)]
struct Payment {
    account: String,
    amount_cents: i64,
}

/// Totals per environment, standing in for a downstream client built once.
struct Ledger {
    processed: AtomicU64,
}

fn setup() -> Ledger {
    Ledger {
        processed: AtomicU64::new(0),
    }
}

fn process(body: Option<&str>, ledger: &Ledger) -> Result<(), String> {
    let payment: Payment = serde_json::from_str(body.unwrap_or_default())
        .map_err(|e| format!("not a payment: {e}"))?;
    if payment.amount_cents <= 0 {
        return Err(format!("amount for {} must be positive", payment.account));
    }
    ledger.processed.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[handler(init = setup)]
async fn handle(event: LambdaEvent<SqsEvent>, ledger: &Ledger) -> Result<SqsBatchResponse, Error> {
    let response = lambda_thaw::batch::sqs(event.payload, 10, |message| async move {
        process(message.body.as_deref(), ledger)
    })
    .await;
    tracing::info!(
        processed = ledger.processed.load(Ordering::SeqCst),
        "batch done"
    );
    Ok(response)
}
