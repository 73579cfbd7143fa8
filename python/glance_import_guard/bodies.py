"""The body of a data door (an upload or a stage), as Glance's controller
reads it: the object Glance's deserializer made of the request body
(webob's body file, or under uWSGI Glance's own reader of a chunked body),
decided at its first read and hashed as it is read (see
``doors.checks``)."""

import webob.exc
from oslo_log import log as logging

from glance_import_guard import _core, decision

LOG = logging.getLogger(__name__)


def guard_failed(image_id):
    """The refusal of a request the guard failed on (a bug, or a library
    raising what it should not): the guard's words, not Glance's "500
    Internal Server Error"; the image is put back to queued either way."""
    problem = _core.problem(
        "guard-failed",
        "the import guard could not check this request because of an "
        "unexpected error; try again, and if this persists ask the cloud "
        "operator (the glance-api log has the details)")
    return webob.exc.HTTPBadRequest(explanation=_core.refusal_message(
        decision.shown(image_id or "(new)"), [problem]))


class CheckedBody:
    """A body read by Glance's controller.

    ``begin()`` runs at the first read and returns ``(stream, finish)``:
    the core's stream the bytes are hashed into, and what to run at the
    end of the body (it raises the refusal), or ``(None, None)`` to read
    the body unhashed. The end is the ``size`` bytes Glance was told of
    (the Content-Length; webob stops there without an empty read), or the
    empty read of a body of unknown size. ``refused()`` is called when
    the guard refuses; ``failed()`` gives the refusal of a guard error.
    ``close()`` ends an unfinished pass at once (the client went away,
    Glance stopped reading).
    """

    def __init__(self, raw, size, begin, refused, failed):
        self.raw = raw
        self.left = size if isinstance(size, int) and size >= 0 else None
        self.begin = begin
        self.refused = refused
        self.failed = failed
        self.started = False
        self.stream = None
        self.finish = None
        self.done = False
        #: True once the whole body was read and the guard said yes.
        self.checked = False

    def _guarded(self, step, *args):
        """Runs one step of the guard's own: a refusal marks the request;
        an unexpected error becomes the guard-failed refusal."""
        try:
            return step(*args)
        except webob.exc.HTTPException:
            self.refused()
            raise
        except Exception:
            self.refused()
            LOG.exception("import_guard failed while checking a body; "
                          "refusing it")
            raise self.failed() from None

    def read(self, size=-1):
        if self.done:
            return b""
        if not self.started:
            self.started = True
            self.stream, self.finish = self._guarded(self.begin)
        if self.left is not None:
            size = self.left if size is None or size < 0 else min(
                size, self.left)
        data = self.raw.read(size) if size != 0 else b""
        if data and self.stream is not None:
            self._guarded(self.stream.update, data)
        if data and self.left is not None:
            self.left -= len(data)
        if not data or self.left == 0:
            self.done = True
            if self.finish is not None:
                self._guarded(self.finish)
            self.checked = True
        return data

    def readline(self, size=-1):
        return self.read(size)

    def __iter__(self):
        while True:
            chunk = self.read(64 * 1024)
            if not chunk:
                return
            yield chunk

    def close(self):
        """Ends the pass if the body was not read to its end (the GIL is
        released while the core stops its threads)."""
        if self.stream is not None and not self.done:
            self.done = True
            self.stream.abort()
