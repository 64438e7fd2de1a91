"""The Redis transport's close after a connection loss, as a Celery worker runs it: no crash.

Review: the stack's worker (`--concurrency=2`, the Procfile's) died on a Redis blip while it ran a
task — `CRITICAL Unrecoverable error: AttributeError("'NoneType' object has no attribute
'hostname'")` from kombu's `restore_unacked` in `Consumer.on_connection_error_after_connected` —
3 runs of 3 (none at -c 1). The state at the crash, from that traceback: the connection's transport
already detached by `connection.collect()` (`transport.client = None`), the task channel still open
with the running task's message unacked (acks_late), and `connection.close()` closing it: the
restore builds a new client pool from `transport.client.hostname`. kombu 5.7.0 / celery 5.7.0 are
the latest releases, so `f1site/kombu_redis_fix.py` works around it.

Real Redis (through a proxy the test cuts) and real kombu; the state is made as the consumer makes
it (`collect` ends with `_do_close_transport`).
"""

from __future__ import annotations

import contextlib
import uuid
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from kombu import Connection, Consumer, Exchange, Producer, Queue

from tests.brokers import switchable_proxy

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL)")


@contextlib.contextmanager
def _a_delivered_message_then_redis_gone():
    """A message delivered and not acked (a running acks_late task) on a connection through a proxy,
    then Redis gone (the proxy refusing) and the transport detached as the consumer's `collect()`
    leaves it. Yields (connection, channel, message, Redis client); the message's entries are
    removed from Redis afterwards."""
    import redis as redis_py

    import f1site.celery  # noqa: F401 - the app module applies the fix at import, as in a worker

    redis = urlsplit(settings.REDIS_URL)
    name = f"pitwall-loss-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
    direct = redis_py.Redis.from_url(settings.REDIS_URL)
    got = []
    with switchable_proxy(redis.hostname, redis.port or 6379) as proxy:
        connection = Connection(redis._replace(netloc=f"127.0.0.1:{proxy.port}").geturl())
        channel = connection.default_channel
        Producer(channel).publish({"n": 1}, exchange=queue.exchange, routing_key=name, declare=[queue])
        Consumer(channel, queues=[queue], callbacks=[lambda body, message: got.append(message)]).consume()
        connection.drain_events(timeout=5)
        assert len(got) == 1 and channel.qos._delivered
        tag = got[0].delivery_tag
        try:
            proxy.cut(refuse=True)  # Redis gone
            connection._do_close_transport()  # where collect() leaves the connection
            yield connection, channel, got[0], direct
        finally:
            direct.hdel(channel.unacked_key, tag)
            direct.zrem(channel.unacked_index_key, tag)
            direct.delete(name)


def test_closing_a_lost_connection_whose_transport_is_detached_keeps_the_unacked_message_and_does_not_crash():
    with _a_delivered_message_then_redis_gone() as (connection, channel, message, direct):
        connection.close()  # stock kombu 5.7.0: AttributeError ... 'hostname', the worker dies
        # not lost: still in Redis's unacked hash, which restore_visible requeues after the
        # visibility timeout
        assert direct.hexists(channel.unacked_key, message.delivery_tag)


def test_acking_a_message_of_a_lost_connection_is_a_logged_connection_error_not_a_crash():
    """Verification on the real stack: with the restore fixed, the worker still died — on the ack
    of the task that ran through the blip, sent on the old channel whose transport was detached
    (`QoS.ack` -> a new client pool -> `transport.client.hostname`: AttributeError, which
    `Message.ack_log_error` lets through). The ack is now one of the transport's connection errors,
    which `ack_log_error` logs ("Couldn't ack"); the message stays unacked in Redis, for
    `restore_visible` after the visibility timeout (a succeeded job's run is then skipped)."""
    import logging

    with _a_delivered_message_then_redis_gone() as (connection, channel, message, direct):
        connection.close()  # ... and the consumer's close: the channel's client pool is dropped
        with pytest.raises(connection.connection_errors):  # stock kombu: AttributeError
            message.ack()
        message.ack_log_error(logging.getLogger("test"), connection.connection_errors)  # no raise
        assert direct.hexists(channel.unacked_key, message.delivery_tag)  # left for restore_visible
