"""The request bodies the upload filter hands Glance (see middleware.py):
the body of any guarded request, decided at its first read; an upload
hashed as it is read; a chunked body under uWSGI."""

import webob.exc
from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class GuardedInput:
    """``wsgi.input`` as Glance reads it: at the first read the filter
    decides on the routed request; an upload is then hashed as it is
    read."""

    def __init__(self, filter_, environ, raw):
        self.filter = filter_
        self.environ = environ
        self.raw = raw
        self.length = _content_length(environ)
        self.body = None  # what the decision put in place of ``raw``
        self.refused = False

    def _call(self, method, size):
        try:
            if self.body is None:
                self.body = self.filter.decide(self.environ, self.raw,
                                               self.length)
            return getattr(self.body, method)(size)
        except webob.exc.HTTPException:
            self.refused = True
            raise
        except Exception:
            # A bug, or a library raising what it should not: a refusal
            # with the guard's words, not Glance's "500 Internal Server
            # Error" (the image is put back to queued either way).
            self.refused = True
            LOG.exception("import_guard failed on %s %s; refusing it",
                          self.environ.get("REQUEST_METHOD"),
                          self.environ.get("PATH_INFO"))
            raise self.filter.failure(self.environ) from None

    def read(self, size=-1):
        return self._call("read", size)

    def readline(self, size=-1):
        return self._call("readline", size)

    def __iter__(self):
        while True:
            chunk = self.read(64 * 1024)
            if not chunk:
                return
            yield chunk


def _content_length(environ):
    try:
        return int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def uwsgi_module():
    try:
        import uwsgi
    except ImportError:
        return None
    return uwsgi


class UwsgiChunks:
    """A chunked request body under uWSGI, as a file."""

    def __init__(self, uwsgi):
        self.uwsgi = uwsgi
        self.buffer = b""
        self.ended = False

    def read(self, size=-1):
        want = None if size is None or size < 0 else size
        while not self.ended and (want is None or len(self.buffer) < want):
            chunk = self.uwsgi.chunked_read()
            if not chunk:
                self.ended = True
            self.buffer += chunk or b""
        if want is None:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:want], self.buffer[want:]
        return data

    def readline(self, size=-1):
        return self.read(size)


class CheckedUpload:
    """The body of an upload, hashed as it is read; at its end (its
    Content-Length, or the empty read of a chunked body) the guard's
    verdict is given, and a refusal is raised from that ``read()``."""

    def __init__(self, raw, length, stream, finish):
        self.raw = raw
        self.left = length  # None: chunked
        self.stream = stream
        self.finish = finish
        self.done = False

    def read(self, size=-1):
        if self.done:
            return b""
        if self.left is not None:
            size = self.left if size is None or size < 0 else min(
                size, self.left)
        data = self.raw.read(size) if size != 0 else b""
        if data:
            self.stream.update(data)
            if self.left is not None:
                self.left -= len(data)
        if not data or self.left == 0:
            self.done = True
            self.finish()  # raises the refusal
        return data

    def readline(self, size=-1):
        return self.read(size)
