//! The `lambda-thaw-emulator` command, run in-process on the hand-written fixture.

use std::io::Write;

fn run(args: &[&str]) -> (Result<std::process::ExitCode, String>, String) {
    let argv = std::iter::once("lambda-thaw-emulator".to_string())
        .chain(args.iter().map(|a| a.to_string()));
    let mut out = Vec::new();
    let result = lambda_thaw_emulator::cli::main(argv, &mut out);
    (result, String::from_utf8(out).unwrap())
}

const FIXTURE: &str = env!("CARGO_BIN_EXE_handwritten");

#[test]
fn a_hundred_events_print_a_table_and_a_summary() {
    let (result, out) = run(&[
        FIXTURE,
        "--event",
        r#"{"message":"hi"}"#,
        "--count",
        "100",
        "--field",
        "message",
    ]);
    assert_eq!(result.unwrap(), std::process::ExitCode::SUCCESS, "{out}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("ok message=hi"))
        .collect();
    assert_eq!(rows.len(), 100, "{out}");
    assert_eq!(
        rows.iter().filter(|r| r.contains(" cold ")).count(),
        1,
        "{out}"
    );
    assert!(
        out.contains("invocations: 100   errors: 0   cold starts: 1"),
        "{out}"
    );
    assert!(out.contains("response latency p50:"), "{out}");
}

#[test]
fn json_output_is_one_document() {
    let (result, out) = run(&[
        FIXTURE,
        "--event",
        r#"{"message":"x"}"#,
        "--count",
        "3",
        "--json",
    ]);
    result.unwrap();
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(document["records"].as_array().unwrap().len(), 3);
    assert_eq!(document["summary"]["invocations"], 3);
    assert_eq!(document["records"][0]["response"]["message"], "x");
}

#[test]
fn errors_make_the_exit_code_nonzero() {
    let (result, out) = run(&[FIXTURE, "--event", r#"{"fail":"no"}"#]);
    assert_ne!(result.unwrap(), std::process::ExitCode::SUCCESS);
    assert!(out.contains("errors: 1"), "{out}");
}

#[test]
fn a_missing_binary_is_named() {
    let (result, _) = run(&["/no/such/bootstrap"]);
    let error = result.unwrap_err();
    assert!(
        error.contains("`/no/such/bootstrap` does not exist"),
        "{error}"
    );
}

#[test]
fn a_broken_event_line_is_named_with_its_number() {
    let mut file = std::env::temp_dir();
    file.push(format!("lambda-thaw-events-{}.jsonl", std::process::id()));
    let mut handle = std::fs::File::create(&file).unwrap();
    writeln!(
        handle,
        "{{\"message\":\"one\"}}\n{{\"message\":\"two\"}}\n{{\"message\": oops}}"
    )
    .unwrap();
    let (result, _) = run(&[FIXTURE, "--events", file.to_str().unwrap()]);
    let error = result.unwrap_err();
    assert!(
        error.contains(&format!("{}:3: not a JSON event", file.display())),
        "{error}"
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_malformed_env_flag_is_explained() {
    let (result, _) = run(&[FIXTURE, "--env", "NO_EQUALS"]);
    assert!(result.unwrap_err().contains("expected KEY=VALUE"));
}

/// `--metrics`: the function's EMF documents, checked and summed over the run, in the JSON
/// document and as a table.
#[test]
fn metrics_are_read_back_from_the_function_s_output() {
    let fixture = env!("CARGO_BIN_EXE_thaw-metrics");
    let event = r#"{"count":2}"#;
    let args = [
        fixture,
        "--event",
        event,
        "--count",
        "6",
        "--environments",
        "2",
        "--metrics",
    ];
    let (result, out) = run(&[&args[..], &["--json"]].concat());
    assert_eq!(result.unwrap(), std::process::ExitCode::SUCCESS, "{out}");
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    let metrics = &document["metrics"];
    assert_eq!(metrics["invalid"].as_array().unwrap().len(), 0, "{out}");
    let row = |name: &str| {
        metrics["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .clone()
    };
    assert_eq!(row("orders")["sum"], 12.0);
    assert_eq!(row("orders")["count"], 6);
    assert_eq!(row("ColdStart")["sum"], 2.0);
    assert_eq!(row("InvocationDuration")["count"], 6);

    let (result, out) = run(&args);
    assert_eq!(result.unwrap(), std::process::ExitCode::SUCCESS, "{out}");
    assert!(out.contains("EMF: "), "{out}");
    assert!(out.contains("0 invalid"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("orders ") && l.contains("12.000")),
        "{out}"
    );
}

#[test]
fn open_loop_arrivals_scale_out_and_throttle_beyond_the_reserved_concurrency() {
    let scratch = std::env::temp_dir();
    let timeline = scratch.join(format!("timeline-{}.json", std::process::id()));
    let chart = scratch.join(format!("timeline-{}.svg", std::process::id()));
    let (result, out) = run(&[
        FIXTURE,
        "--event",
        r#"{"sleep_ms":1000}"#,
        "--count",
        "20",
        "--rate",
        "1000",
        "--reserved-concurrency",
        "5",
        "--json",
        "--timeline",
        timeline.to_str().unwrap(),
        "--chart",
        chart.to_str().unwrap(),
        "--connections-command",
        "echo 42",
        "--connection-limit",
        "40",
    ]);
    assert_eq!(
        result.unwrap(),
        std::process::ExitCode::from(1),
        "throttles are failures"
    );
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(document["summary"]["throttles"], 15, "{out}");
    assert_eq!(document["summary"]["cold_starts"], 5, "{out}");
    assert_eq!(document["scaling"]["environments_started"], 5, "{out}");
    assert_eq!(document["records"][19]["outcome"], "throttled");
    let written = std::fs::read_to_string(&timeline).unwrap();
    let _ = std::fs::remove_file(&timeline);
    let timeline: serde_json::Value = serde_json::from_str(&written).unwrap();
    let throttles: u64 = timeline["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["throttles"].as_u64().unwrap())
        .sum();
    assert_eq!(throttles, 15);
    assert_eq!(timeline["peak_environments"], 5);
    // The probe's count, once per interval.
    assert_eq!(timeline["peak_server_connections"], 42);
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.contains("connection limit 40"), "{svg}");
    let _ = std::fs::remove_file(&chart);
    assert_eq!(
        document["records"][19]["error"]["error_type"],
        "TooManyRequestsException"
    );
}

#[test]
fn open_loop_flags_are_checked_and_named() {
    let cases: [(&[&str], &str); 4] = [
        (&["--rate", "10", "--environments", "3"], "--environments"),
        (&["--ramp", "10"], "--ramp `10`: expected FROM:TO"),
        (
            &["--rate", "0"],
            "--rate 0: expected a number of arrivals per second",
        ),
        (&["--reserved-concurrency", "5"], "--rate"),
    ];
    for (flags, said) in cases {
        let mut args = vec![FIXTURE];
        args.extend_from_slice(flags);
        let (result, out) = run(&args);
        let error = result.expect_err(&out);
        assert!(error.contains(said), "{flags:?}: {error}");
    }
    let times = std::env::temp_dir().join(format!("arrivals-{}.txt", std::process::id()));
    std::fs::write(&times, "0\n10\n").unwrap();
    let (result, _) = run(&[
        FIXTURE,
        "--count",
        "3",
        "--arrivals",
        times.to_str().unwrap(),
    ]);
    let error = result.unwrap_err();
    let _ = std::fs::remove_file(&times);
    assert!(
        error.contains("has 2 arrival time(s) for 3 event(s)"),
        "{error}"
    );
}

#[test]
fn deliver_async_reports_lost_answers_retried_and_writes_the_dead_letters() {
    let dir = std::env::temp_dir().join(format!("lt-cli-deliver-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("events.jsonl");
    let dead = dir.join("dead.jsonl");
    let mut file = std::fs::File::create(&events).unwrap();
    for i in 0..40 {
        writeln!(file, r#"{{"message":"m-{i}"}}"#).unwrap();
    }
    writeln!(file, r#"{{"fail":"always"}}"#).unwrap();
    drop(file);
    let (result, out) = run(&[
        FIXTURE,
        "--events",
        events.to_str().unwrap(),
        "--environments",
        "2",
        "--deliver",
        "async",
        "--lost-answers",
        "0.2",
        "--duplicates",
        "0.1",
        "--retry-scale",
        "0.0001",
        "--dead-letters",
        dead.to_str().unwrap(),
        "--json",
    ]);
    // The failing event is dead-lettered: exit code 1.
    assert_eq!(result.unwrap(), std::process::ExitCode::from(1), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["events"], 41, "{out}");
    assert!(report["answers_lost"].as_u64().unwrap() > 0, "{out}");
    assert!(report["retries"].as_u64().unwrap() >= 2, "{out}");
    let dead_events = std::fs::read_to_string(&dead).unwrap();
    assert!(
        dead_events.lines().any(|l| l == r#"{"fail":"always"}"#),
        "{dead_events}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deliver_sqs_polls_batches_and_dead_letters_what_always_fails() {
    // The hand-written function cannot read an SQS batch: every batch fails whole, comes
    // back after the visibility timeout, and each message is dead-lettered at its third
    // receive.
    let (result, out) = run(&[
        FIXTURE,
        "--event",
        r#"{"message":"hi"}"#,
        "--count",
        "12",
        "--deliver",
        "sqs",
        "--batch-size",
        "5",
        "--visibility-timeout-ms",
        "20",
        "--max-receives",
        "3",
    ]);
    assert_eq!(result.unwrap(), std::process::ExitCode::from(1), "{out}");
    assert!(out.contains("messages: 12"), "{out}");
    assert!(out.contains("receives: 36"), "three receives each: {out}");
    assert!(out.contains("dead letters: 12"), "{out}");
}

#[test]
fn deliver_refuses_a_rate_outside_zero_to_one() {
    let (result, _) = run(&[FIXTURE, "--deliver", "async", "--lost-answers", "1.5"]);
    let error = result.unwrap_err();
    assert!(error.contains("--lost-answers 1.5"), "{error}");
}

/// `--deliver` with `--metrics`: the EMF documents of every delivery, duplicates and
/// retries included, read back after the delivery's report.
#[test]
fn deliver_reads_the_metrics_of_every_delivery() {
    let fixture = env!("CARGO_BIN_EXE_thaw-metrics");
    let (result, out) = run(&[
        fixture,
        "--event",
        r#"{"count":1}"#,
        "--count",
        "20",
        "--deliver",
        "async",
        "--duplicates",
        "0.5",
        "--seed",
        "7",
        "--metrics",
        "--json",
    ]);
    assert_eq!(result.unwrap(), std::process::ExitCode::SUCCESS, "{out}");
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    let deliveries = document["deliveries"].as_u64().unwrap();
    assert!(deliveries > 20, "some delivered twice: {out}");
    let metrics = &document["metrics"];
    assert_eq!(metrics["invalid"].as_array().unwrap().len(), 0, "{out}");
    let orders = metrics["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == "orders")
        .unwrap_or_else(|| panic!("no orders metric in {out}"));
    assert_eq!(
        orders["count"].as_u64(),
        Some(deliveries),
        "one per delivery: {out}"
    );
}
