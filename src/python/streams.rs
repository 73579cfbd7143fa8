//! The bindings of the two stream-shaped parts of the core: an upload
//! hashed as it is read (`StreamCheck`), and the record of a stage's
//! digests (`seal_record`, read back by `Guard.check_record`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::{file_verdict, guarded, to_py};
use crate::algorithm::Algorithm;
use crate::guard;
use crate::hasher;
use crate::record::{self, FileIdentity};
use crate::Error;

/// An upload being checked: `update()` with each chunk as it is read
/// (the GIL is released while it is queued), then `finish()`; or
/// `abort()` to give up on it. Freed unfinished, it aborts, the GIL
/// released while its threads stop.
#[pyclass(frozen, module = "glance_import_guard._core")]
pub(crate) struct StreamCheck {
    inner: Mutex<guard::StreamCheck>,
}

impl StreamCheck {
    pub(crate) fn new(check: guard::StreamCheck) -> Self {
        StreamCheck {
            inner: Mutex::new(check),
        }
    }

    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut guard::StreamCheck) -> Result<T, Error> + Send,
    ) -> PyResult<T> {
        py.allow_threads(|| {
            guarded(|| {
                let mut check = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut check).map_err(to_py)
            })
        })
    }
}

#[pymethods]
impl StreamCheck {
    /// Hashes the next chunk of the stream.
    fn update(&self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        self.with(py, |check| check.update(data))
    }

    /// Ends the stream: {"bytes", "digests", "problems"}, as
    /// `Guard.check_file` returns for a file.
    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let verdict = self.with(py, |check| check.finish())?;
        file_verdict(py, &verdict)
    }

    /// Gives up on the stream: its pass stops without hashing what is
    /// queued, its threads are joined (the GIL released) and its bytes
    /// are forgotten. A no-op once finished or aborted.
    fn abort(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |check| {
            check.abort();
            Ok(())
        })
    }
}

impl Drop for StreamCheck {
    /// Freed by Python (the GIL held, on whichever thread runs the
    /// collector) before its end: the pass is aborted and joined with the
    /// GIL released, for its threads may be waiting for it.
    fn drop(&mut self) {
        let check = self.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        if check.is_open() {
            // Re-entrant where the GIL is held (a dealloc); takes it if not.
            Python::with_gil(|py| py.allow_threads(|| check.abort()));
        }
    }
}

/// The sealed record (JSON) of the digests of the file staged at `path`
/// for `image_id` (hex digests by algorithm, over `bytes` bytes), under
/// `key`. Waits for the file to settle (at most 20 ms); raises
/// GuardError if it changes meanwhile or does not have `bytes` bytes.
#[pyfunction]
pub(crate) fn seal_record(
    py: Python<'_>,
    key: &[u8],
    image_id: &str,
    path: PathBuf,
    digests: BTreeMap<String, String>,
    bytes: u64,
) -> PyResult<String> {
    let mut parsed = BTreeMap::new();
    for (name, value) in &digests {
        let algorithm: Algorithm = name.parse().map_err(to_py)?;
        let value =
            hex::decode(value).map_err(|e| PyValueError::new_err(format!("{name} digest: {e}")))?;
        parsed.insert(algorithm, value);
    }
    let digests = hasher::FileDigests {
        bytes,
        digests: parsed,
    };
    py.allow_threads(|| {
        guarded(|| {
            let identity = FileIdentity::settled(&path).map_err(to_py)?;
            record::seal(key, image_id, identity, &digests).map_err(to_py)
        })
    })
}
