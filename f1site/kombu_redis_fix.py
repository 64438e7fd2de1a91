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

The fix: a restore on a channel whose transport is already detached raises the transport's own
connection error instead ("broker connection closed"), which the close path ignores — the outcome
kombu already has when Redis refuses the restore: the message stays in Redis's unacked hash and is
put back on its queue by `restore_visible` after the visibility timeout (CELERY_VISIBILITY_TIMEOUT),
by any worker. Nothing is lost, nothing is restored twice. Applied once, by `f1site.celery` at import
(worker, beat and web all import it). Remove when kombu handles a detached transport itself
(`tests/f1site/test_broker_connection_loss.py` then passes without it).
"""

from __future__ import annotations

import functools
import logging

logger = logging.getLogger(__name__)


def kombu_redis_restore_fix() -> None:
    """Patch `kombu.transport.redis.QoS.restore_unacked` (idempotent)."""
    try:
        from kombu.transport import redis as kombu_redis
    except ImportError:  # no redis client installed: no Redis transport to fix
        return
    qos = kombu_redis.QoS
    if getattr(qos.restore_unacked, "_pitwall_fix", False):
        return
    original = qos.restore_unacked

    @functools.wraps(original)
    def restore_unacked(self, client=None):
        transport = getattr(self.channel, "connection", None)
        if client is None and getattr(transport, "client", None) is None:
            import redis

            logger.warning(
                "broker connection closed before its unacked messages could be restored; "
                "Redis restores them after the visibility timeout",
                extra={"unacked": len(self._delivered)},
            )
            raise redis.exceptions.ConnectionError("broker connection closed (transport detached)")
        return original(self, client)

    restore_unacked._pitwall_fix = True
    qos.restore_unacked = restore_unacked
