//! 2–5: through the real `lambda_runtime` client and the emulator, function processes
//! side by side in the same run.

use std::collections::HashMap;
use std::path::PathBuf;

use lambda_thaw_emulator::{Environment, Fleet, FunctionConfig, InvocationRecord};
use lambda_thaw_tests::db::Scratch;

use crate::report::{Row, median, percentile};

/// The benchmark's function binaries, by name.
pub type Fixtures = HashMap<String, PathBuf>;

pub fn config(fixtures: &Fixtures, name: &str) -> FunctionConfig {
    let binary = fixtures
        .get(name)
        .unwrap_or_else(|| panic!("fixture `{name}` was not built"));
    FunctionConfig::new(binary).env("RUST_LOG", "warn")
}

fn ms(record: &InvocationRecord) -> f64 {
    assert!(
        record.outcome.is_response(),
        "benchmark invocation failed: {:?}",
        record.outcome
    );
    record.response_latency().unwrap().as_secs_f64() * 1000.0
}

/// Benchmark 2: Warm invocation latency, handout → response, freeze off, in alternating chunks.
pub async fn warm_latency(fixtures: &Fixtures, invocations: usize) -> Vec<Row> {
    let thaw = Environment::new(config(fixtures, "echo_thaw").freeze(false));
    let handwritten = Environment::new(config(fixtures, "echo_handwritten").freeze(false));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    // The cold starts are not part of this comparison.
    thaw.invoke(r#""warm up""#).await;
    handwritten.invoke(r#""warm up""#).await;
    let chunk = 100.min(invocations);
    for _ in 0..invocations.div_ceil(chunk) {
        for _ in 0..chunk {
            a.push(ms(&thaw.invoke(r#"{"order":42}"#).await));
        }
        for _ in 0..chunk {
            b.push(ms(&handwritten.invoke(r#"{"order":42}"#).await));
        }
    }
    thaw.shutdown().await;
    handwritten.shutdown().await;
    let row = |what: &str, q: f64, a: &mut Vec<f64>, b: &mut Vec<f64>| Row {
        section: "2",
        what: format!(
            "warm invocation {what}, handout → response ({} each)",
            a.len()
        ),
        tag: what.to_string(),
        subject: percentile(a, q),
        baseline: percentile(b, q),
        unit: "ms",
        subject_name: "lambda-thaw".into(),
        baseline_name: "hand-written".into(),
    };
    vec![
        row("p50", 0.5, &mut a, &mut b),
        row("p99", 0.99, &mut a, &mut b),
    ]
}

/// Benchmark 9: CloudWatch metrics on vs off, warm, the same binary (`echo_metrics`) with
/// the option switched by an environment variable, in alternating chunks: handout →
/// response (the flush comes after it) and handout → complete (where the flush is paid).
pub async fn metrics_latency(fixtures: &Fixtures, invocations: usize) -> Vec<Row> {
    let on = Environment::new(
        config(fixtures, "echo_metrics")
            .env("BENCH_METRICS", "on")
            .freeze(false),
    );
    let off = Environment::new(config(fixtures, "echo_metrics").freeze(false));
    on.invoke(r#""warm up""#).await;
    off.invoke(r#""warm up""#).await;
    let (mut a, mut b, mut a_complete, mut b_complete) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let chunk = 100.min(invocations);
    for _ in 0..invocations.div_ceil(chunk) {
        for _ in 0..chunk {
            let record = on.invoke(r#"{"order":42}"#).await;
            a.push(ms(&record));
            a_complete.push(record.complete_latency().unwrap().as_secs_f64() * 1000.0);
        }
        for _ in 0..chunk {
            let record = off.invoke(r#"{"order":42}"#).await;
            b.push(ms(&record));
            b_complete.push(record.complete_latency().unwrap().as_secs_f64() * 1000.0);
        }
    }
    let documents = on.logs().matching("\"_aws\"").len();
    assert!(
        documents > invocations,
        "metrics on wrote {documents} EMF documents"
    );
    on.shutdown().await;
    off.shutdown().await;
    let row = |what: String, tag: &str, on: f64, off: f64| Row {
        section: "9",
        what,
        tag: tag.to_string(),
        subject: on,
        baseline: off,
        unit: "ms",
        subject_name: "metrics on".into(),
        baseline_name: "metrics off".into(),
    };
    let n = a.len();
    vec![
        row(
            format!("warm p50, handout → response ({n} each)"),
            "p50 response",
            percentile(&mut a, 0.5),
            percentile(&mut b, 0.5),
        ),
        row(
            format!("warm p99, handout → response ({n} each)"),
            "p99 response",
            percentile(&mut a, 0.99),
            percentile(&mut b, 0.99),
        ),
        row(
            format!("warm p50, handout → complete, the flush included ({n} each)"),
            "p50 complete",
            percentile(&mut a_complete, 0.5),
            percentile(&mut b_complete, 0.5),
        ),
    ]
}

/// Benchmark 3: Cold start against PostgreSQL: process start → first response, and the first
/// invocation's own latency with eager init, lazy init and connect-per-invocation.
pub async fn cold_start(fixtures: &Fixtures, postgres: &str, repetitions: usize) -> Vec<Row> {
    let names = [
        "db_thaw_eager",
        "db_handwritten",
        "db_thaw_lazy",
        "db_per_invocation",
    ];
    let mut start_to_response: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut first_invocation: HashMap<&str, Vec<f64>> = HashMap::new();
    for _ in 0..repetitions {
        for name in names {
            let env = Environment::new(config(fixtures, name).env("DATABASE_URL", postgres));
            let record = env.invoke("{}").await;
            let first = ms(&record);
            let started = record.cold_start.as_ref().unwrap().started_at;
            let total = record
                .responded_at
                .unwrap()
                .duration_since(started)
                .unwrap();
            start_to_response
                .entry(name)
                .or_default()
                .push(total.as_secs_f64() * 1000.0);
            first_invocation.entry(name).or_default().push(first);
            env.shutdown().await;
        }
    }
    let med = |map: &mut HashMap<&str, Vec<f64>>, name: &str| median(map.get_mut(name).unwrap());
    let n = repetitions;
    vec![
        Row {
            section: "3",
            tag: "process start → 1st response".into(),
            what: format!(
                "cold start, process start → first response, init connects to PostgreSQL (median of {n})"
            ),
            subject: med(&mut start_to_response, "db_thaw_eager"),
            baseline: med(&mut start_to_response, "db_handwritten"),
            unit: "ms",
            subject_name: "lambda-thaw eager".into(),
            baseline_name: "hand-written".into(),
        },
        Row {
            section: "3",
            tag: "1st invocation, eager".into(),
            what: format!("first invocation's own latency, handout → response (median of {n})"),
            subject: med(&mut first_invocation, "db_thaw_eager"),
            baseline: med(&mut first_invocation, "db_per_invocation"),
            unit: "ms",
            subject_name: "eager init".into(),
            baseline_name: "connect per invocation".into(),
        },
        Row {
            section: "3",
            tag: "1st invocation, lazy".into(),
            what: format!("first invocation's own latency, handout → response (median of {n})"),
            subject: med(&mut first_invocation, "db_thaw_lazy"),
            baseline: med(&mut first_invocation, "db_per_invocation"),
            unit: "ms",
            subject_name: "lazy init".into(),
            baseline_name: "connect per invocation".into(),
        },
    ]
}

/// Which server a reuse-vs-reconnect comparison runs on.
pub enum Server<'a> {
    /// PostgreSQL, by admin URL.
    Postgres(&'a str),
    /// MariaDB, by admin URL.
    MariaDb(&'a str),
}

/// Benchmark 4: Reuse vs reconnect on one server: warm latency, and the connections a fleet of
/// `environments` × `per_environment` invocations opens, counted by the server.
pub async fn reuse_vs_reconnect(
    fixtures: &Fixtures,
    server: Server<'_>,
    warm: usize,
    environments: usize,
    per_environment: usize,
) -> Vec<Row> {
    let mut scratch = match server {
        Server::Postgres(admin) => Scratch::postgres_at(admin).await,
        Server::MariaDb(admin) => Scratch::mariadb_at(admin).await,
    };
    let (name, url) = (scratch.server(), scratch.url().to_string());
    let reuse = Environment::new(config(fixtures, "db_thaw_eager").env("DATABASE_URL", &url));
    let reconnect =
        Environment::new(config(fixtures, "db_per_invocation").env("DATABASE_URL", &url));
    reuse.invoke("{}").await;
    reconnect.invoke("{}").await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..warm {
        a.push(ms(&reuse.invoke("{}").await));
        b.push(ms(&reconnect.invoke("{}").await));
    }
    reuse.shutdown().await;
    reconnect.shutdown().await;

    let mut connections = Vec::new();
    for fixture in ["db_thaw_eager", "db_per_invocation"] {
        let before = scratch.connections_opened().await;
        let fleet = Fleet::new(
            config(fixtures, fixture).env("DATABASE_URL", &url),
            environments,
        );
        let events = (0..environments * per_environment)
            .map(|_| "{}".into())
            .collect();
        let records = fleet
            .run(events, std::time::Duration::ZERO, |_, _| {})
            .await;
        assert!(
            records.iter().all(|r| r.outcome.is_response()),
            "fleet invocations failed"
        );
        fleet.shutdown().await;
        connections.push(scratch.connections_opened().await - before);
    }
    scratch.drop_database().await;
    vec![
        Row {
            section: "4",
            tag: format!("{name}, warm"),
            what: format!("{name}: warm one-query invocation, median of {warm}"),
            subject: median(&mut a),
            baseline: median(&mut b),
            unit: "ms",
            subject_name: "pool reused".into(),
            baseline_name: "connect per invocation".into(),
        },
        Row {
            section: "4",
            tag: format!("{name}, connections"),
            what: format!(
                "{name}: connections opened by {environments} environments × {per_environment} invocations (server-side)"
            ),
            subject: connections[0] as f64,
            baseline: connections[1] as f64,
            unit: "connections",
            subject_name: "pool reused".into(),
            baseline_name: "connect per invocation".into(),
        },
    ]
}

/// Benchmark 5: Early return: response latency of a handler with 200 ms of deferred work, with
/// `early_return` on, off, and with no deferred work at all.
pub async fn early_return(fixtures: &Fixtures, invocations: usize) -> Vec<Row> {
    let early = Environment::new(config(fixtures, "defer_early"));
    let waiting = Environment::new(config(fixtures, "defer_waiting"));
    early.invoke("{}").await;
    waiting.invoke("{}").await;
    let (mut on, mut off, mut none, mut complete) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..invocations {
        let record = early.invoke(r#"{"defer_ms":200}"#).await;
        on.push(ms(&record));
        complete.push(record.complete_latency().unwrap().as_secs_f64() * 1000.0);
        off.push(ms(&waiting.invoke(r#"{"defer_ms":200}"#).await));
        none.push(ms(&early.invoke("{}").await));
    }
    early.shutdown().await;
    waiting.shutdown().await;
    let n = invocations;
    vec![
        Row {
            section: "5",
            tag: "200 ms deferred: on vs off".into(),
            what: format!("response latency with 200 ms of deferred work (median of {n})"),
            subject: median(&mut on),
            baseline: median(&mut off),
            unit: "ms",
            subject_name: "early_return on".into(),
            baseline_name: "early_return = false".into(),
        },
        Row {
            section: "5",
            tag: "on vs no deferred work".into(),
            what: format!(
                "response latency: 200 ms deferred with early return vs no deferred work (median of {n})"
            ),
            subject: median(&mut on),
            baseline: median(&mut none),
            unit: "ms",
            subject_name: "early_return on".into(),
            baseline_name: "no deferred work".into(),
        },
        Row {
            section: "5",
            tag: "complete vs waiting response".into(),
            what: format!(
                "early return: handout → invocation complete (deferred work done before freeze, median of {n})"
            ),
            subject: median(&mut complete),
            baseline: median(&mut off),
            unit: "ms",
            subject_name: "complete, early_return on".into(),
            baseline_name: "response, early_return = false".into(),
        },
    ]
}

/// The resident set of process `pid`, in KiB (from `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Resident-set growth of one warm environment over `invocations` after `warm_up`
/// invocations, `concurrency` at a time, in KiB.
async fn growth(
    fixtures: &Fixtures,
    name: &str,
    concurrency: u32,
    long_trace_ids: bool,
    warm_up: usize,
    invocations: usize,
) -> f64 {
    let env = Environment::new(
        config(fixtures, name)
            .freeze(false)
            .max_concurrency(concurrency),
    );
    let batch = concurrency as usize;
    let run = |count: usize| {
        let env = &env;
        async move {
            for round in 0..count.div_ceil(batch) {
                // A new id each time, as Lambda sends (glibc would reuse a repeated value).
                let trace_id = long_trace_ids.then(|| long_trace_id(round));
                let headers: Vec<(&str, Option<&str>)> = trace_id
                    .iter()
                    .map(|id| ("Lambda-Runtime-Trace-Id", Some(id.as_str())))
                    .collect();
                let records = futures_util::future::join_all(
                    (0..batch).map(|_| env.invoke_with_headers(r#"{"order":42}"#, &headers)),
                )
                .await;
                for record in &records {
                    ms(record);
                }
            }
        }
    };
    run(warm_up).await;
    let pid = env.pid().await.expect("the environment is running");
    let before = rss_kib(pid);
    run(invocations).await;
    let after = rss_kib(pid);
    env.shutdown().await;
    after - before
}

/// The `n`th trace id of 4 KiB: Lambda's shape, its `Lineage` padded — longer than any
/// buffer sized for the usual ~100 bytes.
fn long_trace_id(n: usize) -> String {
    let id = format!("Root=1-5759e988-{n:024x};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=");
    format!("{id}{}", "a".repeat(4096 - id.len()))
}

/// Benchmark 7: memory over a long warm life — RSS growth over `invocations` warm
/// invocations after the first `warm_up`, sequential, four at a time, and sequential with
/// a 4 KiB trace header.
pub async fn memory_growth(fixtures: &Fixtures, warm_up: usize, invocations: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for (concurrency, long_trace_ids) in [(1, false), (4, false), (1, true)] {
        let thaw = growth(
            fixtures,
            "echo_thaw",
            concurrency,
            long_trace_ids,
            warm_up,
            invocations,
        )
        .await;
        let handwritten = growth(
            fixtures,
            "echo_handwritten",
            concurrency,
            long_trace_ids,
            warm_up,
            invocations,
        )
        .await;
        let mode = match (concurrency, long_trace_ids) {
            (1, false) => "sequential".to_string(),
            (1, true) => "sequential, 4 KiB trace header".to_string(),
            _ => format!("concurrency {concurrency}"),
        };
        rows.push(Row {
            section: "7",
            what: format!(
                "RSS growth over {invocations} warm invocations after the first {warm_up}, {mode}"
            ),
            tag: format!("RSS growth, {mode}"),
            subject: thaw,
            baseline: handwritten,
            unit: "KiB",
            subject_name: "lambda-thaw".into(),
            baseline_name: "plain lambda_runtime".into(),
        });
    }
    rows
}

/// Benchmark 8: Proxy mode. A warm one-query invocation (one parameterised query) through
/// PgBouncer in transaction mode with `ProxyPool`, against a plain pool straight to
/// PostgreSQL; and proxy mode against a plain pool, both straight to PostgreSQL, to
/// separate what the protocol costs from what the extra hop costs. `None` when PgBouncer
/// is not installed.
pub async fn proxy_mode(fixtures: &Fixtures, admin: &str, warm: usize) -> Option<Vec<Row>> {
    let bouncer = lambda_thaw_tests::pgbouncer::PgBouncer::start(admin, 10)?;
    let database = admin.rsplit_once('/').map_or("test", |(_, db)| db);
    let user = admin
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map_or("root", |(user, _)| user);
    let through_bouncer = bouncer.url(user, database);
    let function = |url: &str, pool: &str| {
        Environment::new(
            config(fixtures, "db_proxy")
                .env("DATABASE_URL", url)
                .env("FIXTURE_POOL", pool)
                .freeze(false),
        )
    };
    let environments = [
        function(&through_bouncer, "proxy"),
        function(admin, "plain"),
        function(admin, "proxy"),
    ];
    let mut latencies = [Vec::new(), Vec::new(), Vec::new()];
    for environment in &environments {
        environment.invoke("{}").await;
    }
    let chunk = 50.min(warm);
    for _ in 0..warm.div_ceil(chunk) {
        for (environment, latency) in environments.iter().zip(&mut latencies) {
            for _ in 0..chunk {
                latency.push(ms(&environment.invoke("{}").await));
            }
        }
    }
    for environment in &environments {
        environment.shutdown().await;
    }
    let [mut proxied, mut direct, mut proxy_direct] = latencies;
    let n = direct.len();
    Some(vec![
        Row {
            section: "8",
            tag: "via PgBouncer".into(),
            what: format!(
                "PostgreSQL: warm one-query invocation, proxy mode through PgBouncer (transaction pooling) vs a plain pool direct, median of {n}"
            ),
            subject: median(&mut proxied),
            baseline: median(&mut direct.clone()),
            unit: "ms",
            subject_name: "proxy mode via PgBouncer".into(),
            baseline_name: "plain pool direct".into(),
        },
        Row {
            section: "8",
            tag: "protocol only".into(),
            what: format!(
                "PostgreSQL: warm one-query invocation, proxy mode vs a plain pool, both direct (the protocol's cost alone), median of {n}"
            ),
            subject: median(&mut proxy_direct),
            baseline: median(&mut direct),
            unit: "ms",
            subject_name: "proxy mode direct".into(),
            baseline_name: "plain pool direct".into(),
        },
    ])
}
