//! A batch as CloudWatch Embedded Metric Format documents: one JSON object per line of
//! stdout, which CloudWatch Logs turns into metrics with no API call.
//!
//! The limits are the specification's: at most [`MAX_METRICS`] metrics per document, at most
//! [`MAX_VALUES`] values per metric, at most [`MAX_DIMENSIONS`] dimensions per set. A batch
//! beyond them is split into more documents, never cut.

use std::fmt::Write as _;

use crate::emf::batch::{Batch, Series};

/// Metrics one document may define.
pub(crate) const MAX_METRICS: usize = 100;
/// Values one metric may carry in one document.
pub(crate) const MAX_VALUES: usize = 100;
/// Dimensions one dimension set may name.
pub(crate) const MAX_DIMENSIONS: usize = 30;

/// The dimensions every document carries.
pub(crate) const FUNCTION_NAME: &str = "FunctionName";
pub(crate) const SERVICE: &str = "Service";

/// Who the metrics belong to: the namespace and the two dimensions every metric has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) namespace: String,
    pub(crate) function_name: String,
    pub(crate) service: String,
}

/// The documents for `batch`, and the names of the metrics left out because their name is
/// already a dimension's (a document cannot hold both under one key).
pub(crate) fn documents(
    batch: &Batch,
    identity: &Identity,
    timestamp_ms: u64,
) -> (Vec<String>, Vec<String>) {
    let mut documents = Vec::new();
    let mut left_out = Vec::new();
    for (dimensions, metrics) in batch.groups() {
        let is_dimension = |name: &str| {
            name == FUNCTION_NAME
                || name == SERVICE
                || name == "_aws"
                || dimensions.iter().any(|(key, _)| key == name)
        };
        // Part k of each metric: its values k*100 .. (k+1)*100.
        let mut parts: Vec<Vec<(&str, &Series, &[f64])>> = Vec::new();
        for (name, series) in metrics {
            if is_dimension(name) {
                left_out.push(name.clone());
                continue;
            }
            for (k, chunk) in series.values.chunks(MAX_VALUES).enumerate() {
                if parts.len() <= k {
                    parts.push(Vec::new());
                }
                parts[k].push((name, series, chunk));
            }
        }
        for part in &parts {
            for metrics in part.chunks(MAX_METRICS) {
                documents.push(document(identity, dimensions, metrics, timestamp_ms));
            }
        }
    }
    (documents, left_out)
}

/// One document, written out directly: the shape is fixed, and building a
/// `serde_json::Value` first cost more than the rest of the flush together.
fn document(
    identity: &Identity,
    dimensions: &[(String, String)],
    metrics: &[(&str, &Series, &[f64])],
    timestamp_ms: u64,
) -> String {
    let dimensions = &dimensions[..dimensions.len().min(MAX_DIMENSIONS - 2)];
    let mut out = String::with_capacity(256 + 48 * metrics.len());
    let _ = write!(
        out,
        r#"{{"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":[{{"Namespace":"#
    );
    string(&mut out, &identity.namespace);
    out.push_str(r#","Dimensions":[["#);
    string(&mut out, FUNCTION_NAME);
    out.push(',');
    string(&mut out, SERVICE);
    for (key, _) in dimensions {
        out.push(',');
        string(&mut out, key);
    }
    out.push_str(r#"]],"Metrics":["#);
    for (i, (name, series, _)) in metrics.iter().enumerate() {
        out.push_str(if i == 0 {
            r#"{"Name":"#
        } else {
            r#",{"Name":"#
        });
        string(&mut out, name);
        out.push_str(r#","Unit":"#);
        string(&mut out, series.unit);
        out.push('}');
    }
    out.push_str("]}]}");
    let identities = [
        (FUNCTION_NAME, identity.function_name.as_str()),
        (SERVICE, identity.service.as_str()),
    ];
    let others = dimensions.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    for (key, value) in identities.into_iter().chain(others) {
        out.push(',');
        string(&mut out, key);
        out.push(':');
        string(&mut out, value);
    }
    for (name, _, values) in metrics {
        out.push(',');
        string(&mut out, name);
        out.push(':');
        match values {
            [one] => number(&mut out, *one),
            many => {
                out.push('[');
                for (i, value) in many.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    number(&mut out, *value);
                }
                out.push(']');
            }
        }
    }
    out.push('}');
    out
}

/// `text` as a JSON string.
fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A finite number as JSON (`Display` never writes an exponent, which JSON would allow,
/// nor `NaN`, which the batch never holds).
fn number(out: &mut String, value: f64) {
    let _ = write!(out, "{value}");
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::emf::batch::Combine;

    fn identity() -> Identity {
        Identity {
            namespace: "Shop".into(),
            function_name: "orders".into(),
            service: "checkout".into(),
        }
    }

    fn parse(document: &str) -> Value {
        serde_json::from_str(document).unwrap()
    }

    #[test]
    fn a_document_names_its_namespace_dimensions_and_metrics_with_their_values() {
        let mut batch = Batch::default();
        batch.record("ColdStart", &[], "Count", Combine::Sum, 1.0);
        batch.record(
            "InvocationDuration",
            &[],
            "Milliseconds",
            Combine::Each,
            4.5,
        );
        batch.record(
            "InvocationDuration",
            &[],
            "Milliseconds",
            Combine::Each,
            5.5,
        );
        let (documents, left_out) = documents(&batch, &identity(), 1_700_000_000_000);
        assert!(left_out.is_empty());
        let [document] = &documents[..] else {
            panic!("{documents:?}")
        };
        let document = parse(document);
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(document["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(directive["Namespace"], "Shop");
        assert_eq!(
            directive["Dimensions"],
            json!([["FunctionName", "Service"]])
        );
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "ColdStart", "Unit": "Count"},
                {"Name": "InvocationDuration", "Unit": "Milliseconds"}
            ])
        );
        assert_eq!(document["FunctionName"], "orders");
        assert_eq!(document["Service"], "checkout");
        assert_eq!(document["ColdStart"], 1.0);
        assert_eq!(document["InvocationDuration"], json!([4.5, 5.5]));
    }

    /// A dimension value with control characters, quotes and backslashes is still one JSON
    /// string with the same text; a space stays a space.
    #[test]
    fn text_is_escaped_as_json_wants_it() {
        let mut out = String::new();
        string(&mut out, "a \"b\"\\ \u{1f}\n\u{7f}é");
        assert_eq!(
            out,
            r#""a \"b\"\\ \u001f\u000a\u{7f}é""#.replace("\\u{7f}", "\u{7f}")
        );
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a \"b\"\\ \u{1f}\n\u{7f}é");
    }

    /// A document carries at most CloudWatch's 30 dimensions: FunctionName, Service and 28
    /// of the metric's own.
    #[test]
    fn a_document_keeps_to_cloudwatch_s_dimensions() {
        let dimensions: Vec<(String, String)> = (0..29)
            .map(|i| (format!("d{i:02}"), "v".to_owned()))
            .collect();
        let mut batch = Batch::default();
        batch.record("wide", &dimensions, "Count", Combine::Sum, 1.0);
        let (documents, _) = documents(&batch, &identity(), 1);
        let document = parse(&documents[0]);
        let names = document["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(names, MAX_DIMENSIONS);
        assert!(document.get("d27").is_some() && document.get("d28").is_none());
    }

    #[test]
    fn more_than_a_hundred_metrics_or_values_make_more_documents_and_lose_nothing() {
        let mut batch = Batch::default();
        for i in 0..150 {
            batch.record(&format!("m{i:03}"), &[], "Count", Combine::Sum, i as f64);
        }
        for i in 0..250 {
            batch.record("latency", &[], "Milliseconds", Combine::Each, i as f64);
        }
        let (documents, _) = documents(&batch, &identity(), 1);
        let documents: Vec<Value> = documents.iter().map(|d| parse(d)).collect();
        // 151 metrics' first parts (100 + 51), then latency's second and third hundred.
        assert_eq!(documents.len(), 4);
        let mut seen = Vec::new();
        for document in &documents {
            let definitions = document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap();
            assert!(definitions.len() <= MAX_METRICS);
            for definition in definitions {
                let name = definition["Name"].as_str().unwrap();
                match &document[name] {
                    Value::Array(values) => {
                        assert!(values.len() <= MAX_VALUES);
                        seen.extend(
                            values
                                .iter()
                                .map(|v| (name.to_owned(), v.as_f64().unwrap())),
                        );
                    }
                    value => seen.push((name.to_owned(), value.as_f64().unwrap())),
                }
            }
        }
        assert_eq!(seen.len(), 150 + 250, "every value exactly once");
        let latency: Vec<f64> = seen
            .iter()
            .filter(|(name, _)| name == "latency")
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(latency, (0..250).map(f64::from).collect::<Vec<_>>());
    }

    #[test]
    fn a_dimension_set_is_its_own_document_and_a_metric_named_like_a_dimension_is_left_out() {
        let mut batch = Batch::default();
        let by_type = vec![(
            "ErrorType".to_owned(),
            "lambda_thaw::HandlerPanic".to_owned(),
        )];
        batch.record("Errors", &by_type, "Count", Combine::Sum, 1.0);
        batch.record("ErrorType", &by_type, "Count", Combine::Sum, 1.0);
        batch.record("Service", &[], "Count", Combine::Sum, 1.0);
        let (documents, left_out) = documents(&batch, &identity(), 1);
        assert_eq!(left_out, ["Service", "ErrorType"]);
        let [document] = &documents[..] else {
            panic!("{documents:?}")
        };
        let document = parse(document);
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName", "Service", "ErrorType"]])
        );
        assert_eq!(document["ErrorType"], "lambda_thaw::HandlerPanic");
        assert_eq!(document["Errors"], 1.0);
    }

    #[test]
    fn strings_are_escaped_and_numbers_read_back_as_written() {
        let mut batch = Batch::default();
        let label = vec![("route".to_owned(), "say \"hi\"\\\n\u{1}é".to_owned())];
        for value in [1e21, -0.5, 3.0, 0.1 + 0.2] {
            batch.record("odd \"name\"", &label, "None", Combine::Each, value);
        }
        let (documents, _) = documents(&batch, &identity(), 7);
        let document = parse(&documents[0]);
        assert_eq!(document["route"], "say \"hi\"\\\n\u{1}é");
        let values: Vec<f64> = document["odd \"name\""]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(values, [1e21, -0.5, 3.0, 0.1 + 0.2], "{}", documents[0]);
    }
}
