//! Running an `idempotent(key = …)` handler in a unit test, as the macro runs it.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{ColumnIndex, Database, Decode, Executor, Type};

use super::{Invocation, Invoked};
use crate::idempotency::Idempotency;
use crate::idempotency::key::Key;

impl Invocation {
    /// This invocation, to run handlers with `#[handler(idempotent(key = …))]`'s claim on
    /// `store` ([`Idempotent::run`]).
    pub fn idempotent<'a, DB: Database>(
        &'a self,
        store: &'a Idempotency<DB>,
    ) -> Idempotent<'a, DB> {
        Idempotent {
            invocation: self,
            store,
        }
    }
}

/// An [`Invocation`] that runs handlers as `idempotent(key = …)` does, on one store.
pub struct Idempotent<'a, DB: Database> {
    invocation: &'a Invocation,
    store: &'a Idempotency<DB>,
}

impl<DB> Idempotent<'_, DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    String: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    /// Runs `handler` as the macro does: the key read from the event's payload at
    /// `pointers`, the handler given the claim's transaction, its response stored with its
    /// writes — so a test that runs the same event twice sees what a duplicate gets (the
    /// first response, the handler not run again).
    ///
    /// ```no_run
    /// # use lambda_thaw::{Error, LambdaEvent};
    /// # use lambda_thaw::idempotency::Idempotency;
    /// # use sqlx::{Sqlite, Transaction};
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Order { order_id: String }
    /// # async fn handle(event: LambdaEvent<Order>, tx: &mut Transaction<'_, Sqlite>, _s: &Idempotency<Sqlite>) -> Result<String, Error> { Ok(event.payload.order_id) }
    /// # async fn demo(store: Idempotency<Sqlite>) {
    /// let invocation = lambda_thaw::testing::Invocation::new();
    /// let event = invocation.event(Order { order_id: "o-1".into() });
    /// let answer = invocation
    ///     .idempotent(&store)
    ///     .run(&["/order_id"], event, async |event, tx| handle(event, tx, &store).await)
    ///     .await
    ///     .response();
    /// # }
    /// ```
    pub async fn run<T, R, E, F>(
        &self,
        pointers: &[&str],
        event: lambda_runtime::LambdaEvent<T>,
        handler: F,
    ) -> Invoked<Result<R, lambda_runtime::Error>>
    where
        T: Serialize,
        R: Serialize + DeserializeOwned,
        E: Into<lambda_runtime::Error>,
        F: AsyncFnOnce(
            lambda_runtime::LambdaEvent<T>,
            &mut sqlx::Transaction<'_, DB>,
        ) -> Result<R, E>,
    {
        let store = self.store;
        self.invocation
            .run(async move {
                let key = Key::from_pointers(&event.payload, pointers)?;
                store
                    .transactional(&key, async move |tx| handler(event, tx).await)
                    .await
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use crate::idempotency::Idempotency;
    use crate::testing::Invocation;

    /// `testing::Invocation::idempotent(&store).run(…)` runs a handler as `idempotent(key = …)` does: the
    /// same event twice writes once and answers alike.
    #[tokio::test]
    async fn the_testing_invocation_runs_an_idempotent_handler_as_the_macro_does() {
        let path = std::env::temp_dir().join(format!(
            "lambda-thaw-testing-idempotent-{}.db",
            std::process::id()
        ));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let store = Idempotency::new(pool).unwrap();
        store.create_table().await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let runs = AtomicUsize::new(0);
        let invocation = Invocation::new();
        let mut answers = Vec::new();
        for _ in 0..2 {
            let event = invocation.event(json!({"order_id": "o-t", "total": 3}));
            let answer = invocation
                .idempotent(&store)
                .run(&["/order_id"], event, async |event, tx| {
                    sqlx::raw_sql("INSERT INTO orders (id, total) VALUES ('o-t', 3)")
                        .execute(&mut **tx)
                        .await?;
                    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
                    Ok::<_, lambda_runtime::Error>(
                        json!({"order": event.payload["order_id"], "run": run}),
                    )
                })
                .await
                .response();
            answers.push(answer.unwrap());
        }
        assert_eq!(answers[0], json!({"order": "o-t", "run": 1}));
        assert_eq!(
            answers[1], answers[0],
            "the duplicate got the first response"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let missing = invocation
            .idempotent(&store)
            .run(&["/nothing"], invocation.event(json!({})), async |_, _| {
                Ok::<_, lambda_runtime::Error>(json!(null))
            })
            .await
            .response();
        assert!(missing.unwrap_err().to_string().contains("/nothing"));
        store.pool().close().await;
        let _ = std::fs::remove_file(&path);
    }
}
