//! The exceptions of `_core`, what each core error becomes, and the
//! wrapper every call into the core goes through.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

use super::logging::{drain_pending, InCall};
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

pub(super) fn to_py(error: Error) -> PyErr {
    match error {
        Error::UnknownAlgorithm { .. } | Error::Argument(_) => {
            PyValueError::new_err(error.to_string())
        }
        Error::Io { .. } | Error::NotARegularFile { .. } => {
            StagedFileError::new_err(error.to_string())
        }
        Error::Changed { .. } => StagedFileChanged::new_err(error.to_string()),
        Error::Policy(_) => PolicyError::new_err(error.to_string()),
        Error::Digest { .. } | Error::Internal(_) => GuardError::new_err(error.to_string()),
    }
}

/// Runs `f`, a call into the core on behalf of Python (on a Python
/// thread, the GIL held or not), turning a panic into a `GuardError`
/// instead of letting PyO3 raise `PanicException` (a `BaseException` that
/// Glance would not catch). Meanwhile this thread's log records go to
/// Python at once; at the end, those the core's own threads queued do.
pub(super) fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    let in_call = InCall::enter();
    let result = catch_unwind(AssertUnwindSafe(f));
    drop(in_call);
    drain_pending();
    result.unwrap_or_else(|payload| {
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
