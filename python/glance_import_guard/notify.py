"""The guard's notifications: every refusal and every use of an exemption,
sent as an oslo.messaging notification through the notifier Glance itself
uses, so it reaches the bus of Glance's own ``image.*`` notifications.

- ``image.import_guard.refused``, priority WARN: the guard refused a
  request at a door. Not ERROR: nothing failed, the guard did its job
  (often on a user's mistake), and an ERROR would page an operator for
  it; but more than INFO, since an attack looks like this too.
- ``image.import_guard.exempted``, priority INFO: a caller went past a
  check because of an exempt role; the expected, authorised path, sent
  so that each use of it can be audited.

The payload names the image (``image_id``), ``project_id``, ``user_id``,
``request_id`` and the ``door``, then ``codes`` (the problem codes, a
list) and ``message`` (what the caller was told) of a refusal, or the
``roles`` that exempted the caller.

Sending never holds the request: the notification is put on a bounded
queue that one thread of the process drains. A broker that is down,
slow or silent delays only that thread (a silent one costs it the AMQP
client's connect timeout per notification; Glance's own notifications
wait for it in the request); a full queue drops the notification with a
log line; a failure to send is logged (Glance's notifier logs it too).
The refusal, and the HTTP answer, are the same whatever happens here.
"""

import os
import queue
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

REFUSED = "image.import_guard.refused"
EXEMPTED = "image.import_guard.exempted"

#: Notifications waiting to be sent, at most (then they are dropped).
QUEUE_SIZE = 1000


def refused(image_id, context, door, problems, message):
    """Sends ``image.import_guard.refused`` (WARN)."""
    _send("warn", REFUSED, {
        **_who(image_id, context, door),
        "codes": [str(p["code"]) for p in problems],
        "message": str(message)})


def exempted(image_id, context, door, roles):
    """Sends ``image.import_guard.exempted`` (INFO)."""
    _send("info", EXEMPTED, {
        **_who(image_id, context, door),
        "roles": sorted(str(r) for r in roles)})


def _text(value):
    return None if value is None else str(value)


def _who(image_id, context, door):
    return {"image_id": _text(image_id),
            "project_id": _text(getattr(context, "project_id", None)),
            "user_id": _text(getattr(context, "user_id", None)),
            "request_id": _text(getattr(context, "request_id", None)),
            "door": door}


def enabled(event_type):
    """False when ``[DEFAULT] disabled_notifications`` names the event,
    its group (``image``) or ``image.import_guard``."""
    # NOTE: the same test as Glance's for its own events
    # (glance/notifier.py, _is_notification_enabled: the event type or the
    # part before its first dot).
    from glance import notifier
    disabled = notifier.CONF.disabled_notifications
    return (notifier._is_notification_enabled(event_type)
            and "image.import_guard" not in disabled)


def _send(priority, event_type, payload):
    try:
        if enabled(event_type):
            _sender().put(priority, event_type, payload)
    except Exception:
        LOG.exception("import_guard could not send the %s notification %s",
                      event_type, payload)


class _Sender:
    """One thread that sends what the requests put on its queue."""

    def __init__(self):
        self.pid = os.getpid()
        self.queue = queue.Queue(QUEUE_SIZE)
        self.notifier = None
        self.thread = threading.Thread(
            target=self._run, name="import-guard-notify", daemon=True)
        self.thread.start()

    def put(self, priority, event_type, payload):
        try:
            self.queue.put_nowait((priority, event_type, payload))
        except queue.Full:
            LOG.error("import_guard dropped the %s notification %s: %d "
                      "notifications are still waiting to be sent (is the "
                      "message bus down?)", event_type, payload, QUEUE_SIZE)

    def _run(self):
        while True:
            priority, event_type, payload = self.queue.get()
            try:
                if self.notifier is None:
                    # NOTE: Glance's own notifier: its transport from
                    # [oslo_messaging_notifications], its publisher_id
                    # [DEFAULT] default_publisher_id (glance/notifier.py,
                    # Notifier); built here, in this thread, so that even
                    # a transport that cannot be made stays off the
                    # request.
                    from glance import notifier
                    self.notifier = notifier.Notifier()
                getattr(self.notifier, priority)(event_type, payload)
            except Exception:
                LOG.exception("import_guard could not send the %s "
                              "notification %s", event_type, payload)


_lock = threading.Lock()
_current = None


def _sender():
    """The process's sender (a new one in a forked child: the thread does
    not survive a fork)."""
    global _current
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = _Sender()
        return _current

