"""End to end, as an attacker: bodies started and never finished. Any
project member could freeze a whole glance-api worker: a chunked body to
``PUT .../stage`` (or to ``.../file`` of an image with a complete
signature), a few chunks, silence for more than 5 s, then a disconnect
mid-body; ``/healthcheck`` then stopped answering until gunicorn killed
the worker.

Under gunicorn and under uWSGI, with raw sockets:

- while a body is abandoned (chunked, or with a Content-Length it never
  reaches), a second thread polls ``/healthcheck`` every 0.2 s: every
  answer must come within 1 s (the one timed bound here; the worst
  latency is printed);
- afterwards the image is as Glance alone leaves it (a second server,
  without the filter and the plugin, gets the same attack at the same
  time) and takes the same door again as in Glance alone;
- 100 abandoned bodies in a row leave the worker's threads, descriptors
  and memory flat.
"""

import concurrent.futures
import json
import os
import time

import pytest

from conftest import SUMMARY
from support import harness, rawhttp, signing

KINDS = ["gunicorn", "uwsgi"]
DATA = os.urandom(1 << 20)
OCTETS = {"Content-Type": "application/octet-stream"}
SILENCE = 6.0  # "go silent for more than 5 s"
AFTER = 2.0  # polling goes on this long after the disconnect
BOUND = 1.0  # every healthcheck answer within this, in seconds
SENT = 3 * rawhttp.CHUNK  # what the client sends before it goes silent
ROUNDS = 100
# Seconds any request of the tests may take: a frozen worker makes them
# fail in this time rather than hang.
TIMEOUT = 10

# Figures printed at the end (and kept for the report).
FIGURES = {}


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    cert_dir = tmp_path_factory.mktemp("abandoned-certs")
    key = signing.make_key("RSA-PSS")
    signing.install_certificate(cert_dir, "uploader",
                                signing.make_certificate(key))
    return key, cert_dir


@pytest.fixture(scope="module")
def signed_props(signer):
    return signing.signed_properties(signer[0], "uploader", DATA)


@pytest.fixture(scope="module", params=KINDS)
def servers(request, tmp_path_factory, signer):
    """(guarded, alone): the guard's filter and plugin, and Glance alone
    (the same key manager: Glance checks signatures itself there)."""
    guarded = harness.GlanceServer(
        tmp_path_factory.mktemp("abandoned-guarded"),
        certificate_dir=signer[1], upload_filter=True,
        show_multiple_locations=True,
        import_guard={"exempt_service_roles": ["service"]},
        server=request.param)
    alone = harness.GlanceServer(
        tmp_path_factory.mktemp("abandoned-alone"),
        certificate_dir=signer[1], upload_filter=False, plugins=(),
        show_multiple_locations=True, server=request.param)
    with guarded, alone:
        yield guarded, alone


RESTARTS = []  # (server kind, test) where a frozen worker was replaced


@pytest.fixture(autouse=True)
def responsive(request, servers):
    """A test starts with a guarded server that answers: a worker frozen
    by an earlier test (possibly long after its attack: the guard's
    stream may be freed by Python's cyclic collector at any later time)
    is replaced, and the replacement recorded for the last test."""
    guarded = servers[0]
    if not answering(guarded):
        RESTARTS.append((guarded.server, request.node.name))
        guarded.stop()
        guarded.start()
    yield


def headers(server, **extra):
    return dict(server.headers(), **extra)


def create(server, properties):
    body = dict(name="abandoned", disk_format="raw", container_format="bare",
                **properties)
    r = rawhttp.send(server.port, "POST", "/v2/images", headers(
        server, **{"Content-Type": "application/json"}), json.dumps(
            body).encode(), timeout=TIMEOUT)
    assert r.status == 201, r
    return r.json()["id"]


def show(server, image_id):
    r = rawhttp.send(server.port, "GET", "/v2/images/%s" % image_id,
                     server.headers(), framing="none", timeout=TIMEOUT)
    assert r.status == 200, r
    return r.json()


def start_body(server, image_id, door, framing):
    """Opens ``PUT /v2/images/{id}/{door}`` and sends the first SENT bytes
    of DATA: three whole chunks and the start of a fourth (its size line
    and 1 KiB of its 64), or SENT bytes of a body whose Content-Length is
    DATA's. Either way the body stops in its middle."""
    extra = ({"Transfer-Encoding": "chunked"} if framing == "chunked"
             else {"Content-Length": str(len(DATA))})
    body = rawhttp.Abandoned(server.port, "PUT",
                             "/v2/images/%s/%s" % (image_id, door),
                             headers(server, **OCTETS, **extra))
    if framing == "chunked":
        body.send_chunks(DATA[:SENT])
        body.send(b"%x\r\n" % rawhttp.CHUNK + DATA[SENT:SENT + 1024])
    else:
        body.send(DATA[:SENT])
    return body


def settled_image(server, image_id, timeout=20):
    """The image once Glance has dealt with the vanished client: not
    ``saving`` (the upload still running), or whatever it is at the
    timeout."""
    deadline = time.monotonic() + timeout
    while True:
        image = show(server, image_id)
        if image["status"] != "saving" or time.monotonic() > deadline:
            return image
        time.sleep(0.2)


def state(server, image):
    return (image["status"], "os_glance_import_task" in image,
            server.stored(image["id"]), server.staged(image["id"]))


def answering(server, timeout=2.0):
    try:
        return rawhttp.request(server.port, "GET", "/healthcheck",
                               timeout=timeout).status == 200
    except OSError:
        return False


_SCENARIOS = {}


def abandoned(servers, signed_props, door, framing):
    """Runs the attack once per server kind, door and framing, on both
    servers at once, and keeps what happened: the healthcheck latencies
    of each server during it, the state of each image afterwards, and
    each server's answer to the same door with the whole body."""
    guarded, alone = servers
    key = (guarded.workdir, door, framing)
    if key in _SCENARIOS:
        return _SCENARIOS[key]
    images = {s: create(s, signed_props) for s in servers}
    with rawhttp.Poller(guarded.port) as poll_guarded, \
            rawhttp.Poller(alone.port) as poll_alone:
        time.sleep(0.5)
        bodies = {s: start_body(s, images[s], door, framing)
                  for s in servers}
        time.sleep(SILENCE)
        for body in bodies.values():
            body.close()
        time.sleep(AFTER)
    result = {"worst": poll_guarded.worst, "missed": poll_guarded.missed,
              "failed": poll_guarded.failed, "polls":
              len(poll_guarded.latencies), "worst_alone": poll_alone.worst,
              "frozen": not answering(guarded)}
    FIGURES["healthcheck %s %s %s" % (guarded.server, door, framing)] = (
        "worst %.3f s over %d polls (%d missed); Glance alone %.3f s" % (
            result["worst"], result["polls"], result["missed"],
            result["worst_alone"]))
    print("healthcheck latency, %s, abandoned %s body to %s: %s" % (
        guarded.server, framing, door, FIGURES["healthcheck %s %s %s" % (
            guarded.server, door, framing)]))
    if result["frozen"]:
        # The worker is stuck: nothing more can be learnt from it, and the
        # module's other tests need a server. A new one (new database).
        result["state"] = result["retry"] = None
        RESTARTS.append((guarded.server, "%s-%s" % (door, framing)))
        guarded.stop()
        guarded.start()
    else:
        result["state"] = state(guarded, settled_image(guarded,
                                                       images[guarded]))
        result["retry"] = retry(guarded, images[guarded], door)
    result["state_alone"] = state(alone, settled_image(alone, images[alone]))
    result["retry_alone"] = retry(alone, images[alone], door)
    _SCENARIOS[key] = result
    return result


def retry(server, image_id, door):
    """The same door with the whole body: (status code, image status)."""
    r = rawhttp.send(server.port, "PUT",
                     "/v2/images/%s/%s" % (image_id, door),
                     headers(server, **OCTETS), DATA, timeout=TIMEOUT)
    return r.status, show(server, image_id)["status"]


CASES = [pytest.param(door, framing, id="%s-%s" % (door, framing))
         for door in ("stage", "file") for framing in ("chunked", "length")]


@pytest.mark.parametrize("door,framing", CASES)
def test_healthcheck_answers_within_a_second_while_a_body_is_abandoned(
        servers, signed_props, door, framing):
    result = abandoned(servers, signed_props, door, framing)
    assert not result["frozen"], "the worker stopped answering"
    assert result["missed"] == 0, result
    assert result["failed"] == [], result
    assert result["worst"] < BOUND, result


@pytest.mark.parametrize("door,framing", CASES)
def test_an_abandoned_body_leaves_the_image_as_glance_alone_leaves_it(
        servers, signed_props, door, framing):
    # (status, import lock, data stored, data staged)
    result = abandoned(servers, signed_props, door, framing)
    assert result["state"] == result["state_alone"]
    assert result["state"][0] != "saving"


@pytest.mark.parametrize("door,framing", CASES)
def test_an_image_whose_body_was_abandoned_takes_the_door_again_as_in_glance_alone(  # noqa: E501
        servers, signed_props, door, framing):
    result = abandoned(servers, signed_props, door, framing)
    assert result["retry"] == result["retry_alone"]


def rss(pid):
    """Resident memory of a process, in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for %d" % pid)


def abandon_quickly(server, image_id, door, n):
    """One abandoned body: chunked, a few chunks, a short pause, gone
    (every other pair with a reset rather than a clean close, so that
    each door gets both). Then waits (3 s at most) until Glance has put
    the image back: with SQLite, Glance's own restores of many images at
    once fail with "database is locked" and leave images in ``saving``,
    in Glance alone as much as with the guard (measured: 2 to 3 in 100
    back to back)."""
    body = start_body(server, image_id, door, "chunked")
    time.sleep(0.05)
    body.close(reset=(n // 2) % 2 == 1)
    deadline = time.monotonic() + 3
    while (show(server, image_id)["status"] != "queued"
           and time.monotonic() < deadline):
        time.sleep(0.02)


DOORS = ("file", "stage")


def fill_pools(server, signed_props):
    """Brings the worker's own pools to their size under this load: its
    request threads (8), its database connections, the guard's hashing
    threads: eight bodies abandoned at once, then as many in a row."""
    images = [create(server, signed_props) for _ in range(16)]

    def one(n):
        abandon_quickly(server, images[n], DOORS[n % 2], n)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(8)))
    for n in range(8, 16):
        one(n)


def abandon_many(server, signed_props):
    """ROUNDS bodies abandoned one after the other, at both doors."""
    images = [create(server, signed_props) for _ in range(ROUNDS)]
    for n, image_id in enumerate(images):
        abandon_quickly(server, image_id, DOORS[n % 2], n)


# The margins of the flatness test. The worker's pools are full before
# the first count (fill_pools); what may still move is bounded:
# - threads: gunicorn's gthread pool and uWSGI's threads are at most 8 and
#   were all started by fill_pools; Glance starts no thread per request.
#   A leaked thread per abandoned body (the guard's hashing pass) would add
#   100; 2 allows a library's own timer thread to come and go. Measured:
#   equal (9 -> 9 under gunicorn, 8 -> 8 under uWSGI).
# - descriptors: a connection the server has not yet closed at the count,
#   and SQLite's pool may open one more file: 4 of slack against 100 for
#   a leak per body. Measured: equal (10 -> 10, 16 -> 16).
# - memory: Glance alone grows by 1.2 to 3.2 MiB over the same 100 bodies
#   (measured, gunicorn); the guard measured 2.9 to 3.5 MiB more, and 6.1
#   MiB in all once under uWSGI (a fresh-clone CI run: 169.8 -> 175.9
#   MiB, threads and fds equal). A leak of what each body sent (193 KiB)
#   would be some 19 MiB: 10 MiB of slack still fails on it.
#   The count is taken after a first ROUNDS of bodies: glibc's malloc
#   keeps freed memory in its per-thread arenas, and the threads of 100
#   passes meet many of them. Over a first ROUNDS (2024.1, Python 3.9) the
#   worker grew by 2.7 to 8.2 MiB with the previous pass, 5.4 to 22.9 MiB
#   with the thread-budget pass before its buffers were kept between
#   passes (src/hasher/pool.rs), 3.6 to 4.5 MiB since; over the second,
#   0.0 to 0.5 MiB. A leak grows again over the second ROUNDS.
THREAD_SLACK = 2
FD_SLACK = 4
RSS_SLACK = 10 << 20


def test_a_hundred_abandoned_bodies_leave_the_worker_flat(servers,
                                                         signed_props):
    # Every other one to .../file (hashed and verified by the guard) and
    # to .../stage (hashed for the record).
    guarded = servers[0]
    pid = guarded.worker_pid()
    fill_pools(guarded, signed_props)
    abandon_many(guarded, signed_props)  # the allocator's arenas too
    before = harness.settled(pid), rss(pid)
    abandon_many(guarded, signed_props)
    assert answering(guarded), "the worker stopped answering"
    after = harness.settled(pid), rss(pid)
    assert guarded.worker_pid() == pid, "the worker was replaced"
    figures = ("%s, %d abandoned bodies: threads %d -> %d, fds %d -> %d, "
               "RSS %.1f -> %.1f MiB" % (
                   guarded.server, ROUNDS, before[0][0], after[0][0],
                   before[0][1], after[0][1], before[1] / 2**20,
                   after[1] / 2**20))
    FIGURES["flat %s" % guarded.server] = figures
    print(figures)
    SUMMARY.append("abandoned: " + figures)
    assert after[0][0] <= before[0][0] + THREAD_SLACK, figures
    assert after[0][1] <= before[0][1] + FD_SLACK, figures
    assert after[1] <= before[1] + RSS_SLACK, figures


def test_no_abandoned_body_froze_the_worker_at_any_time(servers):
    # Last: a freeze that came after a test's own checks (when Python
    # freed the abandoned stream) made a later test replace the worker.
    guarded = servers[0]
    assert answering(guarded)
    assert [r for r in RESTARTS if r[0] == guarded.server] == []


@pytest.fixture(scope="module", autouse=True)
def _print_figures():
    yield
    for name, figure in sorted(FIGURES.items()):
        if name.startswith("healthcheck"):
            SUMMARY.append("abandoned: %s: %s" % (name, figure))

