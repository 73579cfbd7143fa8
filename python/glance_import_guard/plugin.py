"""The ``import_guard`` image import plugin.

Glance runs it after the image data is staged and before any of it is
written to a store (see ``glance.async_.flows.api_image_import``). It reads
the image's properties, has the core check them and hash the staged file
once, and either lets the import go on or refuses it with every reason.

Enable it in ``glance-image-import.conf``::

    [image_import_opts]
    image_import_plugins = [import_guard]
"""

import logging as std_logging
import os

from glance.async_.flows import api_image_import
from glance.common import exception
from oslo_config import cfg
from oslo_log import log as logging
from taskflow import task
from taskflow.patterns import linear_flow as lf
from taskflow.types import failure

from glance_import_guard import (
    _core,
    decision,
    opts,
    policies,
    remote,
    signature,
    staging,
)

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
opts.register(CONF)

# Import methods whose download task restores the image itself when a later
# task fails: their revert already sets the status back to queued, moves the
# stores to failed and deletes the staged data. NOTE: setting the status here
# too makes that revert fail ("queued to queued is not allowed") and leaves
# the import lock in place (glance/async_/flows/_internal_plugins/
# web_download.py and glance_download.py, the same in glance 28 to 33).
_SELF_REVERTING_METHODS = ("web-download", "glance-download")


class _QueuedOnce:
    """An import's actions on the image, where setting ``queued`` on an
    image that is queued already does nothing instead of raising."""

    def __init__(self, actions):
        self._actions = actions

    def __getattr__(self, name):
        return getattr(self._actions, name)

    def set_image_attribute(self, **attrs):
        if attrs.get("status") == "queued" and \
                self._actions.image_status == "queued":
            del attrs["status"]
        self._actions.set_image_attribute(**attrs)


class _RevertTolerantWrapper(api_image_import.ImportActionWrapper):
    """Glance's ImportActionWrapper with ``_QueuedOnce`` actions.

    NOTE: for glance-download two of Glance's own reverts set the image to
    ``queued``: the download task's and ``_ImportMetadata``'s
    (glance/async_/flows/_internal_plugins/base_download.py,
    glance/async_/flows/api_image_import.py). Whichever runs second fails
    with "queued to queued is not allowed", taskflow stops reverting, and
    ``_ImageLock``'s revert never drops the import lock: the user sees
    "Internal Error" and cannot import again for an hour. That happens on
    any failure after the download, the guard's refusal included. Both
    reverts share the flow's one wrapper, so making the second ``queued`` a
    no-op there lets every revert run, in whatever order, and the guard's
    message reach the task.
    """

    def __enter__(self):
        return _QueuedOnce(super().__enter__())


def _tolerate_double_revert(action_wrapper):
    if type(action_wrapper) is api_image_import.ImportActionWrapper:
        action_wrapper.__class__ = _RevertTolerantWrapper


class ImportRefused(exception.UploadException):
    """The guard refused an import; the message says why.

    A subclass of Glance's ``UploadException``, so Glance shows the message
    as the import task's message instead of "Internal Error".
    """


def _local_path(uri):
    """The staged file's path, or None. NOTE: Glance stages in a file store
    and hands plugins a ``file://`` URI
    (glance/async_/flows/api_image_import.py)."""
    if uri and uri.startswith("file://"):
        return uri[len("file://"):]
    return None


class GuardImport(task.Task):
    """Refuses the import unless the image is signed and its data matches
    the digest declared for it."""

    def __init__(self, context, task_id, task_type, action_wrapper, stores,
                 import_method, method=None):
        self.context = context
        # NOTE: taskflow runs the task in a thread of its own, where
        # oslo.log would find no request context (or another request's):
        # every line of the task names the request's (its request id,
        # user and project), as oslo.log does for a ``context`` keyword.
        self.log = logging.KeywordArgumentAdapter(LOG.logger,
                                                  {"context": context})
        self.remote = (remote.Remote(method or {})
                       if import_method == "glance-download" else None)
        self.adopted = {}
        self.task_id = task_id
        self.action_wrapper = action_wrapper
        self.image_id = action_wrapper.image_id
        self.stores = stores
        self.import_method = import_method
        super().__init__(name="%s-GuardImport-%s" % (task_type, task_id))

    def execute(self, file_path, **kwargs):
        with self.action_wrapper as action:
            properties = decision.properties_of(
                action.image_extra_properties)
        self.refused_before = decision.REFUSAL_PROPERTY in properties
        properties.pop(decision.REFUSAL_PROPERTY, None)
        group = CONF.import_guard
        try:
            guard = opts.guard(CONF)
        except _core.PolicyError as e:
            self.log.error("import_guard is misconfigured, refusing import of "
                           "image %s: %s", self.image_id, e)
            self._refuse([_core.problem(
                "guard-misconfigured",
                "the import guard is misconfigured; the cloud operator must "
                "fix [import_guard] in glance-api.conf (see the glance-api "
                "log)")])

        path = _local_path(file_path)
        if path is None:
            self.log.error(
                "import_guard cannot read the staged data of image %s: it is "
                "at %r, not in a local file", self.image_id, file_path)
            self._refuse([_core.problem(
                "staged-data-unreadable",
                "the staged image data cannot be read: it is not in a local "
                "file; the cloud operator must check the staging store")])

        record = None
        before = []
        also_compute = []
        if self.remote is not None:
            record, fault = self.remote.fetch(
                self.context, CONF.import_guard.remote_timeout)
            if fault:
                self._refuse([fault])
            before = self.remote.problems_before_download(
                record, CONF.image_size_cap)
            self.adopted = remote.adoptable(
                properties, record,
                (group.hash_algo_property, group.hash_value_property))
            properties.update(decision.properties_of(self.adopted))
            remote_hash = remote.Remote.hash_of(record)
            if remote_hash:
                also_compute.append(remote_hash[0])

        def recorded(plan):
            # Only glance-direct's staged file came through the filter's
            # stage; the download methods write theirs themselves.
            if self.import_method != "glance-direct":
                return None
            return staging.recorded(guard, path, self.image_id, plan)

        def verify_signature(sig, digest_hex):
            return signature.verify(self.context, guard, sig, digest_hex,
                                    group.trusted_certificate_ids)

        try:
            skipped = policies.skip_signature(self.context, policies.target(
                self.context, "import", image_id=self.image_id))
            problems, plan, result = decision.decide(
                guard, properties, path, bool(skipped), verify_signature,
                chunk_size=group.hash_chunk_size,
                threads=group.hash_threads, also_compute=also_compute,
                recorded=recorded)
            if record is not None and result is not None:
                # The data finding first: it is the one to act on.
                before += self.remote.hash_problems(record,
                                                    result["digests"])
            problems = before + problems
        except Exception:
            # A bug, or a library raising what it should not (cursive 0.2.3
            # raised TypeError on common CA certificates). Glance shows any
            # exception but an UploadException as "Internal Error"
            # (NOTE: glance/async_/taskflow_executor.py).
            self.log.exception("import_guard failed while checking image %s; "
                               "refusing it", self.image_id)
            self._refuse([_core.problem(
                "guard-failed",
                "the import guard could not check this image because of an "
                "unexpected error; import it again, and if this persists "
                "ask the cloud operator (the glance-api log has the "
                "details)")])
        if problems:
            self._refuse(problems)
        if self.refused_before:
            with self.action_wrapper as action:
                action.pop_extra_property(decision.REFUSAL_PROPERTY)
        if self.adopted:
            with self.action_wrapper as action:
                action.set_image_extra_properties(self.adopted)
            signed = any(k in self.adopted
                         for k in remote.SIGNATURE_PROPERTIES)
            self.log.info(
                "import_guard gave image %s the %s properties of the %s, "
                "verified over the downloaded data: %s", self.image_id,
                "signature" if signed else "digest", self.remote.describe(),
                ", ".join(sorted(self.adopted)))
        self.log.info(
            "import_guard accepted image %(image)s (%(bytes)d bytes, "
            "signature %(sig)s, declared digest %(declared)s)",
            {"image": self.image_id, "bytes": result["bytes"],
             "sig": "verified" if plan["signature"] else "not required",
             "declared": "matched" if plan["declared"] else "none"})
        decision.log_exemption_used(LOG, "import", self.image_id,
                                    self.context, plan, group)
        policies.log_rule_used(LOG, "import", self.image_id, self.context,
                               plan, skipped, group)
        self.log.debug("import_guard digests of image %s: %s",
                       self.image_id, result["digests"])

    def _refuse(self, problems):
        message = decision.refusal(LOG, self.image_id, self.context,
                                   problems, "import")
        try:
            with self.action_wrapper as action:
                action.set_image_extra_properties(
                    {decision.REFUSAL_PROPERTY: message})
        except Exception as e:
            self.log.warning("import_guard could not keep its refusal on "
                             "image %s (%s): %s", self.image_id,
                             decision.REFUSAL_PROPERTY, e)
        raise ImportRefused(message)

    def revert(self, result, file_path=None, **kwargs):
        refused = isinstance(result, failure.Failure)
        if self.import_method in _SELF_REVERTING_METHODS:
            # The download task's own revert restores the image and deletes
            # the staged data; see _SELF_REVERTING_METHODS. What the guard
            # took from the remote image goes (a later task failed).
            if self.adopted and not refused:
                with self.action_wrapper as action:
                    for name in self.adopted:
                        action.pop_extra_property(name)
            return
        with self.action_wrapper as action:
            if action.image_status == "importing":
                action.set_image_attribute(status="queued")
            if refused and self.stores:
                action.remove_importing_stores(self.stores)
                action.add_failed_stores(self.stores)
        if refused:
            self._remove_staged_data(file_path)

    def _remove_staged_data(self, file_path):
        path = _local_path(file_path)
        if path is None:
            return
        staging.forget(path)
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            self.log.warning(
                "import_guard could not remove the staged data of image %s "
                "at %s: %s", self.image_id, path, e)
        else:
            self.log.debug("import_guard removed the staged data of image %s",
                           self.image_id)


class _RefusalIsNotAnError(std_logging.Filter):
    """Drops the traceback from the record of a refused import.

    NOTE: Glance runs the import flow under taskflow's
    ``DynamicLoggingListener`` with its executor's logger
    (glance/async_/taskflow_executor.py, ``_run``), which logs a failed
    task at WARNING with the exception's traceback, and oslo.log prefixes
    every traceback line with ERROR (``logging_exception_prefix``): an
    operator who alerts on ERROR would be paged for each refusal. A
    refusal is the guard doing its job: the listener's WARNING line stays
    (the task, its state, the message), and so does the guard's own
    WARNING refusal line; only the traceback goes, and only an
    ``ImportRefused``'s.
    """

    def filter(self, record):
        if record.exc_info and isinstance(record.exc_info[1], ImportRefused):
            record.exc_info = None
            record.exc_text = None
        return True


_EXECUTOR_LOGGER = "glance.async_.taskflow_executor"


def _quiet_refusals():
    logger = std_logging.getLogger(_EXECUTOR_LOGGER)
    if not any(isinstance(f, _RefusalIsNotAnError) for f in logger.filters):
        logger.addFilter(_RefusalIsNotAnError())


def get_flow(**kwargs):
    """The ``glance.image_import.plugins`` entry point.

    :param context: the request context
    :param task_id: the import task's id
    :param task_type: the import task's type
    :param action_wrapper: Glance's ImportActionWrapper for the image
    :param backend: the stores the image is being imported to
    :param import_req: the import request body
    """
    _quiet_refusals()
    task_type = kwargs["task_type"]
    import_req = kwargs.get("import_req") or {}
    method = import_req.get("method") or {}
    name = method.get("name", "glance-direct")
    if name in _SELF_REVERTING_METHODS:
        _tolerate_double_revert(kwargs["action_wrapper"])
    return lf.Flow(task_type).add(GuardImport(
        kwargs["context"], kwargs["task_id"], task_type,
        kwargs["action_wrapper"], kwargs.get("backend") or [], name, method))
