//! Rust `log` records to Python `logging`, never from a thread Python does
//! not know.
//!
//! A record logged by a thread that is inside one of the bindings' calls
//! (a Python thread: [`InCall`] marks it) goes to Python at once, the GIL
//! taken on that thread. A record from any other thread (a pass's worker
//! threads, "guard-stream", rayon's) only goes into a bounded queue: such
//! a thread must never wait for the GIL, since the GIL's holder may be
//! waiting for it (joining it). A Python thread drains the queue, holding
//! the GIL, at the end of every binding call and in `drain_logs()`; a full
//! queue drops the newest records and says how many.
//!
//! The logger of a record is its target with dots (`glance_import_guard::
//! hasher` is `glance_import_guard.hasher`), its level Python's. Records
//! below the Python logger's effective level are dropped when they reach
//! Python; those of a Python thread are not even formatted.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// Records waiting for a Python thread, at most.
const CAPACITY: usize = 1024;

/// The logger of the "records dropped" line.
const OWN_TARGET: &str = "glance_import_guard";

thread_local! {
    /// How many binding calls this thread is inside (they may nest).
    static IN_CALL: Cell<usize> = const { Cell::new(0) };
}

/// Marks the current thread as inside a binding call, on behalf of Python,
/// while it lives.
pub(super) struct InCall(());

impl InCall {
    pub(super) fn enter() -> Self {
        IN_CALL.with(|depth| depth.set(depth.get() + 1));
        InCall(())
    }
}

impl Drop for InCall {
    fn drop(&mut self) {
        IN_CALL.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

fn in_call() -> bool {
    // A thread being torn down has no thread-locals: not ours.
    IN_CALL.try_with(|depth| depth.get() > 0).unwrap_or(false)
}

/// A record from a thread Python does not know, formatted there.
struct Queued {
    target: String,
    level: Level,
    message: String,
    file: Option<String>,
    line: Option<u32>,
    created: SystemTime,
}

struct Queue {
    records: VecDeque<Queued>,
    dropped: u64,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    records: VecDeque::new(),
    dropped: 0,
});

/// Whether the queue may hold something (a hint read without the lock).
static PENDING: AtomicBool = AtomicBool::new(false);

fn queue() -> std::sync::MutexGuard<'static, Queue> {
    QUEUE.lock().unwrap_or_else(|p| p.into_inner())
}

fn enqueue(record: &Record<'_>) {
    let mut queue = queue();
    if queue.records.len() >= CAPACITY {
        queue.dropped += 1;
    } else {
        queue.records.push_back(Queued {
            target: record.target().to_owned(),
            level: record.level(),
            message: record.args().to_string(),
            file: record.file().map(str::to_owned),
            line: record.line(),
            created: SystemTime::now(),
        });
    }
    PENDING.store(true, Ordering::Release);
}

fn python_level(level: Level) -> u32 {
    match level {
        Level::Error => 40,
        Level::Warn => 30,
        Level::Info => 20,
        Level::Debug => 10,
        Level::Trace => 5,
    }
}

/// Hands one record to the Python logger of `target`, if that logger is
/// enabled for `level`; `created`: when it was logged, if not now.
fn emit(
    py: Python<'_>,
    target: &str,
    level: Level,
    message: impl FnOnce() -> String,
    file: Option<&str>,
    line: Option<u32>,
    created: Option<SystemTime>,
) -> PyResult<()> {
    let name = target.replace("::", ".");
    let logger = py
        .import("logging")?
        .call_method1("getLogger", (name.as_str(),))?;
    let level = python_level(level);
    if !logger.call_method1("isEnabledFor", (level,))?.is_truthy()? {
        return Ok(());
    }
    let record = logger.call_method1(
        "makeRecord",
        (
            name,
            level,
            file,
            line.unwrap_or_default(),
            message(),
            PyTuple::empty(py),
            py.None(),
        ),
    )?;
    if let Some(created) = created {
        // Stamped when it was logged, not when it was drained.
        let then = created
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let late = record.getattr("created")?.extract::<f64>()? - then;
        let relative = record.getattr("relativeCreated")?.extract::<f64>()?;
        record.setattr("created", then)?;
        record.setattr("msecs", (then.fract() * 1000.0).floor())?;
        record.setattr("relativeCreated", relative - late * 1000.0)?;
    }
    logger.call_method1("handle", (record,))?;
    Ok(())
}

/// Runs `f` with the GIL held, leaving any exception already raised as it
/// was; an exception of `f`'s goes to `sys.unraisablehook`, as logging's
/// own handlers report theirs.
fn quietly(py: Python<'_>, f: impl FnOnce() -> PyResult<()>) {
    let raised = PyErr::take(py);
    if let Err(e) = f() {
        e.write_unraisable(py, None);
    }
    if let Some(raised) = raised {
        raised.restore(py);
    }
}

/// Hands every queued record to Python logging, then says how many were
/// dropped, if any. Cheap when the queue is empty.
pub(super) fn drain(py: Python<'_>) {
    if !PENDING.load(Ordering::Acquire) {
        return;
    }
    let (records, dropped) = {
        let mut queue = queue();
        PENDING.store(false, Ordering::Release);
        (
            std::mem::take(&mut queue.records),
            std::mem::take(&mut queue.dropped),
        )
    };
    quietly(py, || {
        for r in records {
            let message = r.message;
            emit(
                py,
                &r.target,
                r.level,
                || message,
                r.file.as_deref(),
                r.line,
                Some(r.created),
            )?;
        }
        if dropped > 0 {
            let message = format!("{dropped} log records dropped");
            emit(py, OWN_TARGET, Level::Warn, || message, None, None, None)?;
        }
        Ok(())
    });
}

/// [`drain`] from a Python thread that may not hold the GIL (the end of a
/// binding call): takes the GIL only when something is queued.
pub(super) fn drain_pending() {
    if PENDING.load(Ordering::Acquire) {
        Python::with_gil(drain);
    }
}

struct Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= LevelFilter::Debug
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if !in_call() {
            enqueue(record);
            return;
        }
        // A Python thread inside one of our calls: taking the GIL here
        // is what any Python code does. Queued records first, in order.
        Python::with_gil(|py| {
            drain(py);
            quietly(py, || {
                emit(
                    py,
                    record.target(),
                    record.level(),
                    || record.args().to_string(),
                    record.file(),
                    record.line(),
                    None,
                )
            });
        });
    }

    fn flush(&self) {}
}

/// Makes this the `log` crate's logger (once per process: a second import
/// of the module keeps the first).
pub(super) fn install() {
    if log::set_logger(&Logger).is_ok() {
        log::set_max_level(LevelFilter::Debug);
    }
}

/// Hands the log records of the core's own threads, queued since the last
/// call into the core, to Python logging now (on this thread).
#[pyfunction]
pub(super) fn drain_logs(py: Python<'_>) {
    drain(py);
}
