//! The staged file: refuse what is not a regular file, and what changed
//! while it was read.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::pass::{run_pass, PassError, Progress};
use super::{FileDigests, HashOptions};
use crate::algorithm::Algorithm;
use crate::error::Error;

fn kind_of(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

/// Hashes the regular file at `path` in one pass.
///
/// Refuses anything that is not a regular file before reading (a FIFO
/// would block the import forever; a symbolic link in the file's place
/// could point anywhere), checks again on the open handle, and refuses a
/// file that changed size or modification time while it was read. Logs
/// progress and, at the end, the time and throughput at INFO.
pub fn hash_file(
    path: &Path,
    algorithms: &[Algorithm],
    options: &HashOptions,
) -> Result<FileDigests, Error> {
    use std::os::unix::fs::OpenOptionsExt;

    let io_error = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let not_regular = |file_type| Error::NotARegularFile {
        path: path.to_owned(),
        kind: kind_of(file_type),
    };
    let metadata = std::fs::symlink_metadata(path).map_err(io_error)?;
    if !metadata.is_file() {
        return Err(not_regular(metadata.file_type()));
    }
    // O_NOFOLLOW: a link swapped in since the check fails to open;
    // O_NONBLOCK: so does a FIFO, instead of waiting for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(io_error)?;
    let before = file.metadata().map_err(io_error)?;
    if !before.is_file() {
        return Err(not_regular(before.file_type()));
    }

    let label = path.display().to_string();
    let mut progress = Progress::new(&label, Some(before.len()), options.progress_interval);
    let never = AtomicBool::new(false);
    let result =
        run_pass(&file, algorithms, options, &mut progress, &never).map_err(|e| match e {
            PassError::Read(source) => io_error(source),
            PassError::Digest(e) => e,
        })?;
    let after = file.metadata().map_err(io_error)?;
    if before.len() != result.bytes
        || after.len() != result.bytes
        || before.modified().ok() != after.modified().ok()
    {
        return Err(Error::Changed {
            path: path.to_owned(),
            size_before: before.len(),
            read: result.bytes,
            size_after: after.len(),
        });
    }
    let seconds = progress.started.elapsed().as_secs_f64();
    log::info!(
        target: super::LOG_TARGET,
        "hashed {label}: {} bytes ({}) in {seconds:.3} s, {:.0} MB/s",
        result.bytes,
        result
            .digests
            .keys()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join("+"),
        result.bytes as f64 / 1e6 / seconds.max(1e-9),
    );
    Ok(result)
}
