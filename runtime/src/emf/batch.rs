//! What one invocation recorded: each metric's values, grouped by the dimensions it was
//! recorded with, in a deterministic order (so that documents read the same run to run).

use std::collections::BTreeMap;

/// How repeated values of one metric combine within a flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    /// A counter: one value, the sum of the increments.
    Sum,
    /// A gauge: the last value set.
    Last,
    /// A histogram or a duration: every value (EMF takes up to 100 per metric and document).
    Each,
}

/// Dimensions besides the function name and the service, sorted by name.
pub(crate) type Dimensions = Vec<(String, String)>;

/// One metric's values in a batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// The CloudWatch unit (`Count`, `Milliseconds`, `None`, …).
    pub(crate) unit: &'static str,
    pub(crate) combine: Combine,
    pub(crate) values: Vec<f64>,
}

/// The metrics recorded since the last flush.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Batch {
    groups: BTreeMap<Dimensions, BTreeMap<String, Series>>,
}

impl Batch {
    /// Adds one value. A value that is not a finite number has no JSON form and is left
    /// out (EMF accepts numbers only).
    pub(crate) fn record(
        &mut self,
        name: &str,
        dimensions: &[(String, String)],
        unit: &'static str,
        combine: Combine,
        value: f64,
    ) {
        if !value.is_finite() {
            return;
        }
        let group = match self.groups.get_mut(dimensions) {
            Some(group) => group,
            None => self.groups.entry(dimensions.to_vec()).or_default(),
        };
        let series = match group.get_mut(name) {
            Some(series) => series,
            None => group.entry(name.to_owned()).or_insert(Series {
                unit,
                combine,
                values: Vec::new(),
            }),
        };
        match (series.combine, series.values.first_mut()) {
            (Combine::Sum, Some(sum)) => *sum += value,
            (Combine::Last, Some(last)) => *last = value,
            _ => series.values.push(value),
        }
    }

    /// Moves everything `other` holds into this batch, as if recorded here after what this
    /// batch holds.
    pub(crate) fn absorb(&mut self, other: Batch) {
        for (dimensions, group) in other.groups {
            for (name, series) in group {
                for value in series.values {
                    self.record(&name, &dimensions, series.unit, series.combine, value);
                }
            }
        }
    }

    pub(crate) const fn new() -> Self {
        Self {
            groups: BTreeMap::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Each group of dimensions with its metrics, by name.
    pub(crate) fn groups(&self) -> impl Iterator<Item = (&Dimensions, &BTreeMap<String, Series>)> {
        self.groups.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(batch: &Batch, name: &str) -> Vec<f64> {
        batch
            .groups()
            .flat_map(|(_, group)| group.get(name))
            .flat_map(|series| series.values.clone())
            .collect()
    }

    #[test]
    fn counters_sum_gauges_keep_the_last_value_histograms_keep_each() {
        let mut batch = Batch::default();
        for value in [1.0, 2.0, 3.0] {
            batch.record("orders", &[], "Count", Combine::Sum, value);
            batch.record("queue", &[], "None", Combine::Last, value);
            batch.record("latency", &[], "Milliseconds", Combine::Each, value);
        }
        assert_eq!(values(&batch, "orders"), [6.0]);
        assert_eq!(values(&batch, "queue"), [3.0]);
        assert_eq!(values(&batch, "latency"), [1.0, 2.0, 3.0]);
    }

    #[test]
    fn other_dimensions_are_another_group_and_non_numbers_are_left_out() {
        let mut batch = Batch::default();
        let by_type = vec![("ErrorType".to_owned(), "Timeout".to_owned())];
        batch.record("Errors", &by_type, "Count", Combine::Sum, 1.0);
        batch.record("Errors", &[], "Count", Combine::Sum, 1.0);
        batch.record("Errors", &[], "Count", Combine::Sum, f64::NAN);
        assert_eq!(batch.groups().count(), 2);
        assert_eq!(values(&batch, "Errors"), [1.0, 1.0]);
    }

    #[test]
    fn absorbing_a_batch_combines_as_recording_would() {
        let mut first = Batch::default();
        first.record("orders", &[], "Count", Combine::Sum, 2.0);
        first.record("latency", &[], "Milliseconds", Combine::Each, 5.0);
        let mut second = Batch::default();
        second.record("orders", &[], "Count", Combine::Sum, 3.0);
        second.record("latency", &[], "Milliseconds", Combine::Each, 7.0);
        first.absorb(second);
        assert_eq!(values(&first, "orders"), [5.0]);
        assert_eq!(values(&first, "latency"), [5.0, 7.0]);
        assert!(!first.is_empty());
        assert!(Batch::default().is_empty());
    }
}
