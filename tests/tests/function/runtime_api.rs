//! A Runtime API that fails `GET next` — cargo-lambda answers an idle poll with 408, a
//! Runtime API may answer 500 — never ends the environment: the loop retries with a capped
//! back-off, costs next to no CPU while it waits, and serves the event that waited once the
//! API answers again.

use std::time::{Duration, Instant};

use lambda_thaw_emulator::{Environment, FunctionConfig};

/// CPU time (user + system) the process has used, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("a running process");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a stat line")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // The kernel's USER_HZ is 100 on every Linux that Lambda and this test run on.
    Duration::from_millis(ticks * 10)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_api_failing_for_10_s_costs_no_cpu_and_the_event_is_then_served() {
    let env = Environment::new(
        FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-eager"))
            // As under `cargo lambda watch`: not frozen between invocations, so it polls.
            .freeze(false)
            .timeout(Duration::from_secs(30)),
    );
    let first = env.invoke(r#"{"message":"before"}"#).await;
    let pid = first.outcome.json().expect("a response")["pid"].clone();
    let process = env.pid().await.expect("running");
    let cpu_before = cpu_time(process);
    let started = Instant::now();
    env.fail_polls(408, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    env.fail_polls(500, Duration::from_secs(5)).await;
    // Sent while the API still fails: it waits, and is served once the API recovers.
    let waited = env.invoke(r#"{"message":"after"}"#).await;
    let elapsed = started.elapsed();
    let cpu = cpu_time(process).saturating_sub(cpu_before);
    let failed = env.failed_polls().await;
    println!(
        "{failed} failed polls over {} ms, {} ms of CPU; the waiting event answered {} ms after the failures began",
        elapsed.as_millis(),
        cpu.as_millis(),
        elapsed.as_millis()
    );
    let body = waited
        .outcome
        .json()
        .unwrap_or_else(|| panic!("{:?}", waited.outcome));
    assert_eq!(body["message"], "after");
    assert_eq!(body["pid"], pid, "the process was replaced");
    assert!(waited.cold_start.is_none());
    assert!(elapsed >= Duration::from_secs(10), "{elapsed:?}");
    // It kept asking (it did not give up) without hammering the API: the back-off is capped.
    assert!((10..=200).contains(&failed), "{failed} failed polls");
    // Busy-waiting would cost about 10 s of CPU here; the capped back-off costs a few ms.
    assert!(cpu < Duration::from_secs(1), "{cpu:?} of CPU while waiting");
    // Said once when it began, once when it ended: a flood of 408s is not a flood of logs.
    let logs = env.logs();
    logs.wait_for("the Runtime API answers again", Duration::from_secs(5))
        .await;
    assert_eq!(
        (
            logs.matching("cannot get the next event").len(),
            logs.matching("the Runtime API answers again").len()
        ),
        (1, 1),
        "{}",
        logs.text()
    );
    // "Answers again" is said after the failures, with their count.
    let again = &logs.matching("the Runtime API answers again")[0];
    assert!(!again.text.contains("failures=0"), "{}", again.text);
    env.shutdown().await;
}
