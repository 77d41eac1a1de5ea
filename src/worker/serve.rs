//! What both of the page's Web Workers run: one `sacodec::jobs::Worker` (its own copy of the
//! networks) that runs the jobs the page posts, one at a time, in the order they arrive,
//! answering each with one reply; after loading the weights it warms the networks up before
//! the next job.
//!
//! Its first message is `Reply::Ready` (id 0): the page sends no job before it. A panic
//! posts `Reply::Panicked` (id `Envelope::ANY`) before the module traps, so the page fails
//! that worker's jobs instead of waiting for them.

use futures::StreamExt;
use js_sys::{Array, Uint8Array};
use sacodec::jobs::{Envelope, Job, Reply, Worker};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

fn post(id: u32, body: Reply) {
    let bytes = Uint8Array::from(&Envelope { id, body }.to_bytes()[..]);
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    // Transferred, not copied; a failure here leaves the page to see the worker fall silent.
    let _ = scope.post_message_with_transfer(&bytes, &Array::of1(&bytes.buffer()));
}

/// Takes jobs until the worker is terminated.
pub fn run() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post(Envelope::<Reply>::ANY, Reply::Panicked(info.to_string()));
    }));
    let (jobs, mut queue) = futures::channel::mpsc::unbounded::<Envelope<Job>>();
    let on_message =
        Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| match Envelope::from_bytes(
            &Uint8Array::new(&e.data()).to_vec(),
        ) {
            Ok(job) => {
                let _ = jobs.unbounded_send(job);
            }
            Err(e) => post(Envelope::<Reply>::ANY, Reply::Panicked(e.to_string())),
        });
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    wasm_bindgen_futures::spawn_local(async move {
        let mut worker = Worker::default();
        while let Some(job) = queue.next().await {
            let reply = worker.run(job.body).await;
            post(job.id, reply);
            // After a load: the networks warm up before the next job. A failure here (a lost
            // GPU) fails that job, which the page moves elsewhere.
            let _ = worker.warm_up().await;
        }
    });
    post(0, Reply::Ready);
}
