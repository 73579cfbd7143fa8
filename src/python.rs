//! The PyO3 bindings: `glance_import_guard._core`.
//!
//! Thin by design: each function converts its arguments (plain Python data,
//! through serde where it is structured), calls the core, and converts the
//! result or error back. No rule lives here. Errors arrive in Python as
//! `GuardError` subclasses or `ValueError`; a panic in the core is caught at
//! this boundary and becomes a `GuardError` too, never a `PanicException`.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pythonize::{depythonize, pythonize};

use crate::algorithm::{Algorithm, SIGNATURE_HASH_METHODS};
use crate::certificate;
use crate::encoding::python_b64decode;
use crate::hasher::{self, HashOptions};
use crate::rules::{self, Plan, Policy, Problem, Signature};
use crate::trust;
use crate::Error;

create_exception!(
    glance_import_guard,
    GuardError,
    PyException,
    "Base class of every error raised by glance_import_guard's core."
);
create_exception!(
    glance_import_guard,
    PolicyError,
    GuardError,
    "The [import_guard] configuration (the policy) is invalid."
);
create_exception!(
    glance_import_guard,
    StagedFileError,
    GuardError,
    "The staged image file cannot be read."
);
create_exception!(
    glance_import_guard,
    StagedFileChanged,
    StagedFileError,
    "The staged image file changed while it was read."
);

fn to_py(error: Error) -> PyErr {
    match error {
        Error::UnknownAlgorithm(_) => PyValueError::new_err(error.to_string()),
        Error::Io { .. } | Error::NotARegularFile { .. } => {
            StagedFileError::new_err(error.to_string())
        }
        Error::Changed { .. } => StagedFileChanged::new_err(error.to_string()),
        Error::Policy(_) => PolicyError::new_err(error.to_string()),
        Error::Digest { .. } | Error::Internal(_) => GuardError::new_err(error.to_string()),
    }
}

/// Runs `f`, turning a panic into a `GuardError` instead of letting PyO3
/// raise `PanicException` (a `BaseException` that Glance would not catch).
fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(GuardError::new_err(format!(
            "internal error in glance_import_guard: {what}"
        )))
    })
}

fn parse_algorithms(names: &[String]) -> PyResult<Vec<Algorithm>> {
    names
        .iter()
        .map(|n| n.parse::<Algorithm>().map_err(to_py))
        .collect()
}

fn options(chunk_size: Option<usize>, threads: Option<usize>) -> PyResult<HashOptions> {
    let mut options = match chunk_size {
        None => HashOptions::default(),
        Some(n) => HashOptions::with_chunk_size(n).map_err(to_py)?,
    };
    options.threads = threads.unwrap_or(0);
    Ok(options)
}

fn depythonize_as<'py, T: serde::de::DeserializeOwned>(
    value: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<T> {
    depythonize(value).map_err(|e| PolicyError::new_err(format!("invalid {what}: {e}")))
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

/// Hashes the file at `path` once with every algorithm, on up to `threads`
/// threads (None or 0: one per core); the GIL is released for the whole
/// pass. Returns {name: lower-case hex}.
#[pyfunction]
#[pyo3(signature = (path, algorithms, chunk_size=None, threads=None))]
fn hash_file(
    py: Python<'_>,
    path: PathBuf,
    algorithms: Vec<String>,
    chunk_size: Option<usize>,
    threads: Option<usize>,
) -> PyResult<BTreeMap<&'static str, String>> {
    let algorithms = parse_algorithms(&algorithms)?;
    let options = options(chunk_size, threads)?;
    let digests = py.allow_threads(|| {
        guarded(|| hasher::hash_file(&path, &algorithms, &options).map_err(to_py))
    })?;
    Ok(digests
        .digests
        .iter()
        .map(|(a, d)| (a.name(), hex::encode(d)))
        .collect())
}

/// Raises `PolicyError` if `policy` is malformed or inconsistent.
#[pyfunction]
fn validate_policy(policy: &Bound<'_, PyAny>) -> PyResult<()> {
    let policy: Policy = depythonize_as(policy, "policy")?;
    guarded(|| policy.validate().map_err(to_py))
}

/// Checks image properties against the policy for an import by `roles`.
/// Returns the verdict: {"problems": [...], "signature_required": bool,
/// "plan": {...}}.
#[pyfunction]
fn check_properties<'py>(
    py: Python<'py>,
    properties: BTreeMap<String, String>,
    policy: &Bound<'py, PyAny>,
    roles: Vec<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let policy: Policy = depythonize_as(policy, "policy")?;
    guarded(|| {
        policy.validate().map_err(to_py)?;
        let verdict = rules::check_properties(&properties, &policy, &roles);
        Ok(pythonize(py, &verdict)?)
    })
}

/// Hashes the staged file as `plan` says (GIL released) and compares the
/// declared digest in constant time. Returns {"bytes": int, "digests":
/// {name: hex}, "problems": [...]}.
#[pyfunction]
#[pyo3(signature = (path, plan, chunk_size=None, threads=None))]
fn check_file<'py>(
    py: Python<'py>,
    path: PathBuf,
    plan: &Bound<'py, PyAny>,
    chunk_size: Option<usize>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let plan: Plan = depythonize_as(plan, "plan")?;
    let options = options(chunk_size, threads)?;
    let (digests, problems) = py.allow_threads(|| {
        guarded(|| {
            let digests = hasher::hash_file(&path, &plan.algorithms, &options).map_err(to_py)?;
            let problems = rules::check_digests(&plan, &digests);
            Ok((digests, problems))
        })
    })?;
    let result = PyDict::new(py);
    result.set_item("bytes", digests.bytes)?;
    let hexes: BTreeMap<&str, String> = digests
        .digests
        .iter()
        .map(|(a, d)| (a.name(), hex::encode(d)))
        .collect();
    result.set_item("digests", hexes)?;
    result.set_item("problems", pythonize(py, &problems)?)?;
    Ok(result.into_any())
}

/// Checks the signing certificate (DER) for `signature` (the plan's) against
/// the policy's certificate rules, at `now` (seconds since the epoch;
/// default: the current time). Returns the problems.
#[pyfunction]
#[pyo3(signature = (certificate, signature, policy, now=None))]
fn check_certificate<'py>(
    py: Python<'py>,
    certificate: &[u8],
    signature: &Bound<'py, PyAny>,
    policy: &Bound<'py, PyAny>,
    now: Option<i64>,
) -> PyResult<Bound<'py, PyAny>> {
    let signature: Signature = depythonize_as(signature, "signature")?;
    let policy: Policy = depythonize_as(policy, "policy")?;
    let now = now.unwrap_or_else(unix_now);
    guarded(|| {
        let problems =
            certificate::check_certificate(certificate, &signature, &policy.certificate, now);
        Ok(pythonize(py, &problems)?)
    })
}

/// Whether `certificate` (DER) chains to one of `trusted`, a list of
/// (id, DER) pairs, at `now` (seconds since the epoch; default: the
/// current time), as cursive 0.3.1's `verify_certificate` decides with
/// Nova's settings. Returns the problems (empty: trusted).
#[pyfunction]
#[pyo3(signature = (certificate, certificate_id, trusted, now=None))]
fn check_trust<'py>(
    py: Python<'py>,
    certificate: &[u8],
    certificate_id: &str,
    trusted: Vec<(String, Vec<u8>)>,
    now: Option<i64>,
) -> PyResult<Bound<'py, PyAny>> {
    let now = now.unwrap_or_else(unix_now);
    let problems = py.allow_threads(|| {
        guarded(|| {
            Ok(trust::check_trust(
                certificate,
                certificate_id,
                &trusted,
                now,
            ))
        })
    })?;
    Ok(pythonize(py, &problems)?)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The message of a refused import: the image id and every problem.
#[pyfunction]
fn refusal_message(image_id: &str, problems: &Bound<'_, PyAny>) -> PyResult<String> {
    let problems: Vec<Problem> = depythonize_as(problems, "problems")?;
    guarded(|| Ok(rules::refusal_message(image_id, &problems)))
}

/// Decodes `value` exactly as cursive decodes `img_signature` (Python's
/// lenient base64). Raises ValueError saying why it is not base64.
#[pyfunction]
fn b64decode<'py>(py: Python<'py>, value: &str) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = python_b64decode(value).map_err(|e| PyValueError::new_err(format!("value {e}")))?;
    Ok(PyBytes::new(py, &bytes))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Rust `log` records go to Python `logging` under the module path with
    // dots (`glance_import_guard.hasher`), so they land in Glance's log.
    // No caching: levels follow oslo.log's setup whenever it happens.
    let _ = pyo3_log::Logger::new(m.py(), pyo3_log::Caching::Nothing)?.install();

    m.add("GuardError", m.py().get_type::<GuardError>())?;
    m.add("PolicyError", m.py().get_type::<PolicyError>())?;
    m.add("StagedFileError", m.py().get_type::<StagedFileError>())?;
    m.add("StagedFileChanged", m.py().get_type::<StagedFileChanged>())?;
    m.add("DEFAULT_CHUNK_SIZE", hasher::DEFAULT_CHUNK_SIZE)?;
    m.add("MIN_CHUNK_SIZE", hasher::MIN_CHUNK_SIZE)?;
    m.add("MAX_CHUNK_SIZE", hasher::MAX_CHUNK_SIZE)?;
    m.add_function(wrap_pyfunction!(algorithms, m)?)?;
    m.add_function(wrap_pyfunction!(check_trust, m)?)?;
    m.add_function(wrap_pyfunction!(signature_hash_methods, m)?)?;
    m.add_function(wrap_pyfunction!(hash_file, m)?)?;
    m.add_function(wrap_pyfunction!(validate_policy, m)?)?;
    m.add_function(wrap_pyfunction!(check_properties, m)?)?;
    m.add_function(wrap_pyfunction!(check_file, m)?)?;
    m.add_function(wrap_pyfunction!(b64decode, m)?)?;
    m.add_function(wrap_pyfunction!(refusal_message, m)?)?;
    m.add_function(wrap_pyfunction!(check_certificate, m)?)?;
    Ok(())
}
