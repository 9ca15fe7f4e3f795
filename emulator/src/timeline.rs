//! What a scaled run looked like over time, bucket by bucket: arrivals, throttles, errors,
//! invocations in flight, environments cold-starting / busy / idle, the callers' latency,
//! and what was sampled while it ran (each environment's resident memory, the database
//! server's connections). As JSON, and as an SVG chart.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::outcome::{InvocationRecord, Outcome};
use crate::report::percentile_ms;

/// A reading taken while the run went on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// When it was taken.
    #[serde(skip)]
    pub at: SystemTime,
    /// Resident memory of each running environment process, in KiB.
    pub rss_kib: Vec<u64>,
    /// The database server's connections, as the probe counted them.
    pub server_connections: Option<u64>,
}

/// One bucket of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Start of the bucket, ms after the first arrival.
    pub at_ms: u64,
    /// Events that arrived.
    pub arrivals: usize,
    /// Arrivals refused (`TooManyRequestsException`).
    pub throttles: usize,
    /// Invocations that ended in this bucket in anything but a response (throttles aside).
    pub errors: usize,
    /// Invocations in flight at the bucket's end (arrived, not yet complete).
    pub in_flight: usize,
    /// Environments starting (init) at the bucket's end.
    pub cold_starting: usize,
    /// Environments with an invocation at the bucket's end.
    pub busy: usize,
    /// Environments started, not reclaimed, neither starting nor busy (frozen, when the
    /// function is frozen between invocations).
    pub idle: usize,
    /// Arrival → response of the invocations answered in this bucket, ms.
    pub p50_ms: Option<f64>,
    /// The same, 99th percentile.
    pub p99_ms: Option<f64>,
    /// The most server connections sampled in this bucket.
    pub server_connections: Option<u64>,
    /// The most resident memory of all environments together sampled in this bucket, MiB.
    pub rss_mib: Option<f64>,
}

/// A run, bucket by bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// Bucket length, ms.
    pub interval_ms: u64,
    /// The buckets, from the first arrival to the last completion.
    pub buckets: Vec<Bucket>,
    /// The most environments up at once.
    pub peak_environments: usize,
    /// The most server connections sampled (if a probe ran).
    pub peak_server_connections: Option<u64>,
    /// Resident memory per environment process, KiB: the median and the largest sampled.
    pub rss_per_environment_kib: Option<(u64, u64)>,
}

/// When an environment was started and, if so, reclaimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// Its first cold start began.
    pub started: SystemTime,
    /// It was reclaimed (shut down for idleness).
    pub reclaimed: Option<SystemTime>,
}

impl Timeline {
    /// The timeline of `records`, with the environments' `lifetimes` and the `samples`
    /// taken meanwhile, in buckets of `interval`.
    pub fn of(
        records: &[InvocationRecord],
        lifetimes: &[Lifetime],
        samples: &[Sample],
        interval: Duration,
    ) -> Self {
        let interval = interval.max(Duration::from_millis(1));
        let Some(origin) = records.iter().map(|r| r.invoked_at).min() else {
            return Self {
                interval_ms: interval.as_millis() as u64,
                buckets: Vec::new(),
                peak_environments: 0,
                peak_server_connections: None,
                rss_per_environment_kib: None,
            };
        };
        let end_of = |r: &InvocationRecord| {
            r.completed_at
                .or(r.responded_at)
                .unwrap_or(r.invoked_at)
                .max(r.invoked_at)
        };
        let last = records.iter().map(end_of).max().unwrap_or(origin);
        let offset = |t: SystemTime| t.duration_since(origin).unwrap_or_default();
        let count = (offset(last).as_nanos() / interval.as_nanos()) as usize + 1;
        let bucket_of =
            |t: SystemTime| ((offset(t).as_nanos() / interval.as_nanos()) as usize).min(count - 1);
        let mut buckets: Vec<Bucket> = (0..count)
            .map(|i| Bucket {
                at_ms: (interval * i as u32).as_millis() as u64,
                arrivals: 0,
                throttles: 0,
                errors: 0,
                in_flight: 0,
                cold_starting: 0,
                busy: 0,
                idle: 0,
                p50_ms: None,
                p99_ms: None,
                server_connections: None,
                rss_mib: None,
            })
            .collect();
        let mut latencies: Vec<Vec<Duration>> = vec![Vec::new(); count];
        for record in records {
            let bucket = &mut buckets[bucket_of(record.invoked_at)];
            bucket.arrivals += 1;
            match &record.outcome {
                Outcome::Throttled(_) => bucket.throttles += 1,
                Outcome::Response(_) => {}
                _ => buckets[bucket_of(end_of(record))].errors += 1,
            }
            if let (Some(latency), Some(at)) = (record.caller_latency(), record.responded_at) {
                latencies[bucket_of(at)].push(latency);
            }
        }
        for (i, bucket) in buckets.iter_mut().enumerate() {
            let t = origin + interval * (i as u32 + 1);
            let during = |from: SystemTime, to: SystemTime| from <= t && t < to;
            let in_flight: Vec<&InvocationRecord> = records
                .iter()
                .filter(|r| !matches!(r.outcome, Outcome::Throttled(_)))
                .filter(|r| during(r.invoked_at, end_of(r)))
                .collect();
            bucket.in_flight = in_flight.len();
            let starting: std::collections::BTreeSet<usize> = in_flight
                .iter()
                .filter(|r| {
                    r.cold_start
                        .as_ref()
                        .is_some_and(|c| during(c.started_at, c.started_at + c.duration))
                })
                .map(|r| r.environment)
                .collect();
            let busy: std::collections::BTreeSet<usize> = in_flight
                .iter()
                .filter(|r| r.handed_out_at.is_some_and(|h| h <= t))
                .map(|r| r.environment)
                .filter(|e| !starting.contains(e))
                .collect();
            let up = lifetimes
                .iter()
                .filter(|l| l.started <= t && l.reclaimed.is_none_or(|r| t < r))
                .count();
            bucket.cold_starting = starting.len();
            bucket.busy = busy.len();
            bucket.idle = up.saturating_sub(starting.len() + busy.len());
            let latencies = &mut latencies[i];
            if !latencies.is_empty() {
                bucket.p50_ms = Some(percentile_ms(latencies, 0.50));
                bucket.p99_ms = Some(percentile_ms(latencies, 0.99));
            }
        }
        let mut per_environment: Vec<u64> = Vec::new();
        for sample in samples {
            if sample.at < origin {
                continue;
            }
            let bucket = &mut buckets[bucket_of(sample.at)];
            if let Some(connections) = sample.server_connections {
                bucket.server_connections =
                    Some(bucket.server_connections.unwrap_or(0).max(connections));
            }
            if !sample.rss_kib.is_empty() {
                let mib = sample.rss_kib.iter().sum::<u64>() as f64 / 1024.0;
                bucket.rss_mib = Some(bucket.rss_mib.unwrap_or(0.0).max(mib));
            }
            per_environment.extend(&sample.rss_kib);
        }
        per_environment.sort_unstable();
        Self {
            interval_ms: interval.as_millis() as u64,
            peak_environments: buckets
                .iter()
                .map(|b| b.cold_starting + b.busy + b.idle)
                .max()
                .unwrap_or(0),
            peak_server_connections: samples.iter().filter_map(|s| s.server_connections).max(),
            rss_per_environment_kib: per_environment
                .last()
                .map(|&max| (per_environment[per_environment.len() / 2], max)),
            buckets,
        }
    }

    /// The timeline as one JSON document.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// An SVG line chart: arrivals, throttles and errors per bucket; invocations in flight;
    /// environments up (starting + busy + idle); server connections, with `limit` drawn as
    /// a dashed line when given.
    pub fn to_svg(&self, title: &str, limit: Option<u64>) -> String {
        const WIDTH: f64 = 900.0;
        const HEIGHT: f64 = 360.0;
        const LEFT: f64 = 50.0;
        const TOP: f64 = 40.0;
        const PLOT_W: f64 = 700.0;
        const PLOT_H: f64 = 280.0;
        let series: [(&str, &str, Vec<f64>); 6] = [
            ("arrivals", "#1f77b4", self.column(|b| b.arrivals as f64)),
            ("throttles", "#d62728", self.column(|b| b.throttles as f64)),
            ("errors", "#9467bd", self.column(|b| b.errors as f64)),
            ("in flight", "#ff7f0e", self.column(|b| b.in_flight as f64)),
            (
                "environments up",
                "#2ca02c",
                self.column(|b| (b.cold_starting + b.busy + b.idle) as f64),
            ),
            (
                "server connections",
                "#8c564b",
                self.column(|b| b.server_connections.map_or(f64::NAN, |c| c as f64)),
            ),
        ];
        let top = series
            .iter()
            .flat_map(|(_, _, values)| values.iter().copied())
            .chain(limit.map(|l| l as f64))
            .filter(|v| v.is_finite())
            .fold(1.0_f64, f64::max);
        let n = self.buckets.len().max(2) as f64 - 1.0;
        let x = |i: usize| LEFT + PLOT_W * i as f64 / n;
        let y = |v: f64| TOP + PLOT_H * (1.0 - v / top);
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{LEFT}\" y=\"20\" font-size=\"14\">{}</text>\n\
             <line x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
             <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{}\" stroke=\"black\"/>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{top:.0}</text>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.1} s</text>\n",
            escape(title),
            TOP + PLOT_H,
            LEFT + PLOT_W,
            TOP + PLOT_H,
            TOP + PLOT_H,
            LEFT - 6.0,
            TOP + 4.0,
            LEFT - 6.0,
            TOP + PLOT_H,
            LEFT + PLOT_W,
            TOP + PLOT_H + 16.0,
            self.buckets.len() as f64 * self.interval_ms as f64 / 1000.0,
        );
        if let Some(limit) = limit {
            let at = y(limit as f64);
            svg.push_str(&format!(
                "<line x1=\"{LEFT}\" y1=\"{at:.1}\" x2=\"{}\" y2=\"{at:.1}\" stroke=\"#8c564b\" stroke-dasharray=\"6 4\"/>\n\
                 <text x=\"{}\" y=\"{:.1}\">connection limit {limit}</text>\n",
                LEFT + PLOT_W,
                LEFT + PLOT_W + 6.0,
                at + 4.0,
            ));
        }
        for (k, (name, colour, values)) in series.iter().enumerate() {
            let points: Vec<String> = values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
                .collect();
            if points.is_empty() {
                continue;
            }
            svg.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>\n\
                 <rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\n\
                 <text x=\"{}\" y=\"{}\">{name}</text>\n",
                points.join(" "),
                LEFT + PLOT_W + 10.0,
                TOP + 30.0 + 18.0 * k as f64,
                LEFT + PLOT_W + 25.0,
                TOP + 39.0 + 18.0 * k as f64,
            ));
        }
        svg.push_str("</svg>\n");
        svg
    }

    fn column(&self, value: impl Fn(&Bucket) -> f64) -> Vec<f64> {
        self.buckets.iter().map(value).collect()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The resident memory of process `pid` in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{FunctionError, InitReport};

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    fn at(ms: u64) -> SystemTime {
        T0 + Duration::from_millis(1_000_000 + ms)
    }

    fn record(
        environment: usize,
        times: [u64; 4],
        cold_ms: Option<u64>,
        outcome: Outcome,
    ) -> InvocationRecord {
        let [invoked, handed_out, responded, completed] = times;
        InvocationRecord {
            request_id: format!("r{invoked}"),
            environment,
            cold_start: cold_ms.map(|ms| InitReport {
                started_at: at(invoked),
                duration: Duration::from_millis(ms),
            }),
            invoked_at: at(invoked),
            handed_out_at: Some(at(handed_out)),
            responded_at: Some(at(responded)),
            completed_at: Some(at(completed)),
            deadline: at(invoked + 3000),
            outcome,
            killed_after_response: false,
            invocation_id: None,
            answered_with_invocation_id: None,
        }
    }

    #[test]
    fn each_bucket_counts_what_arrived_and_what_was_up_at_its_end() {
        let error = FunctionError::new("Boom", "no");
        let records = [
            record(
                0,
                [0, 150, 250, 260],
                Some(150),
                Outcome::Response("{}".into()),
            ),
            InvocationRecord::throttled(at(50), error.clone()),
            record(1, [120, 200, 230, 240], Some(80), Outcome::Error(error)),
        ];
        let lifetimes = [
            Lifetime {
                started: at(0),
                reclaimed: None,
            },
            Lifetime {
                started: at(120),
                reclaimed: Some(at(280)),
            },
        ];
        let samples = [Sample {
            at: at(210),
            rss_kib: vec![1024, 2048],
            server_connections: Some(7),
        }];
        let timeline = Timeline::of(&records, &lifetimes, &samples, Duration::from_millis(100));
        let rows: Vec<_> = timeline
            .buckets
            .iter()
            .map(|b| {
                (
                    b.at_ms,
                    [b.arrivals, b.throttles, b.errors, b.in_flight],
                    [b.cold_starting, b.busy, b.idle],
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                // The first environment starting, the throttle.
                (0, [2, 1, 0, 1], [1, 0, 0]),
                // Both busy (the second's init ended as its invocation was handed out).
                (100, [1, 0, 0, 2], [0, 2, 0]),
                // The error ended here; the second environment reclaimed, the first idle.
                (200, [0, 0, 1, 0], [0, 0, 1]),
            ]
        );
        let last = &timeline.buckets[2];
        assert_eq!((last.p50_ms, last.p99_ms), (Some(110.0), Some(250.0)));
        assert_eq!(
            (last.server_connections, last.rss_mib),
            (Some(7), Some(3.0))
        );
        assert_eq!(timeline.peak_environments, 2);
        assert_eq!(timeline.peak_server_connections, Some(7));
        assert_eq!(timeline.rss_per_environment_kib, Some((2048, 2048)));
        let svg = timeline.to_svg("a <spike>", Some(10));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt;spike&gt;") && svg.contains("connection limit 10"));
        assert_eq!(svg.matches("<polyline").count(), 6, "{svg}");
    }

    #[test]
    fn no_records_is_an_empty_timeline() {
        let timeline = Timeline::of(&[], &[], &[], Duration::from_millis(100));
        assert!(timeline.buckets.is_empty());
        assert_eq!(timeline.peak_environments, 0);
    }

    #[test]
    fn resident_memory_is_read_from_proc() {
        let kib = rss_kib(std::process::id()).expect("this process has a VmRSS");
        assert!(kib > 100, "{kib} KiB");
        assert_eq!(rss_kib(u32::MAX), None);
    }
}
