"""Shared helpers for the /metrics tests (tests/f1site/test_metrics_endpoint.py,
tests/scripts/test_stack.py): read a /metrics exposition into {(name, labels): value}."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def parse_exposition(text: str) -> dict[tuple[str, frozenset], float]:
    samples: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample(samples: dict, name: str, **labels) -> float:
    """The value of one series, 0.0 when it does not exist yet (counters start absent)."""
    return samples.get((name, frozenset((k, str(v)) for k, v in labels.items())), 0.0)


def names(samples: dict) -> set[str]:
    return {name for name, _ in samples}
