"""GET /metrics: Prometheus exposition of every process on this host plus the live database state.

Access: a request from an address in METRICS_ALLOWED_NETWORKS (loopback by default; REMOTE_ADDR
only, never X-Forwarded-For, which a client can forge), or one carrying
`Authorization: Bearer <METRICS_TOKEN>` when a token is set. Anything else gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from f1site.metrics import multiprocess_enabled
from f1site.observability import PitwallStateCollector
from f1site.throttling import client_address

logger = logging.getLogger("pitwall.observability")


def metrics_scrape_allowed(*, remote_addr: str, authorization: str) -> bool:
    token = settings.METRICS_TOKEN
    presented = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
    if token and presented and hmac.compare_digest(presented.encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def metrics_render() -> bytes:
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        processes = generate_latest(registry)
    else:
        processes = generate_latest(REGISTRY)
    state = CollectorRegistry()
    state.register(PitwallStateCollector())
    return processes + generate_latest(state)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    address = client_address(request)  # behind API_NUM_PROXIES proxies: the client's, not the proxy's
    if not metrics_scrape_allowed(
        remote_addr=address,
        authorization=request.headers.get("Authorization", ""),
    ):
        logger.warning("metrics scrape refused", extra={"remote_addr": address})
        return HttpResponse(
            "Forbidden: metrics need an allowed address or the bearer token\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(metrics_render(), content_type=CONTENT_TYPE_LATEST)
