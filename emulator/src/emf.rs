//! CloudWatch Embedded Metric Format, read back from what the function printed: each
//! document checked against the specification, and the metrics gathered over a run as
//! CloudWatch would show them (per metric and dimension values: count, sum, p50, p99).
//!
//! The rules are the specification's (CloudWatch "Embedded metric format specification"):
//! a root object with `_aws`; `_aws.Timestamp`, a non-negative integer of milliseconds;
//! `_aws.CloudWatchMetrics`, an array of directives, each with a `Namespace` of 1 to 255
//! characters, `Dimensions` (an array of dimension sets, each at most 30 names, each name a
//! root member holding a string) and `Metrics` (at most 100 definitions, each a `Name` of 1
//! to 255 characters referring to a root member that holds a number or an array of at most
//! 100 numbers, an optional `Unit` from CloudWatch's list, an optional `StorageResolution`
//! of 1 or 60).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::environment::Environment;
use crate::logs::LogLine;

/// The units CloudWatch accepts.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// The JSON document on `line`, if the line is an EMF document (a JSON object with `_aws`).
pub fn document(line: &str) -> Option<Value> {
    let line = line.trim();
    if !line.starts_with('{') || !line.contains("\"_aws\"") {
        return None;
    }
    let value: Value = serde_json::from_str(line).ok()?;
    value.get("_aws").is_some().then_some(value)
}

/// What in `document` breaks the specification; empty when it is valid.
pub fn problems(document: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(root) = document.as_object() else {
        return vec!["the document is not a JSON object".into()];
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return vec!["`_aws` is missing or not an object".into()];
    };
    if !aws.get("Timestamp").is_some_and(Value::is_u64) {
        problems.push("`_aws.Timestamp` is missing or not a non-negative integer".into());
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        problems.push("`_aws.CloudWatchMetrics` is missing or not an array".into());
        return problems;
    };
    for (d, directive) in directives.iter().enumerate() {
        let at = format!("CloudWatchMetrics[{d}]");
        match directive.get("Namespace").and_then(Value::as_str) {
            Some(namespace) if (1..=255).contains(&namespace.chars().count()) => {}
            _ => problems.push(format!(
                "{at}: `Namespace` must be a string of 1 to 255 characters"
            )),
        }
        match directive.get("Dimensions").and_then(Value::as_array) {
            None => problems.push(format!("{at}: `Dimensions` is missing or not an array")),
            Some(sets) => {
                for set in sets {
                    let Some(names) = set.as_array() else {
                        problems.push(format!("{at}: a dimension set is not an array"));
                        continue;
                    };
                    if names.len() > 30 {
                        problems.push(format!(
                            "{at}: a dimension set has {} names (at most 30)",
                            names.len()
                        ));
                    }
                    for name in names {
                        match name.as_str() {
                            Some(name) if root.get(name).is_some_and(Value::is_string) => {}
                            Some(name) => problems.push(format!(
                                "{at}: dimension `{name}` has no string value at the root"
                            )),
                            None => {
                                problems.push(format!("{at}: a dimension name is not a string"))
                            }
                        }
                    }
                }
            }
        }
        let Some(metrics) = directive.get("Metrics").and_then(Value::as_array) else {
            problems.push(format!("{at}: `Metrics` is missing or not an array"));
            continue;
        };
        if metrics.len() > 100 {
            problems.push(format!(
                "{at}: {} metrics (at most 100 per document)",
                metrics.len()
            ));
        }
        for metric in metrics {
            let Some(name) = metric.get("Name").and_then(Value::as_str) else {
                problems.push(format!("{at}: a metric has no `Name`"));
                continue;
            };
            if !(1..=255).contains(&name.chars().count()) {
                problems.push(format!(
                    "{at}: metric name `{name}` is not 1 to 255 characters"
                ));
            }
            if let Some(unit) = metric.get("Unit")
                && !unit.as_str().is_some_and(|unit| UNITS.contains(&unit))
            {
                problems.push(format!(
                    "{at}: metric `{name}` has unit {unit}, not one of CloudWatch's"
                ));
            }
            if let Some(resolution) = metric.get("StorageResolution")
                && !matches!(resolution.as_u64(), Some(1 | 60))
            {
                problems.push(format!(
                    "{at}: metric `{name}` has StorageResolution {resolution} (1 or 60)"
                ));
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values)) if values.iter().all(Value::is_number) => {
                    if values.len() > 100 {
                        problems.push(format!(
                            "{at}: metric `{name}` has {} values (at most 100)",
                            values.len()
                        ));
                    }
                }
                _ => problems.push(format!(
                    "{at}: metric `{name}` has no number or array of numbers at the root"
                )),
            }
        }
    }
    problems
}

/// One metric as CloudWatch keys it: namespace, name and the values of its dimensions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MetricKey {
    /// The namespace.
    pub namespace: String,
    /// The metric's name.
    pub name: String,
    /// Its dimensions besides `FunctionName` and `Service`, as `Name=value`.
    pub dimensions: Vec<String>,
}

/// The EMF documents of a run and the metrics they carry.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    /// Documents read.
    pub documents: usize,
    /// Each invalid document's problems, with the line.
    pub invalid: Vec<(String, Vec<String>)>,
    /// Every value of every metric, in the order printed.
    pub values: BTreeMap<MetricKey, Vec<f64>>,
}

impl Metrics {
    /// Reads the EMF documents among `lines`.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a LogLine>) -> Self {
        let mut metrics = Metrics::default();
        for line in lines {
            if let Some(document) = document(&line.text) {
                metrics.add(&line.text, &document);
            }
        }
        metrics
    }

    /// Reads the EMF documents every environment in `environments` printed so far.
    pub fn of<'a>(environments: impl IntoIterator<Item = &'a Environment>) -> Self {
        let lines: Vec<LogLine> = environments
            .into_iter()
            .flat_map(|environment| environment.logs().lines())
            .collect();
        Self::from_lines(&lines)
    }

    /// Waits until the metrics the environments printed satisfy `ready`, at most
    /// `timeout`; returns them as they are then. A function's output is read
    /// asynchronously: an invocation's documents may arrive after its record.
    pub async fn when(
        environments: &[&Environment],
        ready: impl Fn(&Metrics) -> bool,
        timeout: Duration,
    ) -> Self {
        let started = tokio::time::Instant::now();
        loop {
            let metrics = Self::of(environments.iter().copied());
            if ready(&metrics) || started.elapsed() >= timeout {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn add(&mut self, line: &str, document: &Value) {
        self.documents += 1;
        let problems = problems(document);
        if !problems.is_empty() {
            self.invalid.push((line.to_owned(), problems));
            return;
        }
        let directives = document["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten();
        for directive in directives {
            let namespace = directive["Namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mut dimensions: Vec<String> = directive["Dimensions"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|set| set.as_array().into_iter().flatten())
                .filter_map(Value::as_str)
                .filter(|name| !matches!(*name, "FunctionName" | "Service"))
                .map(|name| format!("{name}={}", document[name].as_str().unwrap_or_default()))
                .collect();
            dimensions.sort();
            dimensions.dedup();
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let name = metric["Name"].as_str().unwrap_or_default().to_owned();
                let key = MetricKey {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    dimensions: dimensions.clone(),
                };
                let values = self.values.entry(key).or_default();
                match &document[&name] {
                    Value::Array(many) => values.extend(many.iter().filter_map(Value::as_f64)),
                    one => values.extend(one.as_f64()),
                }
            }
        }
    }

    /// The values of the metric `name` summed over every namespace and dimension value.
    pub fn sum(&self, name: &str) -> f64 {
        self.values
            .iter()
            .filter(|(key, _)| key.name == name)
            .flat_map(|(_, values)| values)
            .sum()
    }

    /// How many values of `name` were reported, over every namespace and dimension value.
    pub fn count(&self, name: &str) -> usize {
        self.values
            .iter()
            .filter(|(key, _)| key.name == name)
            .map(|(_, values)| values.len())
            .sum()
    }

    /// Per metric: its values' count, sum, p50 and p99 — the `--metrics` view.
    pub fn rows(&self) -> Vec<Row> {
        self.values
            .iter()
            .map(|(key, values)| {
                let mut sorted = values.clone();
                sorted.sort_by(f64::total_cmp);
                Row {
                    key: key.clone(),
                    count: values.len(),
                    sum: values.iter().sum(),
                    p50: nearest_rank(&sorted, 0.50),
                    p99: nearest_rank(&sorted, 0.99),
                }
            })
            .collect()
    }

    /// The `--metrics` view as a table, then each invalid document with its problems.
    pub fn table(&self) -> String {
        let mut text = format!(
            "EMF: {} document(s), {} invalid\n{:<52} {:>7} {:>12} {:>10} {:>10}\n",
            self.documents,
            self.invalid.len(),
            "metric",
            "count",
            "sum",
            "p50",
            "p99"
        );
        for row in self.rows() {
            let mut shown = row.key.name.clone();
            if !row.key.dimensions.is_empty() {
                shown = format!("{shown} {{{}}}", row.key.dimensions.join(", "));
            }
            let _ = writeln!(
                text,
                "{shown:<52} {:>7} {:>12.3} {:>10.3} {:>10.3}",
                row.count, row.sum, row.p50, row.p99,
            );
        }
        for (line, problems) in &self.invalid {
            let _ = writeln!(text, "invalid: {} — {line}", problems.join("; "));
        }
        text
    }

    /// The `--metrics` view as JSON.
    pub fn to_json(&self) -> Value {
        let invalid: Vec<Value> = self
            .invalid
            .iter()
            .map(|(line, problems)| serde_json::json!({ "line": line, "problems": problems }))
            .collect();
        serde_json::json!({
            "documents": self.documents,
            "invalid": invalid,
            "metrics": self.rows(),
        })
    }
}

/// One metric over a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Which metric.
    #[serde(flatten)]
    pub key: MetricKey,
    /// Values reported.
    pub count: usize,
    /// Their sum.
    pub sum: f64,
    /// Their median (nearest rank).
    pub p50: f64,
    /// Their 99th percentile (nearest rank).
    pub p99: f64,
}

/// The nearest-rank quantile of sorted values; 0 for none.
fn nearest_rank(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "_aws": {
                "Timestamp": 1_700_000_000_000u64,
                "CloudWatchMetrics": [{
                    "Namespace": "Shop",
                    "Dimensions": [["FunctionName", "Service"]],
                    "Metrics": [{"Name": "Orders", "Unit": "Count"}, {"Name": "Latency", "Unit": "Milliseconds"}]
                }]
            },
            "FunctionName": "orders",
            "Service": "orders",
            "Orders": 2,
            "Latency": [1.5, 2.5]
        })
    }

    #[test]
    fn a_valid_document_has_no_problems_and_each_broken_rule_is_named() {
        assert!(problems(&valid()).is_empty(), "{:?}", problems(&valid()));
        let broken = |edit: fn(&mut Value)| {
            let mut document = valid();
            edit(&mut document);
            problems(&document).join("; ")
        };
        assert!(broken(|d| d["_aws"]["Timestamp"] = json!("now")).contains("Timestamp"));
        assert!(
            broken(|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!(""))
                .contains("Namespace")
        );
        assert!(broken(|d| d["Service"] = json!(1)).contains("dimension `Service`"));
        assert!(broken(|d| d["Orders"] = json!("two")).contains("metric `Orders`"));
        assert!(
            broken(|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Apples"))
                .contains("unit")
        );
        assert!(broken(|d| d["Latency"] = json!(vec![1.0; 101])).contains("101 values"));
        assert!(
            broken(|d| {
                let many: Vec<Value> = (0..101).map(|i| json!({"Name": format!("m{i}")})).collect();
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"] = json!(many);
            })
            .contains("101 metrics")
        );
        assert!(
            broken(|d| {
                let names: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([names]);
            })
            .contains("31 names")
        );
    }

    #[test]
    fn metrics_are_gathered_per_name_and_dimension_values() {
        let line = |document: Value| LogLine {
            at: std::time::SystemTime::now(),
            generation: 1,
            stream: crate::logs::Stream::Stdout,
            text: document.to_string(),
        };
        let mut by_type = valid();
        by_type["_aws"]["CloudWatchMetrics"][0]["Dimensions"] =
            json!([["FunctionName", "Service", "ErrorType"]]);
        by_type["ErrorType"] = json!("Timeout");
        let lines = [
            line(valid()),
            line(valid()),
            line(by_type),
            LogLine {
                text: "plain log line".into(),
                ..line(valid())
            },
        ];
        let metrics = Metrics::from_lines(&lines);
        assert_eq!(metrics.documents, 3);
        assert!(metrics.invalid.is_empty());
        assert_eq!(metrics.sum("Orders"), 6.0);
        assert_eq!(metrics.count("Latency"), 6);
        assert_eq!(
            metrics.values.len(),
            4,
            "Orders and Latency, each with and without ErrorType"
        );
        assert!(metrics.table().contains("Orders {ErrorType=Timeout}"));
    }
}
