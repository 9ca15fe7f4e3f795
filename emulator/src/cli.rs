//! The command-line program: run a function binary under a local Lambda for a stream of
//! events and print what happened to each invocation. A library module so tests can run
//! it in-process and read its output.

use std::io::{BufReader, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;
use std::io::Write;
use std::sync::Mutex;

use crate::emf::Metrics;
use crate::scaling::{Arrivals, ScaledFleet, Scaling};
use crate::{
    Fleet, FunctionConfig, Summary, read_json_lines, repeat_event, summary_text, table_header,
    table_row,
};

/// Run a Lambda function binary locally, the way Lambda runs it: init once, invocations
/// with a deadline, the process frozen between them, SHUTDOWN at the end.
#[derive(Parser, Debug)]
#[command(name = "lambda-thaw-emulator", version)]
#[command(group(
    clap::ArgGroup::new("arrival")
        .args(["rate", "ramp", "arrivals"])
        .conflicts_with_all(["environments", "gap_ms"])
))]
pub struct Args {
    /// The function's executable. Omit it when using --cargo-bin.
    binary: Option<PathBuf>,
    /// Build this binary of the current cargo workspace (`cargo build --bin NAME`) and run it.
    #[arg(long, value_name = "NAME", conflicts_with = "binary")]
    cargo_bin: Option<String>,
    /// With --cargo-bin: build in release mode.
    #[arg(long, requires = "cargo_bin")]
    release: bool,
    /// Events as JSON lines, one per line; `-` reads stdin.
    #[arg(long, value_name = "FILE", conflicts_with = "event")]
    events: Option<PathBuf>,
    /// One event as JSON, sent --count times.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    event: String,
    /// How many times to send --event.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Environments (processes) serving the events in parallel.
    #[arg(long, default_value_t = 1)]
    environments: usize,
    /// AWS_LAMBDA_MAX_CONCURRENCY: invocations in flight at once per environment.
    #[arg(long, default_value_t = 1)]
    concurrency: u32,
    /// Invocation timeout in milliseconds (the deadline sent to the function).
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
    /// Idle time between an environment's invocations, in milliseconds (spent frozen).
    #[arg(long, default_value_t = 0)]
    gap_ms: u64,
    /// Do not freeze the process between invocations.
    #[arg(long)]
    no_freeze: bool,
    /// Extra environment variable for the function, KEY=VALUE; repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    envs: Vec<String>,
    /// Show this field of each JSON response in the table instead of the whole body; repeatable.
    #[arg(long = "field", value_name = "NAME")]
    fields: Vec<String>,
    /// Open-loop arrivals at this steady rate per second, whether or not the function keeps
    /// up, scaled as Lambda scales: an idle environment is reused, otherwise one is started
    /// (up to --reserved-concurrency and --scale-rate); beyond, the invocation is throttled.
    /// Instead of --environments.
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// Open-loop arrivals whose rate rises (or falls) evenly from FROM to TO per second
    /// over the events, e.g. `10:1000`.
    #[arg(long, value_name = "FROM:TO")]
    ramp: Option<String>,
    /// Open-loop arrivals at the times in FILE: milliseconds from the start, one per line.
    #[arg(long, value_name = "FILE")]
    arrivals: Option<PathBuf>,
    /// With open-loop arrivals: the function's reserved concurrency (invocations in flight
    /// at once).
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "arrival")]
    reserved_concurrency: usize,
    /// With open-loop arrivals: new environments allowed per 10 s (Lambda's is 1,000).
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "arrival")]
    scale_rate: usize,
    /// With open-loop arrivals: an environment idle this long is reclaimed (SHUTDOWN);
    /// default: kept for the whole run.
    #[arg(long, value_name = "MS", requires = "arrival")]
    idle_timeout_ms: Option<u64>,
    /// With open-loop arrivals: write the run's timeline (per --interval-ms: arrivals,
    /// throttles, errors, in flight, environments starting / busy / idle, latency, memory,
    /// server connections) to FILE as JSON.
    #[arg(long, value_name = "FILE", requires = "arrival")]
    timeline: Option<PathBuf>,
    /// With open-loop arrivals: draw the timeline as an SVG chart in FILE.
    #[arg(long, value_name = "FILE", requires = "arrival")]
    chart: Option<PathBuf>,
    /// The timeline's bucket (and sampling interval), ms.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    interval_ms: u64,
    /// Counts the database server's connections each interval: a shell command that prints
    /// one number, e.g. `psql -Atc "select count(*) from pg_stat_activity"`.
    #[arg(long, value_name = "COMMAND", requires = "arrival")]
    connections_command: Option<String>,
    /// The server's connection limit, drawn on the chart.
    #[arg(long, value_name = "N", requires = "chart")]
    connection_limit: Option<u64>,
    /// Print the function's own output (stdout and stderr) to stderr.
    #[arg(long)]
    logs: bool,
    /// Print one JSON document (records and summary) instead of the table.
    #[arg(long)]
    json: bool,
    /// Read the CloudWatch EMF documents the function printed: each checked against the
    /// specification, and per metric its count, sum, p50 and p99 over the run.
    #[arg(long)]
    metrics: bool,
    /// Deliver at least once instead of once each: `async` (Lambda's asynchronous
    /// invocations: two retries, dead letters) or `sqs` (each event a message of a queue
    /// polled in batches; the function answers `batchItemFailures`).
    #[arg(long, value_name = "SOURCE", conflicts_with_all = ["arrival", "gap_ms"])]
    deliver: Option<crate::cli_delivery::Source>,
    /// With --deliver: the share of events (async) or received messages (sqs) delivered a
    /// second time.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, requires = "deliver")]
    duplicates: f64,
    /// With --deliver: the share of deliveries (async) or batches (sqs) whose answer is lost
    /// — the environment killed as its function answers.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, requires = "deliver")]
    lost_answers: f64,
    /// With --deliver async: Lambda's retry delays (1 and 2 minutes) scaled by this.
    #[arg(
        long,
        value_name = "SCALE",
        default_value_t = 0.001,
        requires = "deliver"
    )]
    retry_scale: f64,
    /// With --deliver sqs: messages per batch.
    #[arg(long, value_name = "N", default_value_t = 10, requires = "deliver")]
    batch_size: usize,
    /// With --deliver sqs: how long a received message stays invisible.
    #[arg(long, value_name = "MS", default_value_t = 200, requires = "deliver")]
    visibility_timeout_ms: u64,
    /// With --deliver sqs: receives before a failing message goes to the dead letters.
    #[arg(long, value_name = "N", default_value_t = 5, requires = "deliver")]
    max_receives: u32,
    /// With --deliver: write the dead-lettered events here, one JSON line each.
    #[arg(long, value_name = "FILE", requires = "deliver")]
    dead_letters: Option<PathBuf>,
    /// With --deliver: the seed of the duplicates' and losses' draws.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "deliver")]
    seed: u64,
}

/// Parses `argv` (program name first) and runs; the table or JSON goes to `out`, errors
/// come back as text. Exit code 0 when every invocation got a response, 1 otherwise.
pub fn main(
    argv: impl IntoIterator<Item = String>,
    out: &mut (dyn Write + Send),
) -> Result<ExitCode, String> {
    let args = match Args::try_parse_from(argv) {
        Ok(args) => args,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = write!(out, "{e}");
            return Ok(ExitCode::SUCCESS);
        }
        // clap's own text already starts with "error: " and names the flag.
        Err(e) => return Err(e.to_string().trim_start_matches("error: ").to_string()),
    };
    run(args, out)
}

fn run(args: Args, out: &mut (dyn Write + Send)) -> Result<ExitCode, String> {
    let binary = match (&args.binary, &args.cargo_bin) {
        (Some(path), _) => {
            if !path.is_file() {
                return Err(format!(
                    "function binary `{}` does not exist (build it first, or use --cargo-bin NAME)",
                    path.display()
                ));
            }
            path.clone()
        }
        (None, Some(name)) => cargo_build(name, args.release)?,
        (None, None) => {
            return Err("name the function: a path to its binary, or --cargo-bin NAME".into());
        }
    };
    let events = match &args.events {
        Some(path) if path.as_os_str() == "-" => {
            read_json_lines(std::io::stdin().lock(), "<stdin>").map_err(|e| e.to_string())?
        }
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| format!("cannot open event file `{}`: {e}", path.display()))?;
            read_json_lines(BufReader::new(file), &path.display().to_string())
                .map_err(|e| e.to_string())?
        }
        None => repeat_event(&args.event, args.count).map_err(|e| e.to_string())?,
    };
    let mut config = FunctionConfig::new(&binary)
        .timeout(Duration::from_millis(args.timeout_ms))
        .freeze(!args.no_freeze)
        .max_concurrency(args.concurrency);
    for pair in &args.envs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--env `{pair}`: expected KEY=VALUE"))?;
        config = config.env(key, value);
    }
    if args.logs {
        config = config.echo_output("  | ");
    }

    if let Some(source) = args.deliver {
        let options = crate::cli_delivery::Options {
            source,
            duplicates: args.duplicates,
            lost_answers: args.lost_answers,
            retry_scale: args.retry_scale,
            batch_size: args.batch_size,
            visibility_timeout_ms: args.visibility_timeout_ms,
            max_receives: args.max_receives,
            dead_letters: args.dead_letters.clone(),
            seed: args.seed,
            json: args.json,
            metrics: args.metrics,
        };
        return crate::cli_delivery::run(&options, config, events, args.environments, out);
    }
    let scaled = open_loop(&args, events.len())?;

    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let total = events.len();
    let json = args.json;
    let out = Mutex::new(out);
    let print = |line: String| {
        let _ = writeln!(out.lock().unwrap(), "{line}");
    };
    let records = runtime.block_on(async {
        let fleet = match scaled {
            Some((scaling, arrivals)) => {
                let mut fleet = ScaledFleet::new(config, scaling);
                if args.timeline.is_some() || args.chart.is_some() {
                    let probe = args.connections_command.clone().map(command_probe);
                    fleet = fleet.sample_every(Duration::from_millis(args.interval_ms), probe);
                }
                Fleets::Scaled(fleet, arrivals)
            }
            None => Fleets::Fixed(Fleet::new(config, args.environments)),
        };
        if !json {
            // Relative to the working directory when it is inside it: the line is for people.
            let shown = std::env::current_dir()
                .ok()
                .and_then(|cwd| {
                    binary
                        .strip_prefix(cwd)
                        .ok()
                        .map(std::path::Path::to_path_buf)
                })
                .unwrap_or_else(|| binary.clone());
            let how = match &fleet {
                Fleets::Fixed(_) => format!("{} environment(s)", args.environments),
                Fleets::Scaled(_, arrivals) => format!(
                    "open-loop arrivals over {:.1} s, reserved concurrency {}",
                    arrivals.0.last().copied().unwrap_or_default().as_secs_f64(),
                    args.reserved_concurrency
                ),
            };
            print(format!(
                "{} — {} invocation(s), {how}",
                shown.display(),
                total
            ));
            print(table_header());
        }
        let mut done = 0;
        let progress = std::io::stderr().is_terminal() && json;
        let on_record = |index: usize, record: &crate::InvocationRecord| {
            done += 1;
            let finished = done;
            if !json {
                print(table_row(index + 1, record, &args.fields));
            } else if progress && (finished % 10 == 0 || finished == total) {
                eprint!("\r{finished}/{total} invocations");
            }
        };
        let (records, shutdowns, reclaimed) = match &fleet {
            Fleets::Fixed(fleet) => {
                let records = fleet
                    .run(events, Duration::from_millis(args.gap_ms), on_record)
                    .await;
                (records, fleet.shutdown().await, None)
            }
            Fleets::Scaled(fleet, arrivals) => {
                let records = fleet.run(events, arrivals, on_record).await;
                let timeline = fleet.timeline(&records, Duration::from_millis(args.interval_ms));
                if let Some(path) = &args.timeline {
                    write_file(path, &format!("{:#}\n", timeline.to_json()))?;
                }
                if let Some(path) = &args.chart {
                    let title = format!(
                        "{} invocations, reserved concurrency {}",
                        records.len(),
                        args.reserved_concurrency
                    );
                    write_file(path, &timeline.to_svg(&title, args.connection_limit))?;
                }
                let reclaimed = fleet.reclaimed().await.len();
                (records, fleet.shutdown().await, Some(reclaimed))
            }
        };
        let environments = fleet.environments();
        if args.metrics {
            // Every process has exited: read what they printed to its end.
            for environment in &environments {
                environment.logs().drained(Duration::from_secs(5)).await;
            }
        }
        let metrics = args
            .metrics
            .then(|| Metrics::of(environments.iter().map(|e| &**e)));
        let scaling = reclaimed.map(|reclaimed| Scaled {
            environments: environments.len(),
            reclaimed,
        });
        Ok::<_, String>((records, shutdowns, metrics, scaling))
    })?;
    let (records, shutdowns, metrics, scaling) = records;
    let summary = Summary::of(&records);
    if json {
        let document = serde_json::json!({
            "records": records.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
            "summary": summary,
            "shutdown": shutdowns,
            "metrics": metrics.as_ref().map(Metrics::to_json),
            "scaling": scaling.as_ref().map(|s| serde_json::json!({
                "environments_started": s.environments,
                "reclaimed": s.reclaimed,
            })),
        });
        print(format!("{document:#}"));
    } else {
        print(String::new());
        print(summary_text(&summary));
        if let Some(scaling) = &scaling {
            print(format!(
                "environments started: {}   reclaimed when idle: {}",
                scaling.environments, scaling.reclaimed
            ));
        }
        for (i, report) in shutdowns.iter().enumerate() {
            print(format!(
                "shutdown {}: {:?}{}{} in {:.0} ms",
                i,
                report.ended,
                if report.sigterm_sent {
                    ", SIGTERM sent"
                } else {
                    ""
                },
                if report.killed_after_grace {
                    ", killed after grace"
                } else {
                    ""
                },
                report.duration.as_secs_f64() * 1000.0
            ));
        }
        if let Some(metrics) = &metrics {
            print(String::new());
            print(metrics.table());
        }
    }
    let invalid_metrics = metrics.as_ref().is_some_and(|m| !m.invalid.is_empty());
    Ok(if summary.errors == 0 && !invalid_metrics {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The two ways to run: a fixed fleet fed as fast as it answers, or Lambda's scaling fed
/// by open-loop arrivals.
enum Fleets {
    Fixed(Fleet),
    Scaled(ScaledFleet, Arrivals),
}

impl Fleets {
    fn environments(&self) -> Vec<std::sync::Arc<crate::Environment>> {
        match self {
            Fleets::Fixed(fleet) => fleet.environments().to_vec(),
            Fleets::Scaled(fleet, _) => fleet.environments(),
        }
    }
}

/// What scaling did over a run.
struct Scaled {
    environments: usize,
    reclaimed: usize,
}

/// The scaling and arrival times for `events` events, when open-loop arrivals were asked
/// for.
fn open_loop(args: &Args, events: usize) -> Result<Option<(Scaling, Arrivals)>, String> {
    let arrivals = if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!(
                "--rate {rate}: expected a number of arrivals per second above 0"
            ));
        }
        Arrivals::rate(rate, events)
    } else if let Some(ramp) = &args.ramp {
        let parsed = ramp
            .split_once(':')
            .and_then(|(from, to)| Some((from.parse::<f64>().ok()?, to.parse::<f64>().ok()?)))
            .filter(|(from, to)| from.is_finite() && to.is_finite() && *from > 0.0 && *to > 0.0);
        let Some((from, to)) = parsed else {
            return Err(format!(
                "--ramp `{ramp}`: expected FROM:TO, two rates per second above 0 (e.g. 10:1000)"
            ));
        };
        Arrivals::ramp(from, to, events)
    } else if let Some(path) = &args.arrivals {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read arrival times `{}`: {e}", path.display()))?;
        let arrivals = Arrivals::parse(&text, &path.display().to_string())?;
        if arrivals.0.len() != events {
            return Err(format!(
                "`{}` has {} arrival time(s) for {events} event(s): give one per event",
                path.display(),
                arrivals.0.len()
            ));
        }
        arrivals
    } else {
        return Ok(None);
    };
    if args.reserved_concurrency == 0 || args.scale_rate == 0 {
        return Err("--reserved-concurrency and --scale-rate must be at least 1".into());
    }
    let scaling = Scaling {
        reserved_concurrency: args.reserved_concurrency,
        scale_rate: (args.scale_rate, Duration::from_secs(10)),
        idle_timeout: args.idle_timeout_ms.map(Duration::from_millis),
    };
    Ok(Some((scaling, arrivals)))
}

fn write_file(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// A probe that runs `command` with `sh -c` and reads the number it prints.
fn command_probe(command: String) -> crate::scaling::ConnectionProbe {
    std::sync::Arc::new(move || {
        let command = command.clone();
        Box::pin(async move {
            let output = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .output()
                .await
                .ok()?;
            String::from_utf8_lossy(&output.stdout).trim().parse().ok()
        })
    })
}

/// Builds `name` with cargo and returns its executable.
fn cargo_build(name: &str, release: bool) -> Result<PathBuf, String> {
    let mut args = vec!["--bin", name];
    if release {
        args.push("--release");
    }
    crate::cargo::build(&args)?
        .remove(name)
        .ok_or_else(|| format!("cargo built no executable named `{name}`"))
}
