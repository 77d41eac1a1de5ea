//! A stage's jobs run on several workers at once: each takes the next job when it is done with
//! one. A worker that fails hands its job back to the queue, so the caller can run what is
//! left elsewhere (the page moves a lost GPU's jobs to CPU workers) and no job runs twice.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;

use super::{Job, Reply};
use crate::error::Error;

/// Why a job, a stage or a run did not finish: one type from a worker's reply to the page.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// A newer run started: stop quietly.
    Stale,
    /// A worker or its device died (a lost GPU): its jobs can go on elsewhere.
    Lost(String),
    /// An error to show.
    Failed(String),
}

impl Stop {
    /// What to tell a person.
    pub fn why(self) -> String {
        match self {
            Stop::Stale => "a newer run started".into(),
            Stop::Lost(e) | Stop::Failed(e) => e,
        }
    }
}

impl From<String> for Stop {
    fn from(e: String) -> Self {
        Stop::Failed(e)
    }
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e.to_string())
    }
}

/// A worker as the scheduler sees it.
pub trait Runner {
    /// Runs `job` and gives its reply.
    fn call(&self, job: &Job) -> impl Future<Output = Result<Reply, Stop>>;
}

/// A stage's jobs not done yet, each with its index in the stage.
pub type Queue = RefCell<VecDeque<(usize, Job)>>;

/// What takes each reply, with its job's index, as it arrives.
pub type Done<'a> = RefCell<dyn FnMut(usize, Reply) -> Result<(), Stop> + 'a>;

/// Runs the jobs of `queue` on every runner, each taking the next job when it is done with
/// one, and hands each reply to `done` with the job's index as it arrives. It stops at the
/// first failure, or when `go_on` says no; a runner's failed job goes back to the front of
/// `queue`, with the jobs not started.
pub async fn run_queue<R: Runner>(
    runners: &[R],
    queue: &Queue,
    done: &Done<'_>,
    go_on: &dyn Fn() -> Result<(), Stop>,
) -> Result<(), Stop> {
    let failed = RefCell::new(None);
    let lanes = runners.iter().map(|r| lane(r, queue, done, go_on, &failed));
    futures::future::join_all(lanes).await;
    match failed.into_inner() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One runner's share of [`run_queue`]: the next job of `queue` until none is left or one of
/// the lanes has failed.
async fn lane<R: Runner>(
    runner: &R,
    queue: &Queue,
    done: &Done<'_>,
    go_on: &dyn Fn() -> Result<(), Stop>,
    failed: &RefCell<Option<Stop>>,
) {
    while failed.borrow().is_none() {
        if let Err(e) = go_on() {
            failed.borrow_mut().get_or_insert(e);
            return;
        }
        let Some((i, job)) = queue.borrow_mut().pop_front() else {
            return;
        };
        let outcome = match runner.call(&job).await {
            Ok(reply) => (done.borrow_mut())(i, reply),
            Err(stop) => {
                queue.borrow_mut().push_front((i, job));
                Err(stop)
            }
        };
        if let Err(e) = outcome {
            failed.borrow_mut().get_or_insert(e);
        }
    }
}
