//! The page's Web Workers. Each runs `src/worker/main.rs` with its own copy of the networks
//! and answers jobs one at a time; a [`Pool`] gives the jobs of one stage to all of its
//! workers at once. A worker that dies (a panic, a lost GPU) fails the jobs it held, and the
//! pool hands the unfinished ones back to its caller, which moves them to a new pool.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::oneshot;
use js_sys::{Array, Uint8Array};
use sacodec::jobs::{
    self, Backend, BundleInfo, Done, Envelope, Job, Queue, Reply, Runner, Stop, run_queue,
};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{ErrorEvent, Event, MessageEvent};

/// The script of a worker on `backend`, as Trunk builds it from `src/worker/`
/// (`data-loader-shim`), relative to the page.
fn script(backend: Backend) -> &'static str {
    match backend {
        Backend::Cpu => "./sacodec-worker_loader.js",
        Backend::WebGpu => "./sacodec-worker-gpu_loader.js",
    }
}
/// The most workers the CPU path starts (each holds its own networks).
pub const MAX_WORKERS: usize = 4;

type Answer = oneshot::Sender<Result<Reply, String>>;

/// One Web Worker and the jobs it has not answered yet.
struct Worker {
    worker: web_sys::Worker,
    pending: Rc<RefCell<HashMap<u32, Answer>>>,
    /// Why it died, once it has.
    dead: Rc<RefCell<Option<String>>>,
    next_id: Cell<u32>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Worker {
    /// Starts a worker for `backend` and waits for its first message.
    async fn spawn(backend: Backend) -> Result<Self, String> {
        let worker = web_sys::Worker::new(script(backend)).map_err(|e| format!("{e:?}"))?;
        let pending: Rc<RefCell<HashMap<u32, Answer>>> = Rc::default();
        let dead: Rc<RefCell<Option<String>>> = Rc::default();
        let die = {
            let (pending, dead) = (pending.clone(), dead.clone());
            move |why: String| {
                dead.borrow_mut().get_or_insert(why.clone());
                for (_, answer) in pending.borrow_mut().drain() {
                    let _ = answer.send(Err(why.clone()));
                }
            }
        };
        let on_message = {
            let (pending, die) = (pending.clone(), die.clone());
            Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                let bytes = Uint8Array::new(&e.data()).to_vec();
                match Envelope::<Reply>::from_bytes(&bytes) {
                    Ok(Envelope {
                        body: Reply::Panicked(why),
                        ..
                    }) => die(format!("a worker panicked: {why}")),
                    Ok(Envelope { id, body }) => {
                        if let Some(answer) = pending.borrow_mut().remove(&id) {
                            let _ = answer.send(Ok(body));
                        }
                    }
                    Err(e) => die(e.to_string()),
                }
            })
        };
        // An error thrown in the worker comes as an ErrorEvent; a script that could not be
        // loaded (missing, or offline and not cached) as a plain Event.
        let on_error = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
            die(match e.dyn_ref::<ErrorEvent>() {
                Some(e) => format!("a worker failed: {}", e.message()),
                None => "the worker's script could not be loaded".into(),
            })
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let (ready, answer) = oneshot::channel();
        pending.borrow_mut().insert(0, ready);
        let this = Self {
            worker,
            pending,
            dead,
            next_id: Cell::new(1),
            _on_message: on_message,
            _on_error: on_error,
        };
        match answer.await {
            Ok(Ok(Reply::Ready)) => Ok(this),
            Ok(Ok(other)) => Err(format!("a worker began with {other:?}")),
            Ok(Err(why)) => Err(why),
            Err(_) => Err("a worker stopped before it was ready".into()),
        }
    }
}

impl Runner for Worker {
    /// Posts `job` and waits for its reply.
    async fn call(&self, job: &Job) -> Result<Reply, Stop> {
        if let Some(why) = self.dead.borrow().clone() {
            return Err(Stop::Lost(why));
        }
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        let bytes = Envelope { id, body: job }.to_bytes();
        let bytes = Uint8Array::from(&bytes[..]);
        if let Err(e) = self
            .worker
            .post_message_with_transfer(&bytes, &Array::of1(&bytes.buffer()))
        {
            self.pending.borrow_mut().remove(&id);
            return Err(Stop::Lost(format!("{e:?}")));
        }
        match rx.await {
            Ok(Ok(Reply::Failed { message, device })) => Err(match device {
                true => Stop::Lost(message),
                false => Stop::Failed(message),
            }),
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(why)) => Err(Stop::Lost(why)),
            Err(_) => Err(Stop::Lost("the worker stopped".into())),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

/// Workers on one backend, each with the networks loaded.
pub struct Pool {
    /// Where they run the networks.
    pub backend: Backend,
    /// What the weights offer.
    pub bundle: BundleInfo,
    workers: Vec<Worker>,
}

/// How many workers the CPU path starts: `?workers=N` in the page's address (1 to 16), else
/// one per logical core (`navigator.hardwareConcurrency`) up to [`MAX_WORKERS`].
pub fn cpu_workers() -> usize {
    let window = web_sys::window().expect("a window");
    let query = window.location().search().unwrap_or_default();
    let cores = window.navigator().hardware_concurrency() as usize;
    jobs::cpu_workers(&query, cores, MAX_WORKERS)
}

impl Pool {
    /// Starts `count` workers and loads the weights into each.
    pub async fn start(backend: Backend, count: usize, weights: &[u8]) -> Result<Self, String> {
        let load = Job::Load {
            weights: weights.to_vec(),
            backend,
        };
        let started = futures::future::join_all((0..count).map(|_| async {
            let worker = Worker::spawn(backend).await?;
            match worker.call(&load).await {
                Ok(Reply::Loaded(info)) => Ok((worker, info)),
                Ok(other) => Err(format!("a worker answered the weights with {other:?}")),
                Err(stop) => Err(stop.why()),
            }
        }))
        .await;
        let mut workers = Vec::with_capacity(count);
        let mut bundle = None;
        for started in started {
            let (worker, info) = started?;
            workers.push(worker);
            bundle = Some(info);
        }
        Ok(Self {
            backend,
            bundle: bundle.ok_or("no workers")?,
            workers,
        })
    }

    /// Number of workers.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Runs the jobs of `queue` on every worker ([`run_queue`]).
    pub async fn run(
        &self,
        queue: &Queue,
        done: &Done<'_>,
        go_on: &dyn Fn() -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        run_queue(&self.workers, queue, done, go_on).await
    }
}
