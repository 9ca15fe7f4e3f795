//! A hand-written `lambda_runtime` function, written as a good engineer would without
//! lambda-thaw. The emulator's tests drive it; the benchmarks compare against it.
//!
//! The event says what to do: `{"message": ..}` echoes, `{"fail": ..}` returns an error,
//! `{"panic": ..}` panics, `{"sleep_ms": N}` sleeps, `{"ticks": N}` spawns a task that
//! prints `tick i` every 20 ms (to observe freezing). Environment switches add the
//! lifecycle pieces under test: `FIXTURE_INIT_EXIT=code` exits during init,
//! `FIXTURE_EXTENSION_MS=N` registers an internal extension that works N ms after each
//! INVOKE, `FIXTURE_GRACEFUL=1` installs `lambda_runtime`'s graceful-shutdown hook.

use std::time::Duration;

use lambda_extension::{Extension, LambdaEvent as ExtensionEvent, NextEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    message: Option<String>,
    fail: Option<String>,
    panic: Option<String>,
    sleep_ms: Option<u64>,
    ticks: Option<u32>,
}

#[derive(Serialize)]
struct Reply {
    message: Option<String>,
    pid: u32,
}

async fn handle(event: LambdaEvent<Command>) -> Result<Reply, Error> {
    let command = event.payload;
    if let Some(reason) = command.fail {
        return Err(reason.into());
    }
    if let Some(reason) = command.panic {
        panic!("{reason}");
    }
    if let Some(ms) = command.sleep_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(ticks) = command.ticks {
        // Left running after the response: Lambda freezes it with the environment.
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(20));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for i in 1..=ticks {
                interval.tick().await;
                println!("tick {i}");
            }
        });
    }
    Ok(Reply {
        message: command.message,
        pid: std::process::id(),
    })
}

async fn extension_work(work: Duration, event: ExtensionEvent) -> Result<(), Error> {
    if let NextEvent::Invoke(invoke) = event.next {
        tokio::time::sleep(work).await;
        println!("extension finished {}", invoke.request_id);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    if let Ok(code) = std::env::var("FIXTURE_INIT_EXIT") {
        eprintln!("init failed: FIXTURE_INIT_EXIT is set");
        std::process::exit(code.parse().unwrap_or(1));
    }
    if let Ok(ms) = std::env::var("FIXTURE_EXTENSION_MS") {
        let work = Duration::from_millis(ms.parse()?);
        let extension = Extension::new()
            .with_extension_name("fixture-extension")
            .with_events(&["INVOKE"])
            .with_events_processor(service_fn(move |event| extension_work(work, event)))
            .register()
            .await?;
        tokio::spawn(extension.run());
    }
    if std::env::var_os("FIXTURE_GRACEFUL").is_some() {
        lambda_runtime::spawn_graceful_shutdown_handler(|| async {
            println!("graceful shutdown hook ran");
        })
        .await;
    }
    lambda_runtime::run_concurrent(service_fn(handle)).await
}
