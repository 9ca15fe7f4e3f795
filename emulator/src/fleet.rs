//! A fleet: many environments of one function served from one event source, the way
//! Lambda scales out, so tests can count what a database sees from E environments.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::config::FunctionConfig;
use crate::environment::Environment;
use crate::outcome::{InvocationRecord, ShutdownReport};

/// E environments of one function. Each is cold-started when it first takes an event.
pub struct Fleet {
    environments: Vec<Arc<Environment>>,
    per_environment: usize,
}

impl Fleet {
    /// A fleet of `size` environments (at least one).
    pub fn new(config: FunctionConfig, size: usize) -> Self {
        let per_environment = config.max_concurrency.max(1) as usize;
        let config = Arc::new(config);
        let environments = (0..size.max(1))
            .map(|index| Arc::new(Environment::in_fleet(config.clone(), index)))
            .collect();
        Self {
            environments,
            per_environment,
        }
    }

    /// How many invocations each environment takes at a time.
    pub fn per_environment(&self) -> usize {
        self.per_environment
    }

    /// The environments, by index.
    pub fn environments(&self) -> &[Arc<Environment>] {
        &self.environments
    }

    /// Runs every event through the fleet: each environment takes the next event as soon
    /// as it has a free slot (`max_concurrency` slots each), waiting `gap` (frozen) after
    /// each of its invocations. `on_record` sees each record as it completes. Records come
    /// back in event order.
    pub async fn run(
        &self,
        events: Vec<Bytes>,
        gap: Duration,
        mut on_record: impl FnMut(usize, &InvocationRecord),
    ) -> Vec<InvocationRecord> {
        let total = events.len();
        let queue: Arc<Mutex<VecDeque<(usize, Bytes)>>> =
            Arc::new(Mutex::new(events.into_iter().enumerate().collect()));
        let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
        let mut workers = tokio::task::JoinSet::new();
        for environment in &self.environments {
            for _ in 0..self.per_environment {
                let environment = environment.clone();
                let queue = queue.clone();
                let done = done.clone();
                workers.spawn(async move {
                    loop {
                        let next = queue.lock().unwrap().pop_front();
                        let Some((index, event)) = next else { break };
                        let record = environment.invoke(event).await;
                        if done.send((index, record)).is_err() {
                            break;
                        }
                        if !gap.is_zero() {
                            tokio::time::sleep(gap).await;
                        }
                    }
                });
            }
        }
        drop(done);
        let mut results: Vec<Option<InvocationRecord>> = vec![None; total];
        while let Some((index, record)) = finished.recv().await {
            on_record(index, &record);
            results[index] = Some(record);
        }
        while workers.join_next().await.is_some() {}
        results.into_iter().flatten().collect()
    }

    /// Shuts every running environment down, in parallel.
    pub async fn shutdown(&self) -> Vec<ShutdownReport> {
        let mut tasks = tokio::task::JoinSet::new();
        for environment in &self.environments {
            let environment = environment.clone();
            tasks.spawn(async move { environment.shutdown().await });
        }
        let mut reports = Vec::new();
        while let Some(report) = tasks.join_next().await {
            if let Ok(Some(report)) = report {
                reports.push(report);
            }
        }
        reports
    }
}
