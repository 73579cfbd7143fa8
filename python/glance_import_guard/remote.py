"""The remote image of a glance-download, as the guard checks it.

glance-download copies an image from another region's Glance. Glance
itself compares only the *size* of what it downloaded with the remote
image's (NOTE: glance/async_/flows/_internal_plugins/glance_download.py);
the remote region already knows the digest of its bytes
(``os_hash_algo``/``os_hash_value``), so the guard checks the downloaded
bytes against it, in the same pass as its other digests.

The remote image's record is read the way Glance's own ``_ImportMetadata``
task reads it (NOTE: glance/async_/flows/api_image_import.py): the image
endpoint of ``glance_region`` from the request's service catalog, and a
``GET /v2/images/{id}`` with the user's token.
"""

import json
import urllib.error
import urllib.request

from glance.async_ import utils as async_utils
from glance.common.scripts import utils as script_utils
from oslo_config import cfg
from oslo_log import log as logging

from glance_import_guard import _core
from glance_import_guard.decision import shown

LOG = logging.getLogger(__name__)

problem = _core.problem

#: The guard's own properties, which a glance-download may take from the
#: remote image (see ``adoptable``).
SIGNATURE_PROPERTIES = tuple(_core.SIGNATURE_PROPERTIES)

# glance 28 reads the remote record with urllib directly; later releases
# through open_external_uri, which re-checks import_filtering_opts.
_open = getattr(script_utils, "open_external_uri", urllib.request.urlopen)


class _TimedRequest(urllib.request.Request):
    """A request that keeps its own timeout. NOTE: Glance's
    ``open_external_uri`` (glance/common/scripts/utils.py) takes no
    timeout, and ``OpenerDirector.open`` sets ``request.timeout`` to the
    socket default (none) before its handlers connect with it; this
    request ignores that."""

    def __init__(self, url, headers, timeout):
        super().__init__(url, headers=headers)
        self._timeout = timeout

    timeout = property(lambda self: self._timeout, lambda self, value: None)


class Remote:
    """What a glance-download asks for: ``glance_region``,
    ``glance_image_id`` and ``glance_service_interface`` of the import
    request's ``method``."""

    def __init__(self, method):
        self.region = method.get("glance_region") or ""
        self.image_id = method.get("glance_image_id") or ""
        self.interface = method.get("glance_service_interface") or "public"
        #: Set by ``fetch`` when the region did not answer (a timeout, a
        #: refused connection, a 5xx): nobody knows the record yet.
        self.unanswered = False

    def describe(self):
        return "remote image %s in region %s" % (shown(self.image_id),
                                                 shown(self.region))

    def fetch(self, context, timeout=None):
        """The remote image's record, or ``(None, problem)``; a region that
        does not answer within ``timeout`` seconds is "try again
        later"."""
        try:
            endpoint = async_utils.get_glance_endpoint(
                context, self.region, self.interface)
        except Exception as e:
            LOG.info("import_guard: no %s image endpoint for region %s: %s",
                     shown(self.interface), shown(self.region), shown(e))
            return None, problem(
                "remote-image-unusable",
                "the %s cannot be imported: the service catalog has no %s "
                "image endpoint in region %s" % (
                    self.describe(), shown(self.interface),
                    shown(self.region)))
        url = "%s/v2/images/%s" % (endpoint.rstrip("/"), self.image_id)
        request = _TimedRequest(url, {
            "X-Auth-Token": context.auth_token or "",
            "Accept": "application/json"}, timeout)
        try:
            with _open(request) as response:
                record = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            if e.code in (403, 404):
                why = "it does not exist or this project cannot see it"
            else:
                self.unanswered = e.code >= 500
                why = "its region answered HTTP %d; try again later" % e.code
            return None, problem(
                "remote-image-unusable",
                "the %s cannot be imported: %s" % (self.describe(), why))
        except Exception as e:
            self.unanswered = True
            LOG.warning("import_guard could not read the %s at %s: %s: %s",
                        self.describe(), shown(url), type(e).__name__,
                        shown(e))
            return None, problem(
                "remote-image-unusable",
                "the %s cannot be imported: its region did not answer; try "
                "again later" % self.describe())
        if not isinstance(record, dict):
            return None, problem(
                "remote-image-unusable",
                "the %s cannot be imported: its region sent no image "
                "record" % self.describe())
        return record, None

    def problems_before_download(self, record, size_cap):
        """What refuses the remote image on its record alone: not active,
        bigger than ``size_cap`` (Glance's ``image_size_cap``), or the
        guard's own reasons (``guard_problems``)."""
        problems = []
        status = record.get("status")
        if status != "active":
            problems.append(problem(
                "remote-image-unusable",
                "the %s cannot be imported: it is %s, not active" % (
                    self.describe(), shown(status))))
        size = record.get("size")
        if isinstance(size, int) and size_cap and size > size_cap:
            problems.append(problem(
                "remote-image-unusable",
                "the %s cannot be imported: it has %d bytes, more than "
                "this cloud's image_size_cap of %d" % (
                    self.describe(), size, size_cap)))
        return problems + self.guard_problems(record)

    def guard_problems(self, record):
        """The guard's own reason to refuse the remote image on its record:
        no digest to check the downloaded bytes against (unless the
        operator allows that)."""
        if self.hash_of(record) or \
                not cfg.CONF.import_guard.require_remote_hash:
            return []
        return [problem(
            "remote-hash-missing",
            "the %s has no os_hash_value, so the downloaded bytes cannot "
            "be checked against it (images that Nova put directly into a "
            "shared store have none); ask its owner to upload it again, "
            "or the cloud operator to allow it ([import_guard] "
            "require_remote_hash)" % self.describe())]

    @staticmethod
    def hash_of(record):
        """``(algorithm, hex)`` of the remote image's ``os_hash_*``, or
        None."""
        algo = record.get("os_hash_algo")
        value = record.get("os_hash_value")
        if isinstance(algo, str) and isinstance(value, str) and algo and \
                value:
            return algo.lower(), value.lower()
        return None

    def hash_problems(self, record, digests):
        """The downloaded bytes (``digests``: the pass's hex digests)
        against the remote image's ``os_hash_value``."""
        remote = self.hash_of(record)
        if remote is None:
            return []
        algo, expected = remote
        actual = digests.get(algo)
        if actual is None:
            return [problem(
                "remote-hash-missing",
                "the %s has os_hash_algo %r, which the guard cannot "
                "compute, so the downloaded bytes cannot be checked" % (
                    self.describe(), algo))]
        if actual.lower() != expected:
            return [problem(
                "remote-hash-mismatch",
                "the downloaded data does not match the %s: its %s digest "
                "is %s, but the remote image's os_hash_value is %s (the "
                "data changed in the remote store or on the way)" % (
                    self.describe(), algo, actual, expected))]
        return []


def adoptable(local, record, declared_properties):
    """The guard's properties the local image takes from the remote one:
    the signature set when the local image has none of it, and the
    declared digest when the local image declares none. Glance copies only
    ``[glance_download_properties] extra_properties``, which holds no
    ``img_signature*`` by default; taking them is safe because the guard
    then verifies them over the downloaded bytes, like any other.
    ``declared_properties``: the names of the declared algorithm and
    value (``[import_guard] hash_algo_property``, ``hash_value_property``).
    """
    adopted = {}
    for names in (SIGNATURE_PROPERTIES, tuple(declared_properties)):
        if any(local.get(n) for n in names):
            continue
        for name in names:
            value = record.get(name)
            if isinstance(value, str) and value:
                adopted[name] = value
    return adopted
