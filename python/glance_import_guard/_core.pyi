"""Type stub for the Rust extension module (src/python/).

Errors: ``PolicyError`` only for a bad policy (the operator's options);
``TypeError``/``ValueError`` for a caller's bad arguments;
``StagedFileError`` for a file ``hash_file`` cannot read; ``GuardError``
for the rest (a failing digest library, a bug). No other exception, and
never a panic, crosses the boundary.
"""

import os
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypedDict, final

DEFAULT_CHUNK_SIZE: Final[int]
"""Bytes per read when ``chunk_size`` is None (1 MiB)."""
MIN_CHUNK_SIZE: Final[int]
MAX_CHUNK_SIZE: Final[int]
AUTO_THREADS: Final[int]
"""``threads`` value (0) letting the pass choose: as many threads as the
digests can keep busy, at most one per available core (``pass_threads``
tells how many)."""
MAX_THREADS: Final[int]
"""Most threads a pass may be given."""
SIGNATURE_PROPERTIES: Final[list[str]]
"""cursive's four signature properties, in its order."""

class GuardError(Exception):
    """Base class of every error raised by the core."""

class PolicyError(GuardError):
    """The [import_guard] configuration (the policy) is invalid."""

class StagedFileError(GuardError):
    """The staged image file cannot be read."""

class StagedFileChanged(StagedFileError):
    """The staged image file changed while it was read."""

ProblemCode = Literal[
    "missing-signature-property",
    "unknown-signature-hash-method",
    "unknown-signature-key-type",
    "disallowed-signature-key-type",
    "bad-signature-encoding",
    "empty-signature",
    "bad-certificate-id",
    "incomplete-declared-digest",
    "missing-declared-digest",
    "unknown-hash-algorithm",
    "disallowed-hash-algorithm",
    "bad-hash-value",
    "digest-mismatch",
    "signature-mismatch",
    "certificate-unusable",
    "certificate-unavailable",
    "certificate-expired",
    "certificate-not-yet-valid",
    "certificate-untrusted",
    "curve-mismatch",
    "key-too-small",
    "staged-data-unreadable",
    "staged-data-changed",
    "remote-image-unusable",
    "remote-hash-missing",
    "remote-hash-mismatch",
    "property-too-long",
    "guard-misconfigured",
    "guard-failed",
    "location-refused",
    "legacy-task-refused",
    "verified-property-change",
    "unknown-request",
]

class Problem(TypedDict):
    code: ProblemCode
    property: str | None
    message: str

class CertificatePolicy(TypedDict):
    require_curve_match: bool
    check_certificate_dates: bool
    min_rsa_key_size: int

class Policy(TypedDict):
    require_signature: bool
    required_signature_properties: list[str]
    supported_key_types: list[str]
    allowed_key_types: list[str]
    require_hash: bool
    hash_algo_property: str
    hash_value_property: str
    allowed_hash_algorithms: list[str]
    also_compute: list[str]
    certificate: CertificatePolicy

class DeclaredDigest(TypedDict):
    algorithm: str
    value: str
    property: str

class Signature(TypedDict):
    hash: str
    hash_method: str
    key_type: str
    certificate_id: str
    signature: bytes

class Plan(TypedDict):
    algorithms: list[str]
    declared: DeclaredDigest | None
    signature: Signature | None

class Verdict(TypedDict):
    problems: list[Problem]
    signature_required: bool
    read_data: bool
    plan: Plan

class FileVerdict(TypedDict):
    bytes: int | None
    digests: dict[str, str]
    problems: list[Problem]

def algorithms() -> list[str]:
    """The names of every digest algorithm the core computes (hashlib's
    names, plus blake3)."""

def signature_hash_methods() -> dict[str, str]:
    """cursive's ``img_signature_hash_method`` values and the algorithm
    each means, e.g. ``{"SHA-256": "sha256", ...}``."""

def problem_codes() -> list[ProblemCode]:
    """Every problem code, in the core's order. The README and this stub
    are held to this list by the tests."""

def problem(code: ProblemCode, message: str, *,
            property: str | None = None) -> Problem:
    """A problem a caller found (a signature that does not verify, a key
    manager that cannot serve a certificate).

    Raises:
        ValueError: ``code`` is not one of :func:`problem_codes`.
    """

def hash_file(
    path: str | os.PathLike[str],
    algorithms: Sequence[str],
    *,
    chunk_size: int | None = None,
    threads: int = ...,
) -> dict[str, str]:
    """Reads ``path`` once and returns ``{algorithm: lower-case hex}`` for
    every algorithm. The GIL is released for the whole pass.

    Args:
        chunk_size: bytes per read, MIN_CHUNK_SIZE..MAX_CHUNK_SIZE (None:
            DEFAULT_CHUNK_SIZE).
        threads: most threads of the pass, the reading one included, up to
            MAX_THREADS (AUTO_THREADS: the pass chooses, see pass_threads).

    Raises:
        ValueError: an unknown algorithm, or an argument out of bounds.
        StagedFileError: the path is not a readable regular file.
        StagedFileChanged: the file changed while it was read.
        GuardError: the digest library failed.
    """

def pass_threads(
    algorithms: Sequence[str],
    *,
    size: int | None = None,
    chunk_size: int | None = None,
    threads: int = ...,
) -> int:
    """How many threads ``hash_file`` runs for ``algorithms`` over
    ``size`` bytes (None: not known) with ``threads``, the reading thread
    included: what AUTO_THREADS picks on this machine, or a fixed count as
    the pass caps it (never more than can be busy at once).

    Raises:
        ValueError: an unknown algorithm, or an argument out of bounds.
    """

def seal_record(
    key: bytes,
    image_id: str,
    path: str | os.PathLike[str],
    digests: Mapping[str, str],
    bytes: int,
) -> str:
    """The sealed record (JSON, HMAC-SHA256 under ``key``) of ``digests``
    (hex by algorithm, over ``bytes`` bytes) of the file staged at
    ``path`` for ``image_id``, bound to the file's identity (device,
    inode, size, mtime and ctime in ns). Waits, at most 20 ms, until the
    clock has passed the file's last change. See ``Guard.check_record``.

    Raises:
        ValueError: an unknown algorithm, a digest that is not hex, a key
            shorter than 16 bytes, or ``bytes`` not the file's size.
        StagedFileError: the path is not a regular file.
        StagedFileChanged: the file changed while it settled.
    """

def refusal_message(
    image_id: str,
    problems: Sequence[Problem],
    action: Literal["import", "upload", "stage", "change",
                    "create"] = "import",
) -> str:
    """The message of a refusal: the image id, what was not done to it
    (``action``: "Image X was not uploaded: ... Fix what is named and
    upload again."), then every problem, numbered, missing signature
    properties folded into one sentence.

    Raises:
        ValueError: a problem is malformed or has an unknown code, or
            ``action`` is none of the five.
    """

def b64decode(value: str) -> bytes:
    """Decodes ``value`` as cursive decodes ``img_signature`` (Python's
    lenient ``base64.b64decode``).

    Raises:
        ValueError: saying why it is not base64.
    """

def drain_logs() -> None:
    """Hands the log records of the core's own threads (a pass's hashing
    threads, e.g. a stream's progress lines), queued since the last call
    into the core, to Python :mod:`logging` now, on this thread. Those
    threads never call into Python; every call into the core drains the
    queue when it ends, so this is only needed when no call comes (e.g.
    periodically, or before reading the log). The queue holds at most
    1024 records; the excess is dropped and counted in one WARNING
    ``"N log records dropped"`` of the ``glance_import_guard`` logger.
    Records below a logger's effective level are discarded here.
    """

@final
class Guard:
    """The guard: a policy validated once, and every check the plugin, the
    CLI and the other callers make with it."""

    def __init__(self, policy: Policy | Mapping[str, Any]) -> None:
        """Raises:
            PolicyError: the policy is malformed or inconsistent (e.g. it
                allows a key type the installed cursive cannot verify).
        """

    @property
    def policy(self) -> Policy:
        """The validated policy."""

    def check_properties(self, properties: Mapping[str, str], *,
                         exempt: bool) -> Verdict:
        """Every problem of an image's properties, all at once, and the plan
        for the pass over its bytes. ``exempt``: the caller need not sign
        (the caller's decision: ``policies.skip_signature``); a declared
        digest and the signature values that are set are still checked.
        ``read_data`` says whether the pass can add anything (False: the
        properties alone refuse the image and no digest was declared).

        Raises:
            TypeError: a property name or value is not a string.
        """

    def check_file(
        self,
        path: str | os.PathLike[str],
        plan: Plan | Mapping[str, Any],
        *,
        chunk_size: int | None = None,
        threads: int = ...,
    ) -> FileVerdict:
        """Reads the staged file once as ``plan`` says (GIL released) and
        compares the declared digest in constant time. A file that cannot
        be read, or that changed while read, is a problem
        (``staged-data-unreadable``, ``staged-data-changed``) with
        ``bytes`` None, logged at ERROR with the path.

        Raises:
            ValueError: a malformed plan, or an argument out of bounds.
            GuardError: the digest library failed.
        """

    def check_record(
        self,
        record: str,
        key: bytes,
        image_id: str,
        path: str | os.PathLike[str],
        plan: Plan | Mapping[str, Any],
    ) -> FileVerdict | dict[Literal["stale"], str]:
        """What ``check_file`` would give for the file at ``path``, from a
        record ``seal_record`` made when it was staged, without reading
        the file: only when the seal verifies under ``key``, the record is
        for ``image_id``, the file's identity is exactly the recorded one
        and the record has every digest of ``plan``. Otherwise
        ``{"stale": why}``: read the file.

        Raises:
            ValueError: a malformed plan, or a key shorter than 16 bytes.
        """

    def check_certificate(
        self,
        certificate: bytes,
        signature: Signature | Mapping[str, Any],
        *,
        now: int | None = None,
    ) -> list[Problem]:
        """The policy's certificate rules (curve, dates, RSA key size) on
        the DER signing certificate of ``signature`` (the plan's), at
        ``now`` (seconds since the epoch; default: now).

        Raises:
            ValueError: a malformed signature.
        """

    def stream(
        self,
        plan: Plan | Mapping[str, Any],
        *,
        chunk_size: int | None = None,
        threads: int = ...,
        progress_interval: float | None = 5.0,
    ) -> StreamCheck:
        """The pass ``check_file`` makes, over bytes that arrive chunk by
        chunk (an upload as the server reads it): the same digests, threads
        and bounds.

        Args:
            progress_interval: seconds between the pass's INFO progress
                records (logger ``glance_import_guard.hasher``; None:
                none). They are logged by the pass's own thread, so they
                reach Python logging when the next call into the core
                ends, or at :func:`drain_logs`.

        Raises:
            ValueError: a malformed plan, or an argument out of bounds
                (a negative ``progress_interval`` too).
        """

    def check_trust(
        self,
        certificate: bytes,
        certificate_id: str,
        trusted: Sequence[tuple[str, bytes]],
        *,
        now: int | None = None,
    ) -> list[Problem]:
        """Whether the DER ``certificate`` chains to one of ``trusted``
        ((id, DER) pairs from the key manager) at ``now``, with the
        semantics of cursive 0.3.1's ``verify_certificate`` as Nova calls
        it (dates, CA extensions, path lengths). Returns ``[]`` when
        trusted, else one ``certificate-untrusted`` problem. Unusable
        trusted certificates are skipped with a WARNING log record.
        """

@final
class StreamCheck:
    """An upload being checked (``Guard.stream``): ``update`` with each
    chunk, then ``finish``, or ``abort`` if the upload is abandoned. Freed
    unfinished, it aborts (the GIL released while its threads stop)."""

    def update(self, data: bytes) -> None:
        """Hashes the next chunk. Returns once it is queued (the GIL is
        released meanwhile); waits while the pass is a few chunks behind,
        so memory stays bounded.

        Raises:
            GuardError: the pass stopped (a digest library failed).
            ValueError: called after ``finish`` or ``abort``.
        """

    def finish(self) -> FileVerdict:
        """Ends the stream: the bytes, the digests and the problems of the
        declared digest, as ``Guard.check_file`` returns them.

        Raises:
            ValueError: called twice, or after ``abort``.
        """

    def abort(self) -> None:
        """Gives up on the stream (a client that went away): the pass
        stops at once without hashing the chunks still queued, its threads
        are joined (the GIL released meanwhile) and the bytes are
        forgotten. A no-op on a stream already finished or aborted.
        """
