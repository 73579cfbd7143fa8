//! The PyO3 bindings: `glance_import_guard._core`.
//!
//! Thin by design: each function converts its arguments (plain Python data,
//! through serde where it is structured), calls the core, and converts the
//! result or error back. No rule lives here. `Guard` is the core's guard,
//! built once from a policy. Errors: `PolicyError` only for a bad policy
//! (the operator's options); `TypeError`/`ValueError` for a caller's bad
//! arguments; `StagedFileError` for an unreadable file; `GuardError` for
//! the rest. A panic in the core is caught at this boundary and becomes a
//! `GuardError` too, never a `PanicException`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pythonize::{depythonize, pythonize};

use crate::algorithm::{Algorithm, SIGNATURE_HASH_METHODS};
use crate::encoding::python_b64decode;
use crate::guard;
use crate::hasher::{self, HashOptions};
use crate::plan::{FileVerdict, Plan, Signature};
use crate::policy::Policy;
use crate::problem::{refusal_message as message_of_refusal, Action, Problem, ProblemCode};

mod errors;
mod logging;
mod streams;
use errors::{guarded, to_py, GuardError, PolicyError, StagedFileChanged, StagedFileError};
use streams::{seal_record, StreamCheck};

fn parse_algorithms(names: &[String]) -> PyResult<Vec<Algorithm>> {
    names
        .iter()
        .map(|n| n.parse::<Algorithm>().map_err(to_py))
        .collect()
}

fn options(chunk_size: Option<usize>, threads: usize) -> PyResult<HashOptions> {
    HashOptions::new(chunk_size.unwrap_or(hasher::DEFAULT_CHUNK_SIZE), threads).map_err(to_py)
}

/// A caller's structured argument (a plan, a signature, problems): a
/// malformed one is the caller's bug, a `ValueError`.
fn argument<T: serde::de::DeserializeOwned>(value: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    depythonize(value).map_err(|e| PyValueError::new_err(format!("invalid {what}: {e}")))
}

/// The operator's policy: a malformed one is a `PolicyError`.
fn policy_of(value: &Bound<'_, PyAny>) -> PyResult<Policy> {
    depythonize(value).map_err(|e| PolicyError::new_err(format!("invalid policy: {e}")))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn hexes(digests: &hasher::FileDigests) -> BTreeMap<&'static str, String> {
    digests
        .digests
        .iter()
        .map(|(a, d)| (a.name(), hex::encode(d)))
        .collect()
}

/// The names of every digest algorithm the core computes.
#[pyfunction]
fn algorithms() -> Vec<&'static str> {
    Algorithm::ALL.iter().map(|a| a.name()).collect()
}

/// cursive's signature hash methods and the algorithm each means.
#[pyfunction]
fn signature_hash_methods() -> BTreeMap<&'static str, &'static str> {
    SIGNATURE_HASH_METHODS
        .iter()
        .map(|(m, a)| (*m, a.name()))
        .collect()
}

/// Every problem code, in the core's order.
#[pyfunction]
fn problem_codes() -> Vec<&'static str> {
    ProblemCode::ALL.iter().map(|c| c.as_str()).collect()
}

/// A problem found by a caller (a signature that does not verify, a
/// certificate the key manager cannot serve). ValueError for an unknown
/// code.
#[pyfunction]
#[pyo3(signature = (code, message, *, property=None))]
fn problem<'py>(
    py: Python<'py>,
    code: &str,
    message: String,
    property: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let code = ProblemCode::from_code(code).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown problem code {code:?} (see problem_codes())"
        ))
    })?;
    Ok(pythonize(
        py,
        &Problem {
            code,
            property,
            message,
        },
    )?)
}

/// Hashes the file at `path` once with every algorithm, on up to `threads`
/// threads; the GIL is released for the whole pass. Returns {name: hex}.
#[pyfunction]
#[pyo3(signature = (path, algorithms, *, chunk_size=None, threads=hasher::AUTO_THREADS))]
fn hash_file(
    py: Python<'_>,
    path: PathBuf,
    algorithms: Vec<String>,
    chunk_size: Option<usize>,
    threads: usize,
) -> PyResult<BTreeMap<&'static str, String>> {
    let algorithms = parse_algorithms(&algorithms)?;
    let options = options(chunk_size, threads)?;
    let digests = py.allow_threads(|| {
        guarded(|| hasher::hash_file(&path, &algorithms, &options).map_err(to_py))
    })?;
    Ok(hexes(&digests))
}

/// How many threads `hash_file` runs for `algorithms` over `size` bytes
/// (None: unknown) with `threads` (AUTO_THREADS: what the pass picks on
/// this machine), the reading thread included.
#[pyfunction]
#[pyo3(signature = (algorithms, *, size=None, chunk_size=None, threads=hasher::AUTO_THREADS))]
fn pass_threads(
    algorithms: Vec<String>,
    size: Option<u64>,
    chunk_size: Option<usize>,
    threads: usize,
) -> PyResult<usize> {
    let algorithms = parse_algorithms(&algorithms)?;
    let options = options(chunk_size, threads)?;
    Ok(hasher::pass_threads(&algorithms, &options, size))
}

/// The message of a refusal: the image id, what was not done to it
/// (`action`: import, upload, stage, change, create) and every problem.
#[pyfunction]
#[pyo3(signature = (image_id, problems, action = "import"))]
fn refusal_message(image_id: &str, problems: &Bound<'_, PyAny>, action: &str) -> PyResult<String> {
    let problems: Vec<Problem> = argument(problems, "problems")?;
    let action = Action::from_name(action).ok_or_else(|| {
        PyValueError::new_err(format!(
            "action must be import, upload, stage, change or create, not {action:?}"
        ))
    })?;
    guarded(|| Ok(message_of_refusal(image_id, &problems, action)))
}

/// Decodes `value` exactly as cursive decodes `img_signature` (Python's
/// lenient base64). Raises ValueError saying why it is not base64.
#[pyfunction]
fn b64decode<'py>(py: Python<'py>, value: &str) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = python_b64decode(value).map_err(|e| PyValueError::new_err(format!("value {e}")))?;
    Ok(PyBytes::new(py, &bytes))
}

/// The guard: a policy validated once (`PolicyError` if it is bad), and the
/// checks every caller makes with it.
#[pyclass(frozen, module = "glance_import_guard._core")]
struct Guard {
    inner: guard::Guard,
}

#[pymethods]
impl Guard {
    #[new]
    fn new(policy: &Bound<'_, PyAny>) -> PyResult<Self> {
        let policy = policy_of(policy)?;
        let inner = guarded(|| guard::Guard::new(policy).map_err(to_py))?;
        Ok(Guard { inner })
    }

    /// The validated policy.
    #[getter]
    fn policy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, self.inner.policy())?)
    }

    /// Every problem of the image properties for an import by a caller who
    /// is `exempt` from the signature requirement or not (the caller's
    /// policy decides), and the plan for the pass.
    #[pyo3(signature = (properties, *, exempt))]
    fn check_properties<'py>(
        &self,
        py: Python<'py>,
        properties: BTreeMap<String, String>,
        exempt: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let verdict = guarded(|| Ok(self.inner.check_properties(&properties, exempt)))?;
        Ok(pythonize(py, &verdict)?)
    }

    /// Hashes the staged file as `plan` says (GIL released) and compares
    /// the declared digest in constant time.
    #[pyo3(signature = (path, plan, *, chunk_size=None, threads=hasher::AUTO_THREADS))]
    fn check_file<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        plan: &Bound<'py, PyAny>,
        chunk_size: Option<usize>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let plan: Plan = argument(plan, "plan")?;
        let options = options(chunk_size, threads)?;
        let verdict = py.allow_threads(|| {
            guarded(|| self.inner.check_file(&path, &plan, &options).map_err(to_py))
        })?;
        file_verdict(py, &verdict)
    }

    /// The verdict of a staged-file record for the file at `path`, as
    /// `check_file` gives it, without reading the file; or {"stale":
    /// reason} when the record may not stand for it (then read it).
    fn check_record<'py>(
        &self,
        py: Python<'py>,
        record: &str,
        key: &[u8],
        image_id: &str,
        path: PathBuf,
        plan: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let plan: Plan = argument(plan, "plan")?;
        let checked = py.allow_threads(|| {
            guarded(|| {
                self.inner
                    .check_record(record, key, image_id, &path, &plan)
                    .map_err(to_py)
            })
        })?;
        match checked {
            Ok(verdict) => file_verdict(py, &verdict),
            Err(stale) => {
                let result = PyDict::new(py);
                result.set_item("stale", stale.0)?;
                Ok(result.into_any())
            }
        }
    }

    /// The policy's rules on the DER signing certificate of `signature`
    /// (the plan's), at `now` (seconds since the epoch; default: now).
    #[pyo3(signature = (certificate, signature, *, now=None))]
    fn check_certificate<'py>(
        &self,
        py: Python<'py>,
        certificate: &[u8],
        signature: &Bound<'py, PyAny>,
        now: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let signature: Signature = argument(signature, "signature")?;
        let now = now.unwrap_or_else(unix_now);
        let problems = guarded(|| Ok(self.inner.check_certificate(certificate, &signature, now)))?;
        Ok(pythonize(py, &problems)?)
    }

    /// The pass over an upload fed chunk by chunk: a `StreamCheck`; it
    /// logs its progress every `progress_interval` seconds (None: never).
    #[pyo3(signature = (
        plan, *, chunk_size=None, threads=hasher::AUTO_THREADS,
        progress_interval=Some(hasher::DEFAULT_PROGRESS_INTERVAL.as_secs_f64()),
    ))]
    fn stream(
        &self,
        plan: &Bound<'_, PyAny>,
        chunk_size: Option<usize>,
        threads: usize,
        progress_interval: Option<f64>,
    ) -> PyResult<StreamCheck> {
        let plan: Plan = argument(plan, "plan")?;
        let mut options = options(chunk_size, threads)?;
        options.progress_interval = progress_interval
            .map(|s| {
                Duration::try_from_secs_f64(s).map_err(|_| {
                    PyValueError::new_err(format!("progress_interval {s} is not a duration"))
                })
            })
            .transpose()?;
        let check = guarded(|| self.inner.stream(plan, &options).map_err(to_py))?;
        Ok(StreamCheck::new(check))
    }

    /// Whether the DER `certificate` chains to one of `trusted` ((id, DER)
    /// pairs), at `now` (default: now).
    #[pyo3(signature = (certificate, certificate_id, trusted, *, now=None))]
    fn check_trust<'py>(
        &self,
        py: Python<'py>,
        certificate: &[u8],
        certificate_id: &str,
        trusted: Vec<(String, Vec<u8>)>,
        now: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let now = now.unwrap_or_else(unix_now);
        let problems = py.allow_threads(|| {
            guarded(|| {
                Ok(self
                    .inner
                    .check_trust(certificate, certificate_id, &trusted, now))
            })
        })?;
        Ok(pythonize(py, &problems)?)
    }
}

pub(crate) fn file_verdict<'py>(
    py: Python<'py>,
    verdict: &FileVerdict,
) -> PyResult<Bound<'py, PyAny>> {
    let result = PyDict::new(py);
    match &verdict.digests {
        Some(d) => {
            result.set_item("bytes", d.bytes)?;
            result.set_item("digests", hexes(d))?;
        }
        None => {
            result.set_item("bytes", py.None())?;
            result.set_item("digests", PyDict::new(py))?;
        }
    }
    result.set_item("problems", pythonize(py, &verdict.problems)?)?;
    Ok(result.into_any())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Rust `log` records go to Python `logging` under the module path with
    // dots (`glance_import_guard.hasher`), so they land in Glance's log;
    // never from a thread of the core's own (see logging.rs).
    logging::install();

    m.add("GuardError", m.py().get_type::<GuardError>())?;
    m.add("PolicyError", m.py().get_type::<PolicyError>())?;
    m.add("StagedFileError", m.py().get_type::<StagedFileError>())?;
    m.add("StagedFileChanged", m.py().get_type::<StagedFileChanged>())?;
    m.add("DEFAULT_CHUNK_SIZE", hasher::DEFAULT_CHUNK_SIZE)?;
    m.add("MIN_CHUNK_SIZE", hasher::MIN_CHUNK_SIZE)?;
    m.add("MAX_CHUNK_SIZE", hasher::MAX_CHUNK_SIZE)?;
    m.add("AUTO_THREADS", hasher::AUTO_THREADS)?;
    m.add(
        "SIGNATURE_PROPERTIES",
        crate::rules::SIGNATURE_PROPERTIES.to_vec(),
    )?;
    m.add("MAX_THREADS", hasher::MAX_THREADS)?;
    m.add_class::<Guard>()?;
    m.add_class::<StreamCheck>()?;
    m.add_function(wrap_pyfunction!(algorithms, m)?)?;
    m.add_function(wrap_pyfunction!(signature_hash_methods, m)?)?;
    m.add_function(wrap_pyfunction!(problem_codes, m)?)?;
    m.add_function(wrap_pyfunction!(problem, m)?)?;
    m.add_function(wrap_pyfunction!(hash_file, m)?)?;
    m.add_function(wrap_pyfunction!(pass_threads, m)?)?;
    m.add_function(wrap_pyfunction!(seal_record, m)?)?;
    m.add_function(wrap_pyfunction!(refusal_message, m)?)?;
    m.add_function(wrap_pyfunction!(b64decode, m)?)?;
    m.add_function(wrap_pyfunction!(logging::drain_logs, m)?)?;
    Ok(())
}
