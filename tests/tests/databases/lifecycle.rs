//! Surviving Lambda's real lifecycle on real PostgreSQL and MariaDB servers: connections
//! killed while the environment is frozen, deadlines inside transactions, shutdown of a
//! fleet, and secrets in init errors. The fixture is `src/bin/thaw_db.rs`.

use std::time::Duration;

use lambda_thaw_emulator::{Environment, Fleet, FunctionConfig, InvocationRecord, Outcome};
use lambda_thaw_tests::db::{MariaScratch, PgScratch, Scratch, admin_url};
use lambda_thaw_tests::round_trips::RoundTripCounter;

/// Rows of the fixture's table with `key`, read by the test (not the function).
pub(crate) async fn rows_with_key(scratch: &mut Scratch, key: &str) -> i64 {
    match scratch {
        Scratch::Postgres(s) => {
            let url = s.url.clone();
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM lt_items WHERE item_key = $1")
                .bind(key)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            n
        }
        Scratch::MariaDb(s) => {
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {}.lt_items WHERE item_key = ?",
                s.name
            )))
            .bind(key)
            .fetch_one(&mut s.admin)
            .await
            .unwrap();
            n
        }
    }
}

pub(crate) fn thaw_db(url: &str) -> FunctionConfig {
    FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-db"))
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
}

pub(crate) fn session(record: &InvocationRecord) -> i64 {
    match record.outcome.json() {
        Some(body) => body["session"].as_i64().unwrap(),
        None => panic!("expected a response, got {:?}", record.outcome),
    }
}

/// 100 invocations; before every fifth, while the environment is frozen, the server
/// kills the function's connection. The pool notices before the handler's query does.
async fn kills_while_frozen_fail_no_invocation(mut scratch: Scratch) {
    let env = Environment::new(thaw_db(scratch.url()));
    let mut failed = Vec::new();
    let mut last_session = None;
    let mut killed = Vec::new();
    let mut replaced = 0;
    for i in 0..100 {
        let mut killed_now = None;
        if i % 5 == 4
            && let Some(session) = last_session
        {
            scratch.kill(session).await;
            killed.push(session);
            killed_now = Some(session);
            // An idle gap long enough to count as a possible freeze for the pool.
            tokio::time::sleep(lambda_thaw::sqlx::FREEZE_CHECK_AFTER + Duration::from_millis(100))
                .await;
        }
        let record = env.invoke(format!(r#"{{"insert":"k{i}"}}"#)).await;
        match record.outcome.json() {
            Some(body) => {
                last_session = body["session"].as_i64();
                if killed_now.is_some() && killed_now != last_session {
                    replaced += 1;
                }
            }
            None => failed.push((i, record.outcome.clone())),
        }
    }
    assert_eq!(killed.len(), 20);
    assert!(
        failed.is_empty(),
        "failed invocations: {failed:?}\n{}",
        env.logs().text()
    );
    assert_eq!(
        replaced, 20,
        "every invocation after a kill ran on a new connection"
    );
    assert_eq!(env.starts(), 1, "no invocation needed a restart");
    env.shutdown().await;
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_kills_while_frozen_fail_no_invocation() {
    let Some(scratch) = Scratch::postgres().await else {
        return;
    };
    kills_while_frozen_fail_no_invocation(scratch).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_kills_while_frozen_fail_no_invocation() {
    let Some(scratch) = Scratch::mariadb().await else {
        return;
    };
    kills_while_frozen_fail_no_invocation(scratch).await;
}

/// The server ends the function's idle connection moments before an invocation — 0, 0.2
/// and 1.2 s before, five times each — while the environment is frozen: no invocation
/// fails, and each write is applied exactly once (counted by the test, not the function).
async fn kills_just_before_an_invocation_fail_none_and_write_once(mut scratch: Scratch) {
    let env = Environment::new(thaw_db(scratch.url()));
    let mut failed = Vec::new();
    let mut keys = Vec::new();
    for gap_ms in [0u64, 200, 1200] {
        for round in 0..5 {
            let session_now = session(&env.invoke(r#"{"select":true}"#).await);
            scratch.kill(session_now).await;
            tokio::time::sleep(Duration::from_millis(gap_ms)).await;
            let key = format!("gap{gap_ms}-{round}");
            let record = env.invoke(format!(r#"{{"insert":"{key}"}}"#)).await;
            match record.outcome.json() {
                Some(body) => {
                    let new = body["session"].as_i64().unwrap();
                    assert_ne!(new, session_now, "{key}: ran on the killed session");
                }
                None => failed.push((key.clone(), record.outcome.clone())),
            }
            keys.push(key);
        }
    }
    assert!(failed.is_empty(), "{failed:?}\n{}", env.logs().text());
    for key in &keys {
        assert_eq!(rows_with_key(&mut scratch, key).await, 1, "{key}");
    }
    assert_eq!(env.starts(), 1);
    env.shutdown().await;
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_kills_just_before_an_invocation_fail_none_and_write_once() {
    if let Some(scratch) = Scratch::postgres().await {
        kills_just_before_an_invocation_fail_none_and_write_once(scratch).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_kills_just_before_an_invocation_fail_none_and_write_once() {
    if let Some(scratch) = Scratch::mariadb().await {
        kills_just_before_an_invocation_fail_none_and_write_once(scratch).await;
    }
}

/// A handler sleeping inside a transaction past its deadline is cancelled in time: a
/// timeout error before the deadline, nothing written, no deferred work, and the same
/// environment serves the next invocation.
async fn a_deadline_inside_a_transaction_rolls_back(mut scratch: Scratch) {
    let env = Environment::new(thaw_db(scratch.url()).timeout(Duration::from_secs(2)));
    let slow = env
        .invoke(r#"{"insert":"too-slow","sleep_ms":10000,"defer":true}"#)
        .await;
    let error = match &slow.outcome {
        Outcome::Error(error) => error.clone(),
        other => panic!("expected a timeout error, got {other:?}"),
    };
    assert_eq!(error.error_type, "lambda_thaw::DeadlineExceeded");
    assert!(
        error.error_message.contains("cancelled 500 ms before"),
        "{error:?}"
    );
    assert!(
        slow.responded_at.unwrap() < slow.deadline,
        "answered before the deadline"
    );
    assert!(!slow.killed_after_response);
    assert_eq!(
        rows_with_key(&mut scratch, "too-slow").await,
        0,
        "the insert was rolled back"
    );
    let next = env.invoke(r#"{"insert":"in-time"}"#).await;
    assert!(next.outcome.is_response(), "{:?}", next.outcome);
    assert!(next.cold_start.is_none(), "the environment survived");
    assert_eq!(rows_with_key(&mut scratch, "in-time").await, 1);
    assert_eq!(rows_with_key(&mut scratch, "too-slow").await, 0);
    assert!(
        env.logs().matching("deferred ran").is_empty(),
        "deferred work of a cancelled invocation ran"
    );
    env.shutdown().await;
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_deadline_inside_a_transaction_rolls_back() {
    let Some(scratch) = Scratch::postgres().await else {
        return;
    };
    a_deadline_inside_a_transaction_rolls_back(scratch).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_deadline_inside_a_transaction_rolls_back() {
    let Some(scratch) = Scratch::mariadb().await else {
        return;
    };
    a_deadline_inside_a_transaction_rolls_back(scratch).await;
}

/// 10 environments × 20 invocations, then shutdown: exactly 10 connections, every
/// shutdown hook ran, and the server saw clean disconnects.
async fn run_fleet(url: &str) -> Fleet {
    let fleet = Fleet::new(thaw_db(url), 10);
    let events = (0..200)
        .map(|i| format!(r#"{{"insert":"f{i}"}}"#).into())
        .collect();
    let records = fleet.run(events, Duration::ZERO, |_, _| {}).await;
    assert_eq!(records.len(), 200);
    let failed: Vec<_> = records
        .iter()
        .filter(|r| !r.outcome.is_response())
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let reports = fleet.shutdown().await;
    assert_eq!(
        reports.len(),
        10,
        "every environment was started and shut down"
    );
    for report in &reports {
        assert!(
            report.sigterm_sent && !report.killed_after_grace,
            "{report:?}"
        );
    }
    for environment in fleet.environments() {
        assert!(
            environment
                .logs()
                .wait_for("shutdown hook ran: pool closed", Duration::from_secs(2))
                .await
                .is_some(),
            "{}",
            environment.logs().text()
        );
    }
    fleet
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_fleet_opens_one_session_per_environment_and_closes_them_cleanly() {
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    let mut scratch = PgScratch::create(&admin).await;
    // The schema exists before the fleet starts, as after a deploy-time migration: ten
    // concurrent `CREATE TABLE IF NOT EXISTS` race in PostgreSQL's catalog.
    let mut migrate = <sqlx::PgConnection as sqlx::Connection>::connect(&scratch.url)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE lt_items (item_key VARCHAR(64) PRIMARY KEY)")
        .execute(&mut migrate)
        .await
        .unwrap();
    sqlx::Connection::close(migrate).await.unwrap();
    scratch.wait_until_idle().await;
    let before = scratch.stat("sessions").await;
    run_fleet(&scratch.url).await;
    scratch.wait_until_idle().await;
    assert_eq!(
        scratch.stat("sessions").await - before,
        10,
        "10 environments × 20 invocations"
    );
    assert_eq!(
        scratch.stat("sessions_abandoned").await,
        0,
        "every session ended cleanly"
    );
    assert_eq!(scratch.stat("sessions_killed").await, 0);
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_fleet_opens_one_connection_per_environment_and_closes_them_cleanly() {
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_MYSQL") else {
        return;
    };
    let mut scratch = MariaScratch::create(&admin).await;
    run_fleet(&scratch.url).await;
    scratch.wait_until_idle().await;
    assert_eq!(
        scratch.user_stat("TOTAL_CONNECTIONS").await,
        10,
        "10 environments × 20 invocations"
    );
    assert_eq!(
        scratch.user_stat("LOST_CONNECTIONS").await,
        0,
        "every connection ended cleanly"
    );
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_without_graceful_shutdown_sessions_are_abandoned() {
    // The control for the fleet test: SIGKILL without the hook leaves abandoned sessions,
    // so `sessions_abandoned` really does see what a missing shutdown does.
    let Some(admin) = admin_url("LAMBDA_THAW_TEST_POSTGRES") else {
        return;
    };
    let mut scratch = PgScratch::create(&admin).await;
    let env = Environment::new(thaw_db(&scratch.url).shutdown_grace(Duration::ZERO));
    env.invoke(r#"{"insert":"x"}"#).await;
    let pid = env.pid().await.unwrap();
    // Kill the process outright, as Lambda does to a function without extensions.
    nix_kill(pid);
    scratch.wait_until_idle().await;
    assert_eq!(scratch.stat("sessions_abandoned").await, 1);
    scratch.drop_database().await;
}

fn nix_kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_init_error_names_the_host_and_cause_but_not_the_password() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let url = "postgres://app:s3cret-pw@127.0.0.1:1/orders";
    let env = Environment::new(thaw_db(url));
    let record = env.invoke(r#"{"select":true}"#).await;
    let error = match &record.outcome {
        Outcome::InitFailed(error) => error.clone(),
        other => panic!("expected an init failure, got {other:?}"),
    };
    assert!(error.error_message.contains("127.0.0.1:1"), "{error:?}");
    assert!(
        error.error_message.to_lowercase().contains("refused"),
        "{error:?}"
    );
    assert!(!error.error_message.contains("s3cret-pw"), "{error:?}");
    assert!(
        !env.logs().text().contains("s3cret-pw"),
        "the password reached the logs"
    );
}

/// Round trips per warm invocation of a one-query handler, with the given pool.
async fn warm_round_trips(url: &str, host_port: &str, pool: &str) -> f64 {
    let proxy = RoundTripCounter::start(host_port.to_string()).await;
    let proxied = url.replace(host_port, &proxy.addr().to_string());
    let env = Environment::new(thaw_db(&proxied).env("FIXTURE_POOL", pool));
    let first = env.invoke(r#"{"select":true}"#).await;
    session(&first);
    let before = proxy.settled().await;
    const WARM: u64 = 50;
    for _ in 0..WARM {
        session(&env.invoke(r#"{"select":true}"#).await);
    }
    let per_invocation = (proxy.settled().await - before) as f64 / WARM as f64;
    env.shutdown().await;
    per_invocation
}

async fn lambda_thaw_options_save_a_round_trip_per_warm_invocation(
    url: &str,
    host_port: &str,
    name: &str,
) {
    let ours = warm_round_trips(url, host_port, "lambda-thaw").await;
    let defaults = warm_round_trips(url, host_port, "sqlx-default").await;
    println!(
        "{name}: round trips per warm invocation: lambda-thaw {ours:.2}, sqlx defaults {defaults:.2}"
    );
    assert!(
        ours < defaults,
        "lambda-thaw's options must cost fewer round trips"
    );
    assert!(
        (defaults - ours - 1.0).abs() < 0.1,
        "the difference is sqlx's ping before every acquire: one round trip per invocation"
    );
}

pub(crate) fn host_port(url: &str) -> String {
    let after_at = url.split_once('@').unwrap().1;
    after_at.split_once('/').unwrap().0.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_warm_invocations_skip_the_ping_round_trip() {
    let Some(scratch) = Scratch::postgres().await else {
        return;
    };
    let url = scratch.url().to_string();
    lambda_thaw_options_save_a_round_trip_per_warm_invocation(&url, &host_port(&url), "postgres")
        .await;
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_warm_invocations_skip_the_ping_round_trip() {
    let Some(scratch) = Scratch::mariadb().await else {
        return;
    };
    let url = scratch.url().to_string();
    lambda_thaw_options_save_a_round_trip_per_warm_invocation(&url, &host_port(&url), "mariadb")
        .await;
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_while_frozen_is_survived() {
    // A server of the test's own, so the restart disturbs nothing else.
    if admin_url("LAMBDA_THAW_TEST_POSTGRES").is_none() {
        return;
    }
    let server = lambda_thaw_tests::db::ThrowawayPostgres::start()
        .expect("PostgreSQL binaries are installed");
    let env = Environment::new(thaw_db(&server.url()));
    let before = session(&env.invoke(r#"{"insert":"before-restart"}"#).await);
    // The environment is frozen now; the server restarts under it.
    server.restart();
    tokio::time::sleep(lambda_thaw::sqlx::FREEZE_CHECK_AFTER + Duration::from_millis(100)).await;
    let after = env.invoke(r#"{"insert":"after-restart"}"#).await;
    assert!(
        after.outcome.is_response(),
        "{:?}\n{}",
        after.outcome,
        env.logs().text()
    );
    assert_ne!(
        session(&after),
        before,
        "a new connection replaced the one the restart ended"
    );
    assert!(after.cold_start.is_none());
    env.shutdown().await;
}

/// Expiring credentials: the password rotates between invocations and the function's
/// backend is killed while frozen; the next invocation opens a new connection with the
/// new password (fetched when the database rejected the cached one) and nothing fails.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_password_rotation_fails_no_invocation() {
    if admin_url("LAMBDA_THAW_TEST_POSTGRES").is_none() {
        return;
    }
    // The shared server trusts every local connection; this one checks passwords.
    let server = lambda_thaw_tests::db::ThrowawayPostgres::start_checking_passwords("admin-pw")
        .expect("PostgreSQL binaries are installed");
    let admin_url = format!(
        "postgres://root:admin-pw@127.0.0.1:{}/postgres",
        server.port()
    );
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .unwrap();
    let secret_file =
        std::env::temp_dir().join(lambda_thaw_tests::db::unique("lambda_thaw_secret"));
    let rotate = async |admin: &mut sqlx::PgConnection, password: &str| {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER ROLE app PASSWORD '{password}'"
        )))
        .execute(&mut *admin)
        .await
        .unwrap();
        std::fs::write(&secret_file, password).unwrap();
    };
    sqlx::query("CREATE ROLE app LOGIN")
        .execute(&mut admin)
        .await
        .unwrap();
    rotate(&mut admin, "password-0").await;

    let env = Environment::new(
        FunctionConfig::new(env!("CARGO_BIN_EXE_thaw-rotating"))
            .env(
                "DATABASE_URL",
                format!("postgres://app@127.0.0.1:{}/postgres", server.port()),
            )
            .env("PASSWORD_FILE", secret_file.display().to_string())
            .env("RUST_LOG", "info"),
    );
    let mut failed = Vec::new();
    let mut session_now = None;
    for i in 1..=20 {
        if i % 5 == 0
            && let Some(pid) = session_now
        {
            // Rotate, and end the connection that used the old password while frozen.
            rotate(&mut admin, &format!("password-{i}")).await;
            sqlx::query("SELECT pg_terminate_backend(CAST($1 AS INTEGER))")
                .bind(pid)
                .execute(&mut admin)
                .await
                .unwrap();
            tokio::time::sleep(lambda_thaw::sqlx::FREEZE_CHECK_AFTER + Duration::from_millis(100))
                .await;
        }
        let record = env.invoke("{}").await;
        match record.outcome.json() {
            Some(body) => session_now = body["session"].as_i64(),
            None => failed.push((i, record.outcome.clone())),
        }
    }
    assert!(failed.is_empty(), "{failed:?}\n{}", env.logs().text());
    assert_eq!(env.starts(), 1, "no init failure, no restart");
    // One fetch in init, one per rotation (the database rejected the cached password).
    assert_eq!(
        env.logs().matching("credential fetched").len(),
        1 + 4,
        "{}",
        env.logs().text()
    );
    assert_eq!(env.logs().matching("rejected the cached secret").len(), 4);
    env.shutdown().await;
    let _ = std::fs::remove_file(&secret_file);
}

/// SIGTERM while an invocation writes in a transaction: the row is committed *and* the
/// caller gets the success, before the hook closes the pool — a retry would not write it
/// twice. (Under plain `lambda_runtime` the hook ran under the invocation and the caller
/// saw `Runtime.ExitError`; `tests/tests/survives.rs` has that control.)
async fn sigterm_lets_the_write_in_flight_commit_and_answer(mut scratch: Scratch) {
    let env = Environment::new(thaw_db(scratch.url()));
    env.invoke(r#"{"select":true}"#).await;
    let invocation = env.invoke(r#"{"insert":"in-flight","sleep_ms":200}"#);
    let shutdown = async {
        env.logs()
            .wait_for("inserting in-flight", Duration::from_secs(5))
            .await
            .unwrap();
        env.shutdown().await.unwrap()
    };
    let (record, report) = tokio::join!(invocation, shutdown);
    match record.outcome.json() {
        Some(body) => assert_eq!(body["inserted"], "in-flight"),
        None => panic!("expected the write's answer, got {:?}", record.outcome),
    }
    assert!(!report.killed_after_grace, "{report:?}");
    assert_eq!(rows_with_key(&mut scratch, "in-flight").await, 1);
    let logs = env.logs();
    // Waited for: the emulator's log reader may not have read the process's last lines.
    logs.wait_for("shutdown hook ran", Duration::from_secs(5))
        .await;
    let answered = logs.matching("the 1 invocation(s) in flight answered and finished");
    let hook = logs.matching("shutdown hook ran");
    assert_eq!((answered.len(), hook.len()), (1, 1), "{}", logs.text());
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_sigterm_lets_the_write_in_flight_commit_and_answer() {
    if let Some(scratch) = Scratch::postgres().await {
        sigterm_lets_the_write_in_flight_commit_and_answer(scratch).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_sigterm_lets_the_write_in_flight_commit_and_answer() {
    if let Some(scratch) = Scratch::mariadb().await {
        sigterm_lets_the_write_in_flight_commit_and_answer(scratch).await;
    }
}
