//! 10: a spike. From no environment to `peak` environments in a burst of arrivals, through
//! the emulator's scaling model (an idle environment reused, otherwise one started, up to
//! the reserved concurrency), onto a PostgreSQL role — or a MariaDB user — allowed 10 % of
//! the peak in connections, then a steady tail. Side by side, in one run:
//! (a) hand-written `lambda_runtime` with a plain sqlx pool, (b) lambda-thaw's default pool,
//! (c) lambda-thaw with the connection governor, (d) lambda-thaw's proxy mode through
//! PgBouncer (PostgreSQL only; PgBouncer holds the role's connections).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use lambda_thaw_emulator::scaling::{Arrivals, ScaledFleet, Scaling};
use lambda_thaw_emulator::timeline::Timeline;
use lambda_thaw_emulator::{InvocationRecord, Summary};
use lambda_thaw_tests::db::{LimitedRole, MariaScratch, counting_probe};
use lambda_thaw_tests::pgbouncer::PgBouncer;
use sqlx::AssertSqlSafe;

use crate::emulated::{Fixtures, config};
use crate::report::Row;

/// The spike's shape.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Arrivals in the burst, evenly spaced: each finds no idle environment (they all
    /// come before the first cold start ends), so the fleet grows to this many.
    pub peak: usize,
    /// How long the burst lasts.
    pub burst: Duration,
    /// Arrivals after it, at `tail_rate` per second: the fleet settles.
    pub tail: usize,
    /// Arrivals per second in the tail.
    pub tail_rate: f64,
}

impl Shape {
    /// `PEAK,BURST_MS,TAIL,RATE`, e.g. `500,1000,500,50`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let [peak, burst, tail, rate] = parts[..] else {
            return Err("expected PEAK,BURST_MS,TAIL,RATE".into());
        };
        let number = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| format!("`{s}` is not a number"))
        };
        let shape = Self {
            peak: number(peak)? as usize,
            burst: Duration::from_secs_f64(number(burst)? / 1000.0),
            tail: number(tail)? as usize,
            tail_rate: number(rate)?,
        };
        if shape.peak == 0 || shape.tail_rate <= 0.0 {
            return Err("the peak and the tail's rate must be above 0".into());
        }
        Ok(shape)
    }

    /// The server's connection limit for the function's role or user: 10 % of the peak.
    fn limit(self) -> u32 {
        (self.peak / 10).max(1) as u32
    }

    fn arrivals(self) -> Arrivals {
        let mut at: Vec<Duration> = (0..self.peak)
            .map(|i| self.burst * i as u32 / self.peak as u32)
            .collect();
        let rest = self.burst.max(Duration::from_secs(1));
        at.extend(
            (0..self.tail).map(|i| rest + Duration::from_secs_f64(i as f64 / self.tail_rate)),
        );
        Arrivals(at)
    }
}

/// One arm's run.
struct Arm {
    name: &'static str,
    summary: Summary,
    environments: usize,
    peak_connections: u64,
    steady_after_ms: Option<u64>,
    rss_kib: Option<(u64, u64)>,
    timeline: Timeline,
}

const INTERVAL: Duration = Duration::from_millis(100);

/// Runs one arm: `fixture` with `env`, counting the role's connections with `count` on `admin`.
async fn run_arm(
    fixtures: &Fixtures,
    name: &'static str,
    fixture: &str,
    env: &[(&str, &str)],
    admin: &str,
    count: String,
    shape: Shape,
) -> Arm {
    let mut function = config(fixtures, fixture).timeout(Duration::from_secs(30));
    for &(key, value) in env {
        function = function.env(key, value);
    }
    sqlx::any::install_default_drivers();
    let counter = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(admin)
        .await
        .expect("the benchmark's admin connection");
    let probe = counting_probe(&counter, count);
    let scaling = Scaling {
        reserved_concurrency: shape.peak,
        ..Scaling::default()
    };
    let fleet = ScaledFleet::new(function, scaling).sample_every(INTERVAL, Some(probe));
    let events = vec!["{}".to_owned(); shape.peak + shape.tail];
    let records = fleet
        .run(
            events.into_iter().map(Into::into).collect(),
            &shape.arrivals(),
            |_, _| {},
        )
        .await;
    let timeline = fleet.timeline(&records, INTERVAL);
    first_failure(name, &records);
    let environments = fleet.environments().len();
    fleet.shutdown().await;
    counter.close().await;
    Arm {
        name,
        summary: Summary::of(&records),
        environments,
        peak_connections: timeline.peak_server_connections.unwrap_or(0),
        steady_after_ms: steady_after(&records),
        rss_kib: timeline.rss_per_environment_kib,
        timeline,
    }
}

fn first_failure(arm: &str, records: &[InvocationRecord]) {
    if let Some(record) = records.iter().find(|r| !r.outcome.is_response()) {
        eprintln!("spike, {arm}: first failure: {:?}", record.outcome);
    }
}

/// When the fleet settled: how long after the first arrival the last invocation arrived
/// that started an environment, failed, or was throttled.
fn steady_after(records: &[InvocationRecord]) -> Option<u64> {
    let first = records.iter().map(|r| r.invoked_at).min()?;
    records
        .iter()
        .filter(|r| r.cold_start.is_some() || !r.outcome.is_response())
        .map(|r| r.invoked_at)
        .max()
        .and_then(|last| last.duration_since(first).ok())
        .map(|d| d.as_millis() as u64)
}

/// Section 10 on PostgreSQL: the four arms. `None` when PgBouncer is not installed.
pub async fn postgres(
    fixtures: &Fixtures,
    admin: &str,
    shape: Shape,
    out: &Path,
) -> Option<(Vec<Row>, String)> {
    let limit = shape.limit();
    let mut arms = Vec::new();
    let plans: [(&'static str, &str, &str); 4] = [
        ("(a) hand-written", "db_handwritten", "plain"),
        ("(b) lambda-thaw default", "db_thaw_eager", "plain"),
        ("(c) lambda-thaw governed", "db_thaw_eager", "governed"),
        ("(d) proxy mode via PgBouncer", "db_proxy", "proxy"),
    ];
    for (name, fixture, pool) in plans {
        let role = LimitedRole::create(admin, limit).await;
        let count = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'",
            role.name
        );
        // The proxy arm's role connections are PgBouncer's, at most its pool's size.
        let bouncer = if pool == "proxy" {
            Some(PgBouncer::start(&role.url, limit)?)
        } else {
            None
        };
        let url = bouncer.as_ref().map_or_else(
            || role.url.clone(),
            |b| b.url(&role.name, &role.scratch.name),
        );
        let env = [("DATABASE_URL", url.as_str()), ("FIXTURE_POOL", pool)];
        arms.push(run_arm(fixtures, name, fixture, &env, admin, count, shape).await);
        drop(bouncer);
        role.drop().await;
    }
    Some(report("PostgreSQL", &arms, shape, out))
}

/// Section 10 on MariaDB: arms (a)–(c) (PgBouncer speaks PostgreSQL only).
pub async fn mariadb(
    fixtures: &Fixtures,
    admin: &str,
    shape: Shape,
    out: &Path,
) -> (Vec<Row>, String) {
    let limit = shape.limit();
    let mut arms = Vec::new();
    let plans: [(&'static str, &str, &str); 3] = [
        ("(a) hand-written", "db_handwritten", "plain"),
        ("(b) lambda-thaw default", "db_thaw_eager", "plain"),
        ("(c) lambda-thaw governed", "db_thaw_eager", "governed"),
    ];
    for (name, fixture, pool) in plans {
        let mut scratch = MariaScratch::create(admin).await;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER USER '{}'@'%' WITH MAX_USER_CONNECTIONS {limit}",
            scratch.name
        )))
        .execute(&mut scratch.admin)
        .await
        .expect("the user's connection limit");
        // The sessions holding one of the user's slots: not one that has quit, nor one
        // still logging in (a connection about to be refused is listed under the user).
        let count = format!(
            "SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = '{}' AND COMMAND NOT IN ('Quit', 'Killed', 'Connect')",
            scratch.name
        );
        let env = [
            ("DATABASE_URL", scratch.url.as_str()),
            ("FIXTURE_POOL", pool),
        ];
        arms.push(run_arm(fixtures, name, fixture, &env, admin, count, shape).await);
        scratch.wait_until_idle().await;
        scratch.drop_database().await;
    }
    report("MariaDB", &arms, shape, out)
}

/// The arms as the main table's rows (each lambda-thaw arm against the hand-written one),
/// a table of their own, and a timeline chart per arm in `out`.
fn report(server: &str, arms: &[Arm], shape: Shape, out: &Path) -> (Vec<Row>, String) {
    let limit = shape.limit();
    let total = shape.peak + shape.tail;
    let slug = server.to_ascii_lowercase();
    let mut table = format!(
        "{server}: {} arrivals in {} ms, then from 1 s on {} at {}/s; connection limit {limit} (10 % of the peak)\n\n\
         | arm | failed | throttled | p50 ms | p99 ms | environments | peak connections | settled after | RSS per environment |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        shape.peak,
        shape.burst.as_millis(),
        shape.tail,
        shape.tail_rate
    );
    let mut timelines = serde_json::Map::new();
    for (i, arm) in arms.iter().enumerate() {
        let s = &arm.summary;
        let _ = writeln!(
            table,
            "| {} | {} of {total} | {} | {:.1} | {:.1} | {} | {} | {} | {} |",
            arm.name,
            s.errors - s.throttles,
            s.throttles,
            s.p50_ms,
            s.p99_ms,
            arm.environments,
            arm.peak_connections,
            arm.steady_after_ms.map_or("—".to_owned(), |ms| format!(
                "{:.1} s",
                ms as f64 / 1000.0
            )),
            arm.rss_kib.map_or("—".to_owned(), |(p50, max)| format!(
                "{:.1} MiB (max {:.1})",
                p50 as f64 / 1024.0,
                max as f64 / 1024.0
            )),
        );
        let chart = arm.timeline.to_svg(
            &format!(
                "{server}, {}: {} arrivals in {} ms onto a limit of {limit}",
                arm.name,
                shape.peak,
                shape.burst.as_millis()
            ),
            Some(u64::from(limit)),
        );
        let file = out.join(format!(
            "spike-{slug}-{}-{}.svg",
            shape.peak,
            (b'a' + i as u8) as char
        ));
        if let Err(e) = std::fs::write(&file, chart) {
            eprintln!("spike chart not written to {}: {e}", file.display());
        }
        timelines.insert(arm.name.to_owned(), arm.timeline.to_json());
    }
    let _ = std::fs::write(
        out.join(format!("spike-{slug}-{}.json", shape.peak)),
        format!("{:#}\n", serde_json::Value::Object(timelines)),
    );
    let baseline = &arms[0];
    let mut rows = Vec::new();
    for arm in &arms[1..] {
        let failed = |a: &Arm| (a.summary.errors - a.summary.throttles) as f64;
        rows.push(Row {
            section: "10",
            what: format!(
                "{server}: failed invocations of {total}, a spike of {} onto a limit of {limit}",
                shape.peak
            ),
            tag: format!("{} failed", &arm.name[..3]),
            subject: failed(arm),
            baseline: failed(baseline),
            unit: "invocations",
            subject_name: arm.name[4..].to_owned(),
            baseline_name: baseline.name[4..].to_owned(),
        });
        rows.push(Row {
            section: "10",
            what: format!(
                "{server}: p99 handout → response, a spike of {} onto a limit of {limit}",
                shape.peak
            ),
            tag: format!("{} p99", &arm.name[..3]),
            subject: arm.summary.p99_ms,
            baseline: baseline.summary.p99_ms,
            unit: "ms",
            subject_name: arm.name[4..].to_owned(),
            baseline_name: baseline.name[4..].to_owned(),
        });
    }
    (rows, table)
}
