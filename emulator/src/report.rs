//! Human-readable tables and summaries of a run, and their JSON form.

use std::time::Duration;

use serde::Serialize;

use crate::outcome::{InvocationRecord, Outcome};

/// Aggregates of a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Invocations run.
    pub invocations: usize,
    /// Invocations that did not end in a response (throttles included).
    pub errors: usize,
    /// Invocations Lambda refused before any environment saw them
    /// (`TooManyRequestsException`).
    pub throttles: usize,
    /// Invocations that had to start their environment.
    pub cold_starts: usize,
    /// Median handout → response, ms.
    pub p50_ms: f64,
    /// 99th percentile handout → response, ms.
    pub p99_ms: f64,
    /// Median handout → complete, ms.
    pub complete_p50_ms: f64,
}

impl Summary {
    /// Summarises `records`.
    pub fn of(records: &[InvocationRecord]) -> Self {
        let mut response: Vec<Duration> = records
            .iter()
            .filter_map(|r| r.response_latency())
            .collect();
        let mut complete: Vec<Duration> = records
            .iter()
            .filter_map(|r| r.complete_latency())
            .collect();
        Self {
            invocations: records.len(),
            errors: records.iter().filter(|r| !r.outcome.is_response()).count(),
            throttles: records
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Throttled(_)))
                .count(),
            cold_starts: records.iter().filter(|r| r.cold_start.is_some()).count(),
            p50_ms: percentile_ms(&mut response, 0.50),
            p99_ms: percentile_ms(&mut response, 0.99),
            complete_p50_ms: percentile_ms(&mut complete, 0.50),
        }
    }
}

/// Nearest-rank percentile in milliseconds; 0 for no samples.
pub fn percentile_ms(samples: &mut [Duration], quantile: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort();
    let rank = ((quantile * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1].as_secs_f64() * 1000.0
}

/// The table's header line.
pub fn table_header() -> String {
    format!(
        "{:>5}  {:>3}  {:<4}  {:>8}  {:>11}  {:>11}  outcome",
        "#", "env", "kind", "init ms", "response ms", "complete ms"
    )
}

/// One table row for invocation number `n` (1-based). With `fields`, a JSON response is
/// shown as those fields only (`ok name=value …`) instead of its text.
pub fn table_row(n: usize, record: &InvocationRecord, fields: &[String]) -> String {
    let ms = |d: Option<Duration>| match d {
        Some(d) => format!("{:.2}", d.as_secs_f64() * 1000.0),
        None => "-".into(),
    };
    // A throttled invocation reached no environment.
    let (environment, kind) = match record.outcome {
        Outcome::Throttled(_) => ("-".to_string(), "-"),
        _ if record.cold_start.is_some() => (record.environment.to_string(), "cold"),
        _ => (record.environment.to_string(), "warm"),
    };
    format!(
        "{:>5}  {:>3}  {:<4}  {:>8}  {:>11}  {:>11}  {}",
        n,
        environment,
        kind,
        ms(record.cold_start.as_ref().map(|c| c.duration)),
        ms(record.response_latency()),
        ms(record.complete_latency()),
        outcome_column(record, fields)
    )
}

fn outcome_column(record: &InvocationRecord, fields: &[String]) -> String {
    match record.outcome.json() {
        Some(body) if !fields.is_empty() => {
            let shown: Vec<String> = fields
                .iter()
                .map(|field| match body.get(field) {
                    Some(serde_json::Value::String(text)) => format!("{field}={text}"),
                    Some(value) => format!("{field}={value}"),
                    None => format!("{field}=?"),
                })
                .collect();
            format!("ok {}", shown.join(" "))
        }
        _ => record.outcome.summary(),
    }
}

/// The summary as readable lines.
pub fn summary_text(summary: &Summary) -> String {
    let throttles = if summary.throttles > 0 {
        format!(" ({} throttled)", summary.throttles)
    } else {
        String::new()
    };
    format!(
        "invocations: {}   errors: {}{}   cold starts: {}\nresponse latency p50: {:.2} ms   p99: {:.2} ms   complete p50: {:.2} ms",
        summary.invocations,
        summary.errors,
        throttles,
        summary.cold_starts,
        summary.p50_ms,
        summary.p99_ms,
        summary.complete_p50_ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&mut samples, 0.5), 50.0);
        assert_eq!(percentile_ms(&mut samples, 0.99), 99.0);
        assert_eq!(percentile_ms(&mut [], 0.5), 0.0);
    }
}
