//! `sqs-batch`: a typed SQS handler (`aws_lambda_events::sqs::SqsEvent`) that writes each
//! message — a payment — to the database exactly once. `lambda_thaw::batch::sqs` runs the
//! messages up to 10 at once — a panic or an error failing that message alone, messages
//! not started when the deadline is near reported for a retry — and reports the ones that
//! failed as partial batch failures (`batchItemFailures`), so SQS retries only those (the
//! queue's event source mapping needs `ReportBatchItemFailures`). Each payment is written
//! in `lambda_thaw::idempotency`'s transactional mode, keyed on the message's id: when SQS
//! delivers a message again — its visibility timeout passed, or the whole batch came back
//! — the payment is not written twice. A message that does not parse, or has a
//! non-positive amount, fails alone.
//!
//! `DATABASE_URL`: the database (default: `sqs-batch.db` in the temp directory, SQLite —
//! `/tmp` is the one writable place on Lambda; the working directory is read-only there).
//! At shutdown the ledger closes its store's pool (`lambda_thaw::Close`).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_thaw::idempotency::{Idempotency, Key};
use lambda_thaw::{Error, LambdaEvent, handler};
use serde::Deserialize;
use sqlx::Sqlite;

#[derive(Deserialize)]
struct Payment {
    account: String,
    amount_cents: i64,
}

/// The payments table, and the idempotency store on the same database.
struct Ledger {
    payments: Idempotency<Sqlite>,
}

async fn setup() -> Result<Ledger, Error> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        let file = std::env::temp_dir().join("sqs-batch.db");
        format!("sqlite://{}?mode=rwc", file.display())
    });
    let pool = lambda_thaw::sqlx::connect::<Sqlite>(&url).await?;
    lambda_thaw::sqlx::create_schema(
        &pool,
        "CREATE TABLE IF NOT EXISTS payments (message_id TEXT PRIMARY KEY, account TEXT NOT NULL, amount_cents INTEGER NOT NULL)",
    )
    .await?;
    let payments = Idempotency::new(pool)?;
    payments.create_table().await?;
    Ok(Ledger { payments })
}

/// Closes the store's pool at SIGTERM, so the database sees a clean disconnect; the macro
/// finds this impl by itself.
impl lambda_thaw::Close for Ledger {
    async fn close(&self) {
        lambda_thaw::Close::close(&self.payments).await
    }
}

async fn process(message: SqsMessage, ledger: &Ledger) -> Result<(), Error> {
    let body = message.body.unwrap_or_default();
    let payment: Payment =
        serde_json::from_str(&body).map_err(|e| format!("not a payment: {e}"))?;
    if payment.amount_cents <= 0 {
        return Err(format!("amount for {} must be positive", payment.account).into());
    }
    let id = message.message_id.unwrap_or_default();
    ledger
        .payments
        .transactional(&Key::new(&id, &body), async |tx| {
            sqlx::query(
                "INSERT INTO payments (message_id, account, amount_cents) VALUES (?, ?, ?)",
            )
            .bind(&id)
            .bind(&payment.account)
            .bind(payment.amount_cents)
            .execute(&mut **tx)
            .await?;
            Ok::<_, Error>(())
        })
        .await
}

#[handler(init = setup)]
async fn handle(event: LambdaEvent<SqsEvent>, ledger: &Ledger) -> Result<SqsBatchResponse, Error> {
    Ok(lambda_thaw::batch::sqs(event.payload, 10, |message| process(message, ledger)).await)
}
