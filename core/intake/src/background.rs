//! Lower CPU priority for after-commit work.
//!
//! The outbox worker already rests while submissions keep arriving
//! ([`crate::outbox::WorkerConfig::yield_factor`]), but the work it hands
//! off (tantivy's indexing and merge threads, a plugin's `on-event` in
//! wasm) is CPU-heavy and, once started, competed with intake at equal
//! priority. Threads that do nothing but such work are lowered to
//! [`nice()`] (10 unless `TOWNHALL_BACKGROUND_NICE` says otherwise) when
//! they start: the kernel then gives a runnable intake thread
//! the CPU first (about nine parts in ten under contention at nice 10),
//! and the background catches up when intake pauses. Threads a lowered
//! thread starts inherit its priority, which is how tantivy's own threads
//! are lowered.
//!
//! Only whole threads are lowered, never a shared pool's: raising a
//! priority back needs a privilege the server does not have, so a lowered
//! thread stays lowered. On systems other than Linux, lowering is a no-op.
//!
//! **Must never:** lower a tokio worker or a thread of tokio's blocking
//! pool (intake runs there); hold a lock or connection intake waits for
//! while running lowered (a lowered holder would make intake wait behind
//! the background: priority inversion). Connections are opened and awaited
//! on the server's runtime, not here.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

/// The niceness background threads get unless configured (0 is normal,
/// 19 the lowest).
pub const DEFAULT_NICE: i32 = 10;

/// The niceness background threads get: `TOWNHALL_BACKGROUND_NICE` (0 to
/// 19; 0 leaves them at normal priority), [`DEFAULT_NICE`] when unset or
/// unreadable. Read once per process.
pub fn nice() -> i32 {
    static NICE: OnceLock<i32> = OnceLock::new();
    *NICE.get_or_init(|| match std::env::var("TOWNHALL_BACKGROUND_NICE") {
        Ok(v) => match v.trim().parse::<i32>() {
            Ok(n) if (0..=19).contains(&n) => n,
            _ => {
                tracing::warn!(value = %v, "TOWNHALL_BACKGROUND_NICE must be 0 to 19; using {DEFAULT_NICE}");
                DEFAULT_NICE
            }
        },
        Err(_) => DEFAULT_NICE,
    })
}

/// Lowers the calling thread to [`nice()`]. Returns whether it took
/// effect (`false` when the niceness is 0, off Linux, or if the kernel
/// refused).
pub fn lower_this_thread() -> bool {
    lower_this_thread_to(nice())
}

fn lower_this_thread_to(nice: i32) -> bool {
    if nice <= 0 {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        // Never raise a thread already lower (a niced server stays so).
        if rustix::process::getpriority_process(Some(tid)).is_ok_and(|now| now >= nice) {
            return true;
        }
        match rustix::process::setpriority_process(Some(tid), nice) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, nice, "could not lower a background thread's priority");
                false
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The calling thread's niceness (Linux; `None` elsewhere).
pub fn this_thread_nice() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Runs `f` on a new thread named `name`, lowered to [`nice()`], and waits
/// for it. Threads `f` starts inherit the lower priority (tantivy's
/// indexing and merge threads, created with its writer).
pub fn on_lowered_thread<R: Send + 'static>(name: &str, f: impl FnOnce() -> R + Send + 'static) -> std::io::Result<R> {
    let handle = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        lower_this_thread();
        f()
    })?;
    handle
        .join()
        .map_err(|_| std::io::Error::other(format!("the {name} thread panicked")))
}

type Job = Box<dyn FnOnce() + Send>;

/// A background job gave no answer: it panicked, or the pool has stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the background job gave no answer (it panicked, or the pool has stopped)")]
pub struct Lost;

/// A few lowered threads for blocking after-commit work (a plugin's
/// `on-event`). A job that panics loses only its own answer. Dropping the
/// pool lets its threads finish the jobs already sent and end.
pub struct BackgroundPool {
    tx: Mutex<mpsc::Sender<Job>>,
}

impl BackgroundPool {
    /// Starts `threads` lowered threads named `name-N`.
    pub fn new(name: &str, threads: usize) -> std::io::Result<BackgroundPool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new().name(format!("{name}-{n}")).spawn(move || {
                lower_this_thread();
                loop {
                    // The lock is held only while waiting for the next job.
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panic drops the job's answer channel: its caller
                        // sees `Lost`, and the thread goes on.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                }
            })?;
        }
        Ok(BackgroundPool { tx: Mutex::new(tx) })
    }

    /// Runs `f` on one of the pool's threads and waits for its answer
    /// without blocking the caller's runtime.
    pub async fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Result<R, Lost> {
        let (answer, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(f());
        });
        self.tx.lock().map_err(|_| Lost)?.send(job).map_err(|_| Lost)?;
        rx.await.map_err(|_| Lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lowered_thread_and_the_threads_it_starts_run_at_the_lower_priority() {
        let before = this_thread_nice();
        let (own, child) = on_lowered_thread("lowered-test", || {
            let own = this_thread_nice();
            let child = std::thread::spawn(this_thread_nice).join().ok().flatten();
            (own, child)
        })
        .unwrap_or((None, None));
        // The caller is untouched.
        assert_eq!(this_thread_nice(), before);
        if cfg!(target_os = "linux") {
            // Already lower than `nice()` (a niced test run), it stays so.
            let expected = Some(before.unwrap_or(0).max(nice()));
            assert_eq!(own, expected);
            assert_eq!(child, expected);
        } else {
            assert_eq!((own, child), (None, None));
        }
    }

    #[tokio::test]
    async fn the_pool_answers_on_lowered_threads_and_survives_a_panicking_job() {
        let pool = BackgroundPool::new("bg-test", 1).unwrap();
        let before = this_thread_nice();
        let lowered = pool.run(this_thread_nice).await;
        if cfg!(target_os = "linux") {
            assert_eq!(lowered, Ok(Some(before.unwrap_or(0).max(nice()))));
        }
        assert_eq!(this_thread_nice(), before, "the caller is not lowered");
        let (a, b, c) = tokio::join!(pool.run(|| 1), pool.run(|| 2), pool.run(|| 3));
        assert_eq!((a, b, c), (Ok(1), Ok(2), Ok(3)));
        let panicked = pool.run(|| -> u32 { panic!("a job fails") }).await;
        assert_eq!(panicked, Err(Lost));
        // The pool's one thread survived the panic and still answers.
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }
}
