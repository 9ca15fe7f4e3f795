//! `bench`: every lambda-thaw benchmark in one run, each side by side with its baseline
//! measured in the same run on the same machine. Writes `results.json`, `results.md`
//! and `chart.svg` (to `bench/results/` unless `--out DIR`).
//!
//! ```sh
//! cargo run --release -p lambda-thaw-bench            # the full run (a few minutes)
//! cargo run -p lambda-thaw-bench -- --quick           # a smoke test (under a minute)
//! cargo run --release -p lambda-thaw-bench -- --only 1,7   # just those sections
//! ```
//!
//! PostgreSQL and MariaDB are found through `LAMBDA_THAW_TEST_POSTGRES` and
//! `LAMBDA_THAW_TEST_MYSQL` (defaults: PostgreSQL and MariaDB on localhost, ports 5432 and 3306); a section whose server
//! cannot be reached is skipped with a note.

mod build_cost;
mod chart;
mod emulated;
mod idempotent;
mod liveness;
mod overhead;
mod report;
mod spike;

use std::path::PathBuf;
use std::process::Command;

use report::{Row, markdown};

struct Plan {
    overhead_calls: u64,
    overhead_rounds: usize,
    warm: usize,
    cold: usize,
    reuse_warm: usize,
    fleet: (usize, usize),
    early: usize,
    builds: usize,
    clean_builds: bool,
    /// Warm-up and measured invocations of the memory section.
    memory: (usize, usize),
    /// The spikes of section 10.
    spikes: &'static [spike::Shape],
}

const FULL: Plan = Plan {
    overhead_calls: 200_000,
    overhead_rounds: 10,
    warm: 2000,
    cold: 21,
    reuse_warm: 200,
    fleet: (16, 50),
    early: 20,
    builds: 3,
    clean_builds: true,
    memory: (1_000, 100_000),
    spikes: &[
        // Ten times the limit, each arrival finding every environment busy.
        spike::Shape {
            peak: 200,
            burst: std::time::Duration::from_millis(20),
            tail: 200,
            tail_rate: 50.0,
        },
        // The most this machine holds: PostgreSQL's default `max_connections` (100, 97 for
        // roles that are not superusers) caps a limit of 10 % of the peak at 90.
        spike::Shape {
            peak: 900,
            burst: std::time::Duration::from_millis(100),
            tail: 900,
            tail_rate: 100.0,
        },
    ],
};

const QUICK: Plan = Plan {
    overhead_calls: 20_000,
    overhead_rounds: 3,
    warm: 200,
    cold: 1,
    reuse_warm: 20,
    fleet: (4, 10),
    early: 3,
    builds: 1,
    clean_builds: false,
    memory: (200, 2_000),
    spikes: &[spike::Shape {
        peak: 40,
        burst: std::time::Duration::from_millis(10),
        tail: 40,
        tail_rate: 20.0,
    }],
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results"),
            PathBuf::from,
        );
    // `--only 1,7`: just those sections (for working on one of them).
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').map(|s| s.trim().to_string()).collect());
    // By the section's number, whole: `--only 1` is section 1, not 10, 11 and 12 too.
    let wanted = |section: &str| {
        let number = section.split(' ').next().unwrap_or(section);
        only.as_ref()
            .is_none_or(|list| list.iter().any(|s| s == number))
    };
    if let Some(unknown) = args.iter().find(|a| {
        a.starts_with("--") && !["--quick", "--out", "--only", "--spike"].contains(&a.as_str())
    }) {
        eprintln!(
            "error: unknown option `{unknown}`; expected `--quick`, `--only N,M`, `--spike PEAK,BURST_MS,TAIL,RATE` or `--out DIR`"
        );
        std::process::exit(2);
    }
    let mut plan = if quick { QUICK } else { FULL };
    // `--spike 500,1000,500,50`: section 10's one shape (peak, burst in ms, tail, tail rate).
    if let Some(shape) = args
        .iter()
        .position(|a| a == "--spike")
        .and_then(|i| args.get(i + 1))
    {
        let shape = spike::Shape::parse(shape).unwrap_or_else(|e| {
            eprintln!("error: --spike {shape}: {e}");
            std::process::exit(2);
        });
        plan.spikes = vec![shape].leak();
    }
    let release = !cfg!(debug_assertions);
    let fixtures = build_fixtures(release);
    let postgres = reachable(
        "LAMBDA_THAW_TEST_POSTGRES",
        "postgres://root@127.0.0.1:5432/test",
    );
    let mariadb = reachable("LAMBDA_THAW_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test");

    let mut rows: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut section = |name: &str, run: &mut dyn FnMut() -> Vec<Row>| {
        if wanted(name) {
            rows.extend(run());
            eprintln!("done: {name}");
        }
    };
    section("1 overhead", &mut || {
        overhead::run(plan.overhead_calls, plan.overhead_rounds)
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    section("2 warm latency", &mut || {
        runtime.block_on(emulated::warm_latency(&fixtures, plan.warm))
    });
    match &postgres {
        Some(url) => {
            section("3 cold start", &mut || {
                runtime.block_on(emulated::cold_start(&fixtures, url, plan.cold))
            });
            section("4 reuse vs reconnect (PostgreSQL)", &mut || {
                runtime.block_on(emulated::reuse_vs_reconnect(
                    &fixtures,
                    emulated::Server::Postgres(url),
                    plan.reuse_warm,
                    plan.fleet.0,
                    plan.fleet.1,
                ))
            });
        }
        None => {
            notes.push("PostgreSQL unreachable: sections 3, 4 and 8 (PostgreSQL) skipped".into())
        }
    }
    match &mariadb {
        Some(url) => section("4 reuse vs reconnect (MariaDB)", &mut || {
            runtime.block_on(emulated::reuse_vs_reconnect(
                &fixtures,
                emulated::Server::MariaDb(url),
                plan.reuse_warm,
                plan.fleet.0,
                plan.fleet.1,
            ))
        }),
        None => notes.push("MariaDB unreachable: section 4 (MariaDB) skipped".into()),
    }
    section("5 early return", &mut || {
        runtime.block_on(emulated::early_return(&fixtures, plan.early))
    });
    section("7 memory", &mut || {
        runtime.block_on(emulated::memory_growth(
            &fixtures,
            plan.memory.0,
            plan.memory.1,
        ))
    });
    if let Some(url) = &postgres {
        let mut skipped = false;
        section("8 proxy mode", &mut || {
            let rows = runtime.block_on(emulated::proxy_mode(&fixtures, url, plan.reuse_warm));
            skipped = rows.is_none();
            rows.unwrap_or_default()
        });
        if skipped {
            notes.push("PgBouncer not installed: section 8 (proxy mode) skipped".into());
        }
    }
    if let Some(url) = &postgres {
        section("11 exactly once", &mut || {
            runtime.block_on(idempotent::run(url, plan.warm / 2))
        });
        section("12 liveness check", &mut || {
            runtime.block_on(liveness::run(url, plan.warm * 2))
        });
    }
    section("9 metrics", &mut || {
        let mut rows = runtime.block_on(emulated::metrics_latency(&fixtures, plan.warm));
        rows.extend(overhead::metrics_cost(
            plan.overhead_calls / 4,
            plan.overhead_rounds,
        ));
        rows
    });
    std::fs::create_dir_all(&out).unwrap();
    let mut spike_tables: Vec<String> = Vec::new();
    for &shape in plan.spikes {
        if let Some(url) = &postgres {
            let mut skipped = false;
            section("10 spike (PostgreSQL)", &mut || {
                let result = runtime.block_on(spike::postgres(&fixtures, url, shape, &out));
                skipped = result.is_none();
                result.map_or_else(Vec::new, |(rows, table)| {
                    spike_tables.push(table);
                    rows
                })
            });
            if skipped {
                notes
                    .push("PgBouncer not installed: section 10 (spike, PostgreSQL) skipped".into());
            }
        }
        if let Some(url) = &mariadb {
            section("10 spike (MariaDB)", &mut || {
                let (rows, table) = runtime.block_on(spike::mariadb(&fixtures, url, shape, &out));
                spike_tables.push(table);
                rows
            });
        }
    }
    section("6 build cost", &mut || {
        build_cost::run(release, plan.builds, plan.clean_builds)
    });

    let machine = machine();
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map_or_else(
            |_| "unknown date".into(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        );
    let profile = if release { "release" } else { "debug" };
    let caption = format!(
        "{date}, {machine}, {profile}{}",
        if quick { ", --quick" } else { "" }
    );
    let table = markdown(&rows);
    let document = serde_json::json!({
        "date": date, "machine": machine, "profile": profile, "quick": quick, "notes": notes, "rows": rows,
    });
    std::fs::write(out.join("results.json"), format!("{document:#}\n")).unwrap();
    let spikes: String = spike_tables.iter().map(|t| format!("\n{t}")).collect();
    std::fs::write(
        out.join("results.md"),
        format!("{caption}\n\n{table}{spikes}"),
    )
    .unwrap();
    if let Err(e) = chart::draw(&rows, &out.join("chart.svg"), &caption) {
        notes.push(format!("chart not drawn: {e}"));
    }
    println!("{caption}\n\n{table}{spikes}");
    for note in &notes {
        println!("note: {note}");
    }
    println!("written: {}", out.display());
}

/// Builds the fixture binaries (this package's other bins) in the runner's own profile.
fn build_fixtures(release: bool) -> emulated::Fixtures {
    let mut args = vec!["-p", "lambda-thaw-bench", "--bins"];
    if release {
        args.push("--release");
    }
    lambda_thaw_emulator::cargo::build(&args).expect("the benchmark fixtures build")
}

/// The URL in `var` (or `default`) if a server answers there.
fn reachable(var: &str, default: &str) -> Option<String> {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_string());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ok = runtime.block_on(async {
        use sqlx::Connection;
        let attempt = async {
            if url.starts_with("postgres") {
                sqlx::PgConnection::connect(&url).await.map(|_| ())
            } else {
                sqlx::MySqlConnection::connect(&url).await.map(|_| ())
            }
        };
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), attempt).await,
            Ok(Ok(()))
        )
    });
    ok.then_some(url)
}

/// "N cores (model), M GiB".
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .map_or("unknown CPU".to_string(), |m| m.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    format!("{cores} cores ({model}), {:.0} GiB", kib / 1024.0 / 1024.0)
}
