//! `cached-config`: answers with a greeting from configuration that is fetched at most
//! once per TTL, whatever the number of invocations, and refetched after a freeze longer
//! than the TTL. The "configuration store" is a JSON file (`CONFIG_FILE`), standing in for
//! Parameter Store, AppConfig or Secrets Manager; `CONFIG_TTL_SECS` sets the TTL (300 s,
//! Powertools' default, when unset). Every invocation logs a cache hit or miss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_thaw::{Error, LambdaEvent, TtlCache, handler};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Config {
    greeting: String,
}

/// The state: where the configuration lives and the cache in front of it.
struct Settings {
    file: String,
    config: TtlCache<Config>,
    fetches: AtomicU64,
}

fn setup() -> Result<Settings, Error> {
    let ttl: u64 = match std::env::var("CONFIG_TTL_SECS") {
        Ok(secs) => secs
            .parse()
            .map_err(|e| format!("CONFIG_TTL_SECS is `{secs}`, not a number of seconds: {e}"))?,
        Err(_) => 300,
    };
    // `std::env::var`'s error says only "environment variable not found": name it.
    let file = std::env::var("CONFIG_FILE")
        .map_err(|_| "CONFIG_FILE is not set: the path of the configuration file to serve")?;
    Ok(Settings {
        file,
        // Serve the last good configuration for up to a minute if the store is down.
        config: TtlCache::new(Duration::from_secs(ttl))
            .serve_stale_on_error(Duration::from_secs(60)),
        fetches: AtomicU64::new(0),
    })
}

async fn fetch_config(settings: &'static Settings) -> Result<Config, Error> {
    let n = settings.fetches.fetch_add(1, Ordering::SeqCst) + 1;
    tracing::info!(fetch = n, "fetching configuration");
    let text = tokio::fs::read_to_string(&settings.file).await?;
    Ok(serde_json::from_str(&text)?)
}

// `&'static`: the state lives in the environment's global cell for as long as the
// process, which the cache needs to refresh after the response.
#[handler(init = setup)]
async fn handle(_event: LambdaEvent<Value>, settings: &'static Settings) -> Result<Value, Error> {
    let before = settings.fetches.load(Ordering::SeqCst);
    let config = settings.config.get(move || fetch_config(settings)).await?;
    let fetches = settings.fetches.load(Ordering::SeqCst);
    if fetches == before {
        tracing::info!("config cache hit");
    } else {
        tracing::info!("config cache miss");
    }
    Ok(json!({ "greeting": config.greeting, "fetches": fetches }))
}
