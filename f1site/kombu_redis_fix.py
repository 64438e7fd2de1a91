"""A workaround for a kombu Redis-transport crash on a broker connection loss (kombu 5.7.0, the
latest release; celery 5.7.0).

Symptom (review, the real stack): a worker with a free pool slot (`--concurrency=2`, the Procfile's)
that loses Redis while a task runs dies with `CRITICAL Unrecoverable error: AttributeError("'NoneType'
object has no attribute 'hostname'")`. The consumer's connection-loss handler
(`Consumer.on_connection_error_after_connected`) first `collect()`s the connection, which detaches
the transport (`transport.client = None`) even when closing the task channel was cut short by the
dead socket; then `connection.close()` closes that channel again, and its QoS restores the running
task's unacked message (acks_late) through a new client pool, built from
`transport.client.hostname`: None. The AttributeError is not a connection error, so `ignore_errors`
lets it through and the worker exits; under honcho the web and beat stop with it.

The same detached transport is met again when the task finishes: its message is acked on the old
channel (`QoS.ack` -> `_remove_from_indices` -> a new client pool -> `transport.client.hostname`),
the same AttributeError, which `Message.ack_log_error` does not catch (it catches the transport's
connection errors): the worker died on the ack after surviving the restore (verified on the real
stack, 3 runs of 3).

The fix, at the one place both paths build a client from the transport (`Channel._connparams`): a
channel whose transport is already detached raises the transport's own connection error ("broker
connection closed") instead, which the close path ignores and `ack_log_error` logs ("Couldn't
ack") — the outcome kombu already has when Redis refuses the restore or the ack: the message stays
in Redis's unacked hash and is put back on its queue by `restore_visible` after the visibility
timeout (CELERY_VISIBILITY_TIMEOUT), by any worker. Nothing is lost; a job whose run had succeeded
is not run again when it comes back (`job_run_execute` skips a redelivered message of a succeeded
run). Applied once, by `f1site.celery` at import (worker, beat and web all import it). Remove when
kombu handles a detached transport itself (`tests/f1site/test_broker_connection_loss.py` then
passes without it).
"""

from __future__ import annotations

import functools
import logging

logger = logging.getLogger(__name__)


def kombu_redis_restore_fix() -> None:
    """Patch `kombu.transport.redis.Channel._connparams` (idempotent)."""
    try:
        from kombu.transport import redis as kombu_redis
    except ImportError:  # no redis client installed: no Redis transport to fix
        return
    channel = kombu_redis.Channel
    if getattr(channel._connparams, "_pitwall_fix", False):
        return
    original = channel._connparams

    @functools.wraps(original)
    def _connparams(self, *args, **kwargs):
        if getattr(self.connection, "client", None) is None:  # the transport is detached
            import redis

            logger.warning(
                "broker connection closed: an unacked message is left for Redis to restore after "
                "the visibility timeout"
            )
            raise redis.exceptions.ConnectionError("broker connection closed (transport detached)")
        return original(self, *args, **kwargs)

    _connparams._pitwall_fix = True
    channel._connparams = _connparams
