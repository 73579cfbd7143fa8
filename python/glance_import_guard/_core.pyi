"""Type stub for the Rust extension module (src/python.rs)."""

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

DEFAULT_CHUNK_SIZE: int
MIN_CHUNK_SIZE: int
MAX_CHUNK_SIZE: int

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
    "certificate-expired",
    "certificate-not-yet-valid",
    "certificate-untrusted",
    "curve-mismatch",
    "key-too-small",
    "staged-data-unreadable",
    "staged-data-changed",
    "property-too-long",
    "guard-misconfigured",
    "guard-failed",
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
    exempt_roles: list[str]
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
    plan: Plan

class FileVerdict(TypedDict):
    bytes: int
    digests: dict[str, str]
    problems: list[Problem]

def algorithms() -> list[str]: ...
def signature_hash_methods() -> dict[str, str]: ...
def hash_file(
    path: str | os.PathLike[str],
    algorithms: Sequence[str],
    chunk_size: int | None = None,
    threads: int | None = None,
) -> dict[str, str]: ...
def validate_policy(policy: Policy | Mapping[str, Any]) -> None: ...
def check_properties(
    properties: Mapping[str, str],
    policy: Policy | Mapping[str, Any],
    roles: Sequence[str],
) -> Verdict: ...
def check_file(
    path: str | os.PathLike[str],
    plan: Plan | Mapping[str, Any],
    chunk_size: int | None = None,
    threads: int | None = None,
) -> FileVerdict: ...
def b64decode(value: str) -> bytes: ...
def check_certificate(
    certificate: bytes,
    signature: Signature | Mapping[str, Any],
    policy: Policy | Mapping[str, Any],
    now: int | None = None,
) -> list[Problem]: ...
def check_trust(
    certificate: bytes,
    certificate_id: str,
    trusted: Sequence[tuple[str, bytes]],
    now: int | None = None,
) -> list[Problem]:
    """Whether the DER ``certificate`` chains to one of ``trusted`` ((id,
    DER) pairs from the key manager) at ``now`` (seconds since the epoch;
    default: now), with the semantics of cursive 0.3.1's
    ``verify_certificate`` as Nova calls it (dates, CA extensions, path
    lengths). Returns ``[]`` when trusted, else one
    ``certificate-untrusted`` problem. Unusable trusted certificates are
    skipped with a WARNING log record."""

def refusal_message(image_id: str, problems: Sequence[Problem]) -> str: ...
