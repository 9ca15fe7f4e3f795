//! The `metrics` crate's recorder: any crate's `counter!`, `gauge!` and `histogram!` go into
//! the current invocation's batch, their labels as dimensions.
//!
//! Why not an existing exporter (`metrics_cloudwatch_embedded`): it keeps one process-wide
//! set of values, so two concurrent invocations of a Managed Instances environment would be
//! flushed as one; it drops histogram values beyond 100 between flushes instead of starting
//! another document; and its Lambda integration flushes inside the service, before the
//! runtime posts the response. Here the batch is per invocation and the flush comes after
//! the response (see `sink.rs`); the EMF itself is a few lines of `serde_json`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use crate::emf::batch::Combine;
use crate::emf::document::{FUNCTION_NAME, MAX_DIMENSIONS, SERVICE};
use crate::emf::sink::record;

/// Which kind of metric a handle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The recorder lambda-thaw installs when metrics are on.
#[derive(Default)]
pub(crate) struct EmfRecorder {
    /// Units given by `describe_*!`, by metric name.
    units: Mutex<HashMap<String, &'static str>>,
    /// One handle per metric and kind: `counter!` registers on every call, and a gauge
    /// must keep its value between them.
    handles: [Mutex<HashMap<Key, Arc<Handle>>>; 3],
}

impl EmfRecorder {
    fn describe(&self, key: KeyName, unit: Option<Unit>) {
        if let Some(unit) = unit {
            lock(&self.units).insert(key.as_str().to_owned(), cloudwatch_unit(unit));
        }
    }

    fn handle(&self, kind: Kind, key: &Key) -> Arc<Handle> {
        let mut handles = lock(&self.handles[kind as usize]);
        if let Some(handle) = handles.get(key) {
            return handle.clone();
        }
        let described = lock(&self.units).get(key.name()).copied();
        let (unit, combine) = match kind {
            Kind::Counter => (described.unwrap_or("Count"), Combine::Sum),
            Kind::Gauge => (described.unwrap_or("None"), Combine::Last),
            Kind::Histogram => (described.unwrap_or("None"), Combine::Each),
        };
        let mut dimensions: Vec<(String, String)> = key
            .labels()
            .filter(|label| label.key() != FUNCTION_NAME && label.key() != SERVICE)
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect();
        dimensions.sort();
        dimensions.dedup_by(|a, b| a.0 == b.0);
        if dimensions.len() > MAX_DIMENSIONS - 2 {
            tracing::warn!(
                metric = key.name(),
                labels = dimensions.len(),
                "CloudWatch takes {} dimensions besides FunctionName and Service: the labels after \
                 that many (by name) are not dimensions of this metric",
                MAX_DIMENSIONS - 2
            );
            dimensions.truncate(MAX_DIMENSIONS - 2);
        }
        let handle = Arc::new(Handle {
            name: key.name().to_owned(),
            dimensions,
            unit,
            combine,
            gauge: AtomicU64::new(0f64.to_bits()),
        });
        handles.insert(key.clone(), handle.clone());
        handle
    }
}

impl Recorder for EmfRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(Kind::Counter, key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(Kind::Gauge, key))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(Kind::Histogram, key))
    }
}

/// One metric with its labels.
struct Handle {
    name: String,
    dimensions: Vec<(String, String)>,
    unit: &'static str,
    combine: Combine,
    /// A gauge's value (as `f64` bits), which `increment` and `decrement` move.
    gauge: AtomicU64,
}

impl Handle {
    fn record(&self, value: f64) {
        record(&self.name, &self.dimensions, self.unit, self.combine, value);
    }

    fn move_gauge(&self, by: f64) {
        let previous = self
            .gauge
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + by).to_bits())
            })
            .unwrap_or_else(|bits| bits);
        self.record(f64::from_bits(previous) + by);
    }
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.record(value as f64);
    }

    /// A counter set to a value adds that value to this invocation's count: EMF has no
    /// absolute counters, and CloudWatch sums what each invocation reports.
    fn absolute(&self, value: u64) {
        self.record(value as f64);
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        self.move_gauge(value);
    }

    fn decrement(&self, value: f64) {
        self.move_gauge(-value);
    }

    fn set(&self, value: f64) {
        self.gauge.store(value.to_bits(), Ordering::Relaxed);
        self.record(value);
    }
}

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        Handle::record(self, value);
    }
}

/// The CloudWatch unit for a `metrics` unit; `None` where CloudWatch has no such unit.
fn cloudwatch_unit(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "Count",
        Unit::Percent => "Percent",
        Unit::Seconds => "Seconds",
        Unit::Milliseconds => "Milliseconds",
        Unit::Microseconds => "Microseconds",
        Unit::Nanoseconds => "None",
        Unit::Tebibytes => "Terabytes",
        Unit::Gibibytes => "Gigabytes",
        Unit::Mebibytes => "Megabytes",
        Unit::Kibibytes => "Kilobytes",
        Unit::Bytes => "Bytes",
        Unit::TerabitsPerSecond => "Terabits/Second",
        Unit::GigabitsPerSecond => "Gigabits/Second",
        Unit::MegabitsPerSecond => "Megabits/Second",
        Unit::KilobitsPerSecond => "Kilobits/Second",
        Unit::BitsPerSecond => "Bits/Second",
        Unit::CountPerSecond => "Count/Second",
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use metrics::{Label, Recorder};

    use super::*;

    #[test]
    fn labels_are_dimensions_sorted_without_the_reserved_ones_and_units_come_from_describe() {
        let recorder = EmfRecorder::default();
        recorder.describe_histogram("latency".into(), Some(Unit::Milliseconds), "".into());
        let key = Key::from_parts(
            "latency",
            vec![
                Label::new("route", "/orders"),
                Label::new("FunctionName", "spoofed"),
                Label::new("method", "POST"),
            ],
        );
        let handle = recorder.handle(Kind::Histogram, &key);
        assert_eq!(handle.unit, "Milliseconds");
        assert_eq!(handle.combine, Combine::Each);
        assert_eq!(
            handle.dimensions,
            [
                ("method".to_owned(), "POST".to_owned()),
                ("route".to_owned(), "/orders".to_owned())
            ]
        );
        let counter = recorder.handle(Kind::Counter, &Key::from_name("orders"));
        assert_eq!((counter.unit, counter.combine), ("Count", Combine::Sum));
        let gauge = recorder.handle(Kind::Gauge, &Key::from_name("queue"));
        assert_eq!((gauge.unit, gauge.combine), ("None", Combine::Last));
    }

    #[test]
    fn one_handle_per_metric_so_a_gauge_keeps_its_value_between_macro_calls() {
        let recorder = EmfRecorder::default();
        let key = Key::from_name("in_flight");
        let first = recorder.handle(Kind::Gauge, &key);
        GaugeFn::increment(&*first, 3.0);
        let again = recorder.handle(Kind::Gauge, &key);
        assert!(Arc::ptr_eq(&first, &again));
        GaugeFn::decrement(&*again, 1.0);
        assert_eq!(f64::from_bits(again.gauge.load(Ordering::Relaxed)), 2.0);
        // Another kind under the same name is another metric.
        let counter = recorder.handle(Kind::Counter, &key);
        assert!(!Arc::ptr_eq(&first, &counter));
    }

    #[test]
    fn a_counter_s_and_a_gauge_s_unit_come_from_describe() {
        let recorder = EmfRecorder::default();
        recorder.describe_counter("sent".into(), Some(Unit::Bytes), "".into());
        recorder.describe_gauge("load".into(), Some(Unit::Percent), "".into());
        assert_eq!(
            recorder.handle(Kind::Counter, &Key::from_name("sent")).unit,
            "Bytes"
        );
        assert_eq!(
            recorder.handle(Kind::Gauge, &Key::from_name("load")).unit,
            "Percent"
        );
    }

    #[test]
    fn one_label_more_than_cloudwatch_takes_is_cut() {
        let recorder = EmfRecorder::default();
        let labels: Vec<Label> = (0..MAX_DIMENSIONS - 1)
            .map(|i| Label::new(format!("l{i:02}"), "v"))
            .collect();
        let handle = recorder.handle(Kind::Counter, &Key::from_parts("wide", labels));
        assert_eq!(handle.dimensions.len(), MAX_DIMENSIONS - 2);
    }

    #[test]
    fn more_labels_than_cloudwatch_takes_are_cut_to_its_limit() {
        let recorder = EmfRecorder::default();
        let labels: Vec<Label> = (0..40)
            .map(|i| Label::new(format!("l{i:02}"), "v"))
            .collect();
        let handle = recorder.handle(Kind::Counter, &Key::from_parts("wide", labels));
        assert_eq!(handle.dimensions.len(), MAX_DIMENSIONS - 2);
        assert_eq!(handle.dimensions[0].0, "l00");
    }
}
