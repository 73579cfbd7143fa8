"""Raw HTTP/1.1 over a socket, for requests no client library sends: any
method with any body framing (Content-Length, chunked, none), paths sent
byte for byte as written (``//v2//images``, ``%66ile``, ``/./``), bodies
that stop half-way, clients that go silent and vanish.

Every request says ``Connection: close`` and the response is read to the
end of the connection, so framing mistakes of the server cannot make one
response swallow the next.
"""

import json
import socket
import threading
import time

CHUNK = 65536


class Response:
    """A parsed response: ``status`` (int, 0 if the server closed without
    answering), ``headers`` (lower-case names), ``body`` (bytes)."""

    def __init__(self, status, reason, headers, body, raw):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.raw = raw

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %s %s: %r>" % (self.status, self.reason,
                                         self.body[:300])


def frame(body, framing):
    """(headers, bytes on the wire) for ``body`` sent as ``framing``:

    - ``length``: Content-Length and the body;
    - ``chunked``: Transfer-Encoding: chunked, 64 KiB chunks, the last
      chunk (an empty body is the terminating chunk alone);
    - ``none``: neither header, no bytes (HTTP/1.1 says: no body).
    """
    if framing == "length":
        return {"Content-Length": str(len(body))}, body
    if framing == "chunked":
        return {"Transfer-Encoding": "chunked"}, chunked(body)
    if framing == "none":
        return {}, b""
    raise ValueError(framing)


def chunked(body, size=CHUNK, last=True):
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]),
                                      body[i:i + size])
                   for i in range(0, len(body), size))
    return out + (b"0\r\n\r\n" if last else b"")


def head_bytes(method, target, headers):
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1",
             "Connection: close"]
    lines += ["%s: %s" % kv for kv in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse(raw, method="GET"):
    if not raw:
        return Response(0, "no answer", {}, b"", raw)
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in (204, 304) or status < 200:
        body = b""
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(rest)
    elif "content-length" in headers:
        body = rest[:int(headers["content-length"])]
    else:
        body = rest
    return Response(status, reason, headers, body, raw)


def _dechunk(data):
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return out


def request(port, method, target, headers=None, body=b"", timeout=60):
    """Sends the request (head, then ``body`` bytes exactly as given, in
    another thread, so that a server answering before it read the whole
    body is heard) and returns the parsed Response."""
    headers = dict(headers or {})
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=timeout) as s:
        payload = head_bytes(method, target, headers) + body

        def send():
            try:
                s.sendall(payload)
            except OSError:
                pass  # the server answered and closed first

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        raw = read_all(s)
        sender.join(timeout)
    return parse(raw, method)


def read_all(sock):
    raw = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        raw += chunk
    return raw


def send(port, method, target, headers=None, body=b"", framing="length",
         timeout=60):
    """``request`` with ``body`` framed as ``framing`` (see ``frame``)."""
    headers = dict(headers or {})
    extra, wire = frame(body, framing)
    headers.update(extra)
    return request(port, method, target, headers, wire, timeout)


def send_json(port, method, target, headers, value, content_type=None,
              raw=None):
    """A JSON body (``raw``: the JSON text as given, for spellings
    json.dumps would not write)."""
    headers = dict(headers)
    headers["Content-Type"] = content_type or "application/json"
    body = (raw if raw is not None else json.dumps(value)).encode()
    return send(port, method, target, headers, body)


class Abandoned:
    """A request whose body the client starts and never finishes: opens
    the connection, sends the head; ``send`` writes raw bytes; ``close``
    drops the connection (with a reset, SO_LINGER 0, as a client that
    crashes: nothing more is read or sent)."""

    def __init__(self, port, method, target, headers):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(head_bytes(method, target, headers))

    def send(self, data):
        self.sock.sendall(data)

    def send_chunks(self, data, size=CHUNK):
        self.send(chunked(data, size, last=False))

    def close(self, reset=False):
        if reset:
            import struct
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        self.sock.close()


class Poller:
    """Polls ``GET /healthcheck`` every ``interval`` seconds in a thread
    (a new connection each time) and keeps the worst latency; an answer
    that does not come within ``timeout`` counts as ``timeout`` and as
    missed."""

    def __init__(self, port, interval=0.2, timeout=3.0):
        self.port = port
        self.interval = interval
        self.timeout = timeout
        self.latencies = []
        self.missed = 0
        self.failed = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                r = request(self.port, "GET", "/healthcheck",
                            timeout=self.timeout)
                if r.status == 0:  # no answer within the timeout
                    self.missed += 1
                elif r.status != 200:
                    self.failed.append(r.status)
            except OSError:  # refused, reset
                self.missed += 1
            self.latencies.append(time.monotonic() - start)
            self._stop.wait(max(0.0, self.interval - (time.monotonic()
                                                       - start)))

    @property
    def worst(self):
        return max(self.latencies) if self.latencies else float("inf")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.timeout + 5)
