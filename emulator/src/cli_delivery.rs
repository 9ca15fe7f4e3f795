//! The command line's `--deliver async|sqs`: the events delivered at least once through a
//! fixed fleet — Lambda's asynchronous retries or an SQS queue — with duplicates and lost
//! answers at the rates given, and a report of what that took.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;

use crate::delivery::{Delivery, deliver};
use crate::emf::Metrics;
use crate::sqs::{SqsSource, deliver_sqs};
use crate::{Fleet, FunctionConfig};

/// Which at-least-once source delivers the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Source {
    /// Lambda's asynchronous invocations: a failed delivery retried twice, then dead-lettered.
    Async,
    /// An SQS queue polled in batches by Lambda's event source mapping.
    Sqs,
}

/// The delivery's flags, as the command line read them.
pub(crate) struct Options {
    pub(crate) source: Source,
    pub(crate) duplicates: f64,
    pub(crate) lost_answers: f64,
    pub(crate) retry_scale: f64,
    pub(crate) batch_size: usize,
    pub(crate) visibility_timeout_ms: u64,
    pub(crate) max_receives: u32,
    pub(crate) dead_letters: Option<std::path::PathBuf>,
    pub(crate) seed: u64,
    pub(crate) json: bool,
    /// `--metrics`: read the EMF documents every environment printed.
    pub(crate) metrics: bool,
}

/// The EMF documents every environment of `fleet` printed, read to the end of its output
/// (the processes have exited).
async fn metrics_of(fleet: &Fleet) -> Metrics {
    let environments = fleet.environments();
    for environment in environments {
        environment.logs().drained(Duration::from_secs(5)).await;
    }
    Metrics::of(environments.iter().map(|e| &**e))
}

/// Runs the delivery and prints its report (text, or JSON with `--json`; with `--metrics`,
/// the EMF documents' table too). Exit code 0 when no event was dead-lettered and every
/// EMF document was valid, 1 otherwise.
pub(crate) fn run(
    args: &Options,
    config: FunctionConfig,
    events: Vec<Bytes>,
    environments: usize,
    out: &mut (dyn Write + Send),
) -> Result<ExitCode, String> {
    let source = args.source;
    for (flag, rate) in [
        ("--duplicates", args.duplicates),
        ("--lost-answers", args.lost_answers),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("{flag} {rate}: a share between 0 and 1"));
        }
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let total = events.len();
    type Counts = (Vec<(&'static str, usize)>, Vec<usize>);
    let (counts_and_dead, metrics): (Counts, Option<Metrics>) = runtime.block_on(async {
        let fleet = Fleet::new(config, environments);
        let result = match source {
            Source::Async => {
                let delivery = Delivery {
                    duplicates: args.duplicates,
                    lost_answers: args.lost_answers,
                    seed: args.seed,
                    ..Delivery::asynchronous(args.retry_scale)
                };
                let report = deliver(&fleet, events.clone(), &delivery).await;
                let answered = report.answers.iter().filter(|a| a.is_some()).count();
                (
                    vec![
                        ("events", total),
                        ("deliveries", report.deliveries.len()),
                        ("retries", report.retries()),
                        ("duplicates", report.duplicates()),
                        ("answers lost", report.lost()),
                        ("answered", answered),
                        (
                            "answers differing from the first",
                            report.differing_answers(),
                        ),
                        ("dead letters", report.dead_letters.len()),
                    ],
                    report.dead_letters,
                )
            }
            Source::Sqs => {
                let bodies = events
                    .iter()
                    .map(|e| String::from_utf8_lossy(e).into_owned())
                    .collect();
                let queue = SqsSource {
                    batch_size: args.batch_size.max(1),
                    visibility_timeout: Duration::from_millis(args.visibility_timeout_ms),
                    max_receives: args.max_receives.max(1),
                    duplicates: args.duplicates,
                    lost_answers: args.lost_answers,
                    seed: args.seed,
                    ..SqsSource::default()
                };
                let report = deliver_sqs(&fleet, bodies, &queue).await;
                (
                    vec![
                        ("messages", total),
                        ("batches", report.batches),
                        ("receives", report.receives),
                        ("duplicates", report.duplicates),
                        ("answers lost", report.lost),
                        ("batches failed whole", report.failed_batches),
                        ("messages reported failed", report.reported_failures),
                        ("dead letters", report.dead_letters.len()),
                    ],
                    report.dead_letters,
                )
            }
        };
        fleet.shutdown().await;
        let metrics = match args.metrics {
            true => Some(metrics_of(&fleet).await),
            false => None,
        };
        (result, metrics)
    });
    let ((counts, dead), metrics) = (counts_and_dead, metrics);
    if let Some(path) = &args.dead_letters {
        let mut lines = String::new();
        for index in &dead {
            lines.push_str(&String::from_utf8_lossy(&events[*index]));
            lines.push('\n');
        }
        std::fs::write(path, lines)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    if args.json {
        let document: serde_json::Map<String, serde_json::Value> = counts
            .iter()
            .map(|(name, n)| (name.replace(' ', "_"), serde_json::json!(n)))
            .chain([("dead_letter_events".to_owned(), serde_json::json!(dead))])
            .chain(
                metrics
                    .as_ref()
                    .map(|m| ("metrics".to_owned(), m.to_json())),
            )
            .collect();
        let _ = writeln!(out, "{:#}", serde_json::Value::Object(document));
    } else {
        for (name, n) in &counts {
            let _ = writeln!(out, "{name}: {n}");
        }
        if let Some(metrics) = &metrics {
            let _ = write!(out, "\n{}", metrics.table());
        }
    }
    let invalid_metrics = metrics.as_ref().is_some_and(|m| !m.invalid.is_empty());
    Ok(if dead.is_empty() && !invalid_metrics {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
