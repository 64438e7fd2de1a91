"""Every domain exception of the project round-trips through pickle with its message and attributes.

Celery pickles a task's exception to log and store it (`get_pickleable_exception`); one that does not
round-trip was logged as `UnpickleableExceptionWrapper(...)`. Python's default rebuilds an exception
as `cls(*exc.args)`: a required keyword-only argument (`SourceError(message, *, url=...)`) raised
TypeError, and an `__init__` that formats its message from other arguments (`SyncAlreadyRunning(holder)`)
came back with a garbled message. The classes are discovered by importing every module of the apps,
so a new exception is covered without editing this test (an `__init__` parameter of a kind the
sample table below does not know fails the test, naming it)."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil

import pytest
from celery.utils.serialization import get_pickleable_exception

PACKAGES = ("ingestion", "predictions", "f1site", "analytics")
SKIP_MODULE_PARTS = {"migrations", "tests"}


def _project_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if SKIP_MODULE_PARTS & set(info.name.split(".")):
                continue
            module = importlib.import_module(info.name)
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, BaseException) and obj.__module__.split(".")[0] in PACKAGES:
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    # subclasses defined anywhere (also in a module that only imports its base)
    for cls in list(found.values()):
        stack = list(cls.__subclasses__())
        while stack:
            sub = stack.pop()
            if sub.__module__.split(".")[0] in PACKAGES:
                found.setdefault(f"{sub.__module__}.{sub.__qualname__}", sub)
            stack.extend(sub.__subclasses__())
    return [found[name] for name in sorted(found)]


def _job_run():
    from ingestion.models import JobRun, JobStatus

    return JobRun(pk=41, job="daily_results_sync", status=JobStatus.FAILED, error="x")


# A sample per parameter annotation (the source's, a string under `from __future__ import annotations`).
SAMPLES = {
    "str": lambda: "sample text",
    "str | None": lambda: "sample text",
    "int": lambda: 7,
    "int | None": lambda: 7,
    "float": lambda: 2.5,
    "float | None": lambda: 2.5,
    "bool": lambda: True,
    "dict": lambda: {"steps": "jolpica_only (retry)", "n": 3},
    "dict | None": lambda: {"field": "position"},
    "list[str] | None": lambda: ["v1: artifact missing", "v2: corrupt"],
    "BaseException": lambda: ValueError("boom"),
    "JobRun": _job_run,
    "dt.datetime | None": lambda: __import__("datetime").datetime(2026, 11, 28, 12, 0),
}


def _instance(cls: type[BaseException]) -> BaseException:
    init = cls.__init__
    if init in (BaseException.__init__, Exception.__init__) or inspect.signature(init).parameters.keys() == {
        "self",
        "args",
        "kwargs",
    }:
        return cls("sample message", "second arg")
    args, kwargs = [], {}
    for name, param in list(inspect.signature(init).parameters.items())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = (
            param.annotation
            if isinstance(param.annotation, str)
            else getattr(param.annotation, "__name__", "")
        )
        if name in ("message", "detail") and param.kind != param.KEYWORD_ONLY:
            value = "sample message"
        elif annotation in SAMPLES:
            value = SAMPLES[annotation]()
        elif param.default is not param.empty:
            continue
        else:
            pytest.fail(
                f"{cls.__qualname__}.__init__ parameter {name}: {annotation!r}: add a sample to SAMPLES"
            )
        if param.kind == param.KEYWORD_ONLY:
            kwargs[name] = value
        else:
            args.append(value)
    return cls(*args, **kwargs)


def _comparable(value):
    if isinstance(value, BaseException):
        return (type(value), value.args)
    if hasattr(value, "_meta") and hasattr(value, "pk"):  # a model instance: by class and pk
        return (type(value), value.pk)
    return value


EXCEPTIONS = _project_exceptions()


def test_the_discovery_finds_the_domain_exceptions():
    names = {cls.__name__ for cls in EXCEPTIONS}
    assert {"SourceError", "SourceUnavailable", "SourcePayloadError", "ForecastsFailed", "JobBusy"} <= names
    assert {"SyncAlreadyRunning", "ModelUnavailable", "WhatIfBusy", "PredictionInputError"} <= names


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_exception_round_trips_through_pickle(cls):
    exc = _instance(cls)
    back = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    assert type(back) is cls
    assert back.args == exc.args and str(back) == str(exc)
    assert {k: _comparable(v) for k, v in vars(back).items()} == {
        k: _comparable(v) for k, v in vars(exc).items()
    }
    # what Celery does before logging / storing a task's failure: the exception itself, not a wrapper
    assert get_pickleable_exception(exc) is exc


def test_source_error_keeps_url_and_status_through_pickle():
    from ingestion.clients.http import SourceUnavailable

    exc = SourceUnavailable("HTTP 503", url="http://x/v1/forecast?apikey=secret", status=503)
    back = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    assert (back.url, back.status) == ("http://x/v1/forecast?apikey=***", 503)
    assert str(back) == "HTTP 503 [http://x/v1/forecast?apikey=***]"
