//! The rehearsal's traffic: named statements run at a rate on connections of their
//! own while the migration runs, every execution recorded on the rehearsal's clock.
//!
//! Each stream is *open-loop*: execution `k` is due at `start + k / rate` whatever
//! happened to the ones before, and its latency is counted from when it was due, not
//! from when a free connection got to it. A writer blocked behind a lock therefore
//! shows what its callers would feel, including the executions that queued up behind
//! the blocked ones (a closed loop would hide them: "coordinated omission").
//! A stream's connections take the next due execution in turn, so a stream never runs
//! more executions at once than it has connections.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{CancelToken, Client, NoTls, Statement};

use crate::datagen::rng;
use crate::error::{Error, Result, ServerError};
use crate::provision::ScratchDatabase;
use crate::value::Value;

/// One traffic statement as it runs.
#[derive(Debug, Clone)]
pub struct Stream {
    pub name: String,
    pub sql: String,
    /// Executions per second over all its connections.
    pub rate: f64,
    pub connections: u32,
    /// Keep one prepared statement per connection.
    pub prepared: bool,
    pub params: Vec<Binding>,
    /// Starts once this many steps have finished (0: at once).
    pub after_steps: usize,
}

/// Where a parameter's value comes from at each execution.
#[derive(Debug, Clone)]
pub enum Binding {
    Fixed(Value),
    /// A column of a row drawn afresh for each execution from a pick's rows.
    Drawn {
        pick: usize,
        column: usize,
    },
}

/// The rows each pick returned, that [`Binding::Drawn`] parameters draw from.
#[derive(Debug, Clone, Default)]
pub struct Pools {
    pub rows: Vec<Vec<Vec<Value>>>,
}

/// One execution of a traffic statement, on the rehearsal's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub stream: usize,
    /// The server process of the connection that ran it.
    pub pid: i32,
    /// When it was due (its stream's start plus its turn over the rate).
    pub due: Duration,
    pub started: Duration,
    pub finished: Duration,
    /// Rows the server reported for it (its command tag); 0 for a failure.
    pub rows: u64,
    pub error: Option<String>,
}

/// Traffic running; [`Traffic::stop`] ends it and hands back every execution.
pub struct Traffic {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    log: Arc<Mutex<Vec<Execution>>>,
    /// Per stream: when it started, once it has.
    starts: Arc<Mutex<Vec<Option<Duration>>>>,
    /// Every connection's server process and its stream.
    pub pids: Vec<(i32, usize)>,
    cancels: Vec<CancelToken>,
}

impl Traffic {
    /// Opens every stream's connections (before the clock matters), then starts each
    /// stream: at once, or when `steps_done` reaches its `after_steps`.
    pub async fn start(
        scratch: &ScratchDatabase,
        streams: &[Stream],
        pools: Arc<Pools>,
        seed: u64,
        clock: Instant,
        steps_done: watch::Receiver<usize>,
    ) -> Result<Traffic> {
        let (stop, stopped) = watch::channel(false);
        let log = Arc::new(Mutex::new(Vec::new()));
        let starts = Arc::new(Mutex::new(vec![None; streams.len()]));
        let turns: Vec<Arc<AtomicU64>> = streams.iter().map(|_| Arc::default()).collect();
        let mut workers = Vec::new();
        let mut pids = Vec::new();
        let mut cancels = Vec::new();
        for (index, stream) in streams.iter().enumerate() {
            for connection in 0..stream.connections {
                let client = scratch.connect().await?;
                let pid: i32 = client
                    .query_one(
                        "SELECT pg_backend_pid(), set_config('application_name', $1, false)",
                        &[&format!("plancheck traffic: {}", stream.name)],
                    )
                    .await
                    .map_err(Error::database("opening a traffic connection"))?
                    .get(0);
                pids.push((pid, index));
                cancels.push(client.cancel_token());
                workers.push(Worker {
                    stream_index: index,
                    stream: stream.clone(),
                    client,
                    pid,
                    rng: rng::indexed_stream(
                        seed,
                        "rehearsal traffic",
                        &stream.name,
                        u64::from(connection),
                    ),
                    pools: Arc::clone(&pools),
                    turn: Arc::clone(&turns[index]),
                    starts: Arc::clone(&starts),
                    log: Arc::clone(&log),
                    clock,
                    stopped: stopped.clone(),
                    steps_done: steps_done.clone(),
                    statement: None,
                });
            }
        }
        let tasks = workers
            .into_iter()
            .map(|worker| tokio::spawn(worker.run()))
            .collect();
        Ok(Traffic {
            stop,
            tasks,
            log,
            starts,
            pids,
            cancels,
        })
    }

    /// The executions finished so far.
    pub fn executions(&self) -> Vec<Execution> {
        self.log.lock().expect("traffic log").clone()
    }

    /// When each stream started, for those that have.
    pub fn starts(&self) -> Vec<Option<Duration>> {
        self.starts.lock().expect("traffic starts").clone()
    }

    /// Stops taking new turns, lets the executions under way finish for up to
    /// `grace`, cancels those still running, and returns every execution.
    pub async fn stop(mut self, grace: Duration) -> Vec<Execution> {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        // Each task leaves the list only once it has ended, so a stop cut short (an
        // interrupt during the grace) still leaves the rest to `Drop`.
        while let Some(task) = self.tasks.first_mut() {
            if tokio::time::timeout_at(deadline, &mut *task).await.is_err() {
                cancel_all(&self.cancels).await;
                let _ = (&mut *task).await;
            }
            self.tasks.remove(0);
        }
        self.executions()
    }
}

impl Drop for Traffic {
    /// Traffic dropped without `stop` (an error elsewhere, or Ctrl-C) stops at once:
    /// no new turn starts, and the statements under way are cancelled on the server.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
        if !self.tasks.is_empty() {
            let cancels = std::mem::take(&mut self.cancels);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { cancel_all(&cancels).await });
            }
        }
    }
}

async fn cancel_all(cancels: &[CancelToken]) {
    for cancel in cancels {
        let _ = cancel.cancel_query(NoTls).await;
    }
}

/// One connection of one stream.
struct Worker {
    stream_index: usize,
    stream: Stream,
    client: Client,
    pid: i32,
    rng: rng::SeededRng,
    pools: Arc<Pools>,
    turn: Arc<AtomicU64>,
    starts: Arc<Mutex<Vec<Option<Duration>>>>,
    log: Arc<Mutex<Vec<Execution>>>,
    clock: Instant,
    stopped: watch::Receiver<bool>,
    steps_done: watch::Receiver<usize>,
    statement: Option<Statement>,
}

impl Worker {
    async fn run(mut self) {
        if !self.wait_for_start().await {
            return;
        }
        let start = {
            let mut starts = self.starts.lock().expect("traffic starts");
            *starts[self.stream_index].get_or_insert_with(|| self.clock.elapsed())
        };
        let period = 1.0 / self.stream.rate;
        loop {
            if *self.stopped.borrow() {
                return;
            }
            let turn = self.turn.fetch_add(1, Ordering::AcqRel);
            let due = start + Duration::from_secs_f64(turn as f64 * period);
            let wake = tokio::time::Instant::from_std(self.clock + due);
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                _ = self.stopped.wait_for(|stop| *stop) => return,
            }
            let (execution, cancelled) = self.execute(due).await;
            // A statement cancelled because the traffic was stopping (its grace ran
            // out) is plancheck's doing, not a failure the migration caused.
            if cancelled && *self.stopped.borrow() {
                return;
            }
            self.log.lock().expect("traffic log").push(execution);
        }
    }

    /// Waits until the stream's step has finished; false when stopped first.
    async fn wait_for_start(&mut self) -> bool {
        let after = self.stream.after_steps;
        if after == 0 {
            return true;
        }
        tokio::select! {
            reached = self.steps_done.wait_for(|done| *done >= after) => reached.is_ok(),
            _ = self.stopped.wait_for(|stop| *stop) => false,
        }
    }

    /// Runs one execution; also says whether the server cancelled it (SQLSTATE
    /// 57014, a cancel request or a statement timeout).
    async fn execute(&mut self, due: Duration) -> (Execution, bool) {
        let values = self.values();
        let params: Vec<&(dyn ToSql + Sync)> = values
            .iter()
            .map(|value| value as &(dyn ToSql + Sync))
            .collect();
        let started = self.clock.elapsed();
        let result = match self.stream.prepared {
            true => self.execute_prepared(&params).await,
            false => self.client.execute(self.stream.sql.as_str(), &params).await,
        };
        let finished = self.clock.elapsed();
        let cancelled = result
            .as_ref()
            .err()
            .and_then(tokio_postgres::Error::code)
            .is_some_and(|code| *code == tokio_postgres::error::SqlState::QUERY_CANCELED);
        let (rows, error) = match result {
            Ok(rows) => (rows, None),
            Err(error) => (0, Some(ServerError(&error).to_string())),
        };
        let execution = Execution {
            stream: self.stream_index,
            pid: self.pid,
            due,
            started,
            finished,
            rows,
            error,
        };
        (execution, cancelled)
    }

    /// Runs the connection's prepared statement, preparing it first if it is not yet
    /// (or its preparing failed last time).
    async fn execute_prepared(
        &mut self,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<u64, tokio_postgres::Error> {
        let statement = match &self.statement {
            Some(statement) => statement.clone(),
            None => {
                let statement = self.client.prepare(&self.stream.sql).await?;
                self.statement = Some(statement.clone());
                statement
            }
        };
        self.client.execute(&statement, params).await
    }

    /// This execution's parameter values: fixed ones, and one row drawn from each
    /// pick that a parameter draws from.
    fn values(&mut self) -> Vec<Value> {
        let mut drawn: Vec<(usize, usize)> = Vec::new();
        self.stream
            .params
            .iter()
            .map(|binding| match binding {
                Binding::Fixed(value) => value.clone(),
                Binding::Drawn { pick, column } => {
                    let rows = &self.pools.rows[*pick];
                    if rows.is_empty() {
                        return Value::Null;
                    }
                    // Parameters drawn from one pick come from the same row.
                    let row = match drawn.iter().find(|(seen, _)| seen == pick) {
                        Some((_, row)) => *row,
                        None => {
                            let row = self.rng.random_range(0..rows.len());
                            drawn.push((*pick, row));
                            row
                        }
                    };
                    rows[row][*column].clone()
                }
            })
            .collect()
    }
}
