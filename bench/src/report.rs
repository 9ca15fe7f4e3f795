//! Results: what each comparison measured, as rows for the table, the JSON file and the chart.

use serde::Serialize;

/// One comparison: lambda-thaw (or the option under test) against its baseline, both
/// measured in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Which benchmark (1–6 as in the README).
    pub section: &'static str,
    /// What was measured.
    pub what: String,
    /// A few words for the chart.
    pub tag: String,
    /// The measured subject's value.
    pub subject: f64,
    /// The baseline's value.
    pub baseline: f64,
    /// Unit of both values.
    pub unit: &'static str,
    /// Who the subject and the baseline are.
    pub subject_name: String,
    /// The baseline's name.
    pub baseline_name: String,
}

impl Row {
    /// subject / baseline.
    pub fn ratio(&self) -> f64 {
        if self.baseline == 0.0 {
            f64::NAN
        } else {
            self.subject / self.baseline
        }
    }
}

/// A markdown table of every row.
pub fn markdown(rows: &[Row]) -> String {
    let mut out =
        String::from("| # | measure | subject | baseline | ratio |\n|---|---|---|---|---|\n");
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {}: {} {} | {}: {} {} | {:.2} |\n",
            row.section,
            row.what,
            row.subject_name,
            fmt(row.subject),
            row.unit,
            row.baseline_name,
            fmt(row.baseline),
            row.unit,
            row.ratio()
        ));
    }
    out
}

fn fmt(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// Median of `values` (0 when empty).
pub fn median(values: &mut [f64]) -> f64 {
    percentile(values, 0.5)
}

/// Nearest-rank percentile of `values` (0 when empty).
pub fn percentile(values: &mut [f64], quantile: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((quantile * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}
