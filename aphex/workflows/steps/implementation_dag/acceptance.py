"""Black-box acceptance test of a preview: concurrent HTTP probes gated on success ratio and p95.

Every URL gets ``requests_per_host`` GETs (redirects not followed: a 3xx is its own answer) spread over
``concurrency`` workers. Success is a status in ``success_statuses`` (2xx and 3xx by default); a refused
connection, a timeout or a TLS error is a failure whose latency is the time until it happened.
Percentiles use the nearest-rank method over all requests: the p-th percentile of n sorted latencies
is the value at rank ``ceil(p/100 * n)`` (so it is always an observed latency). The evidence
(``report.json``, ``logs.txt``, ``responses/``) is written before the verdict.
"""

import json
import math
import os
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

import requests
from hera.workflows import Artifact, Parameter
from hera.workflows.models import ValueFrom

from aphex.dsl.deadlines import STAGE_TIMEOUT_SECONDS
from aphex.dsl.names import InvalidValue
from aphex.dsl.security import OUTPUTS_DIRECTORY
from aphex.dsl.stage import ResourceClass, Stage
from aphex.workflows.steps.common.exits import fail
from aphex.workflows.steps.common.process import StepError

__all__ = ["STAGE", "Probe", "acceptance", "parse_statuses", "percentile", "probe_all"]

_SAMPLE_BYTES: Final = 4096
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")


def _figure(name: str) -> Parameter:
    """An output figure that is empty, not missing, when the step ended before measuring (invalid input,
    timeout): Argo's executor fails to save an output whose file is absent unless it has a default
    (argo-workflows ``workflow/executor/executor.go``, SaveParameters), and the acceptance gauges
    (:func:`aphex.dsl.metrics.acceptance_metrics`) skip an empty figure."""
    return Parameter(
        name=name,
        global_name=f"acceptance-{name}",
        value_from=ValueFrom(path=f"{OUTPUTS_DIRECTORY}/parameters/{name}", default=""),
    )


@dataclass(frozen=True, kw_only=True)
class Probe:
    """One request's outcome."""

    url: str
    attempt: int
    status: int | None
    error: str | None
    latency_ms: float


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (non-empty), ``0 < p <= 100``."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def parse_statuses(spec: str) -> frozenset[int]:
    """``"200-299,304"`` -> the set of accepted status codes."""
    codes: set[int] = set()
    for part in spec.split(","):
        match = re.fullmatch(r"\s*([1-5][0-9]{2})(?:-([1-5][0-9]{2}))?\s*", part)
        if not match:
            raise InvalidValue("success-statuses", spec, "must be codes or ranges such as 200-399,404")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if high < low:
            raise InvalidValue("success-statuses", spec, f"range {low}-{high} is empty")
        codes.update(range(low, high + 1))
    return frozenset(codes)


def _parse_urls(urls: str) -> list[str]:
    try:
        data = json.loads(urls)
    except json.JSONDecodeError:
        raise InvalidValue("urls", urls, "must be a JSON list of URLs") from None
    if not isinstance(data, list) or not all(isinstance(url, str) for url in data):
        raise InvalidValue("urls", urls, "must be a JSON list of URLs")
    for url in data:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidValue("urls", url, "must be an http(s) URL with a host")
    if not data:
        raise InvalidValue("urls", urls, "no preview URLs to probe")
    return sorted(dict.fromkeys(data))


def _target(base: str, path: str) -> str:
    return base.rstrip("/") + path


class _Sampler:
    """Keeps the first response per host and status, thread-safely."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def keep(self, url: str, response: requests.Response) -> None:
        host = re.sub(r"[^A-Za-z0-9.-]", "_", urlsplit(url).netloc)
        key = (host, response.status_code)
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        self.directory.mkdir(parents=True, exist_ok=True)
        headers = "".join(f"{name}: {value}\n" for name, value in response.headers.items())
        body = response.content[:_SAMPLE_BYTES].decode("utf-8", errors="replace")
        text = f"GET {url}\nHTTP {response.status_code}\n{headers}\n{body}"
        (self.directory / f"{host}-{response.status_code}.txt").write_text(text, encoding="utf-8")


def probe_all(
    urls: Sequence[str],
    *,
    path: str,
    requests_per_host: int,
    concurrency: int,
    timeout_seconds: float,
    verify_tls: bool,
    sampler: _Sampler | None = None,
) -> list[Probe]:
    """Send every request and return the outcomes in a stable order (URL, attempt)."""
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        result: requests.Session = local.session
        return result

    def one(url: str, attempt: int) -> Probe:
        target = _target(url, path)
        started = time.perf_counter()
        try:
            response = session().get(
                target, timeout=timeout_seconds, allow_redirects=False, verify=verify_tls
            )
        except requests.RequestException as error:
            elapsed = (time.perf_counter() - started) * 1000
            return Probe(
                url=target, attempt=attempt, status=None, error=type(error).__name__, latency_ms=elapsed
            )
        elapsed = (time.perf_counter() - started) * 1000
        if sampler is not None:
            sampler.keep(target, response)
        return Probe(url=target, attempt=attempt, status=response.status_code, error=None, latency_ms=elapsed)

    jobs = [(url, attempt) for url in urls for attempt in range(1, requests_per_host + 1)]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda job: one(*job), jobs))


def _figures(probes: Sequence[Probe], accepted: frozenset[int]) -> dict[str, Any]:
    latencies = [probe.latency_ms for probe in probes]
    successes = sum(1 for probe in probes if probe.status in accepted)
    return {
        "requests": len(probes),
        "successes": successes,
        "successRatio": round(successes / len(probes), 4),
        "p50Ms": round(percentile(latencies, 50), 1),
        "p95Ms": round(percentile(latencies, 95), 1),
        "p99Ms": round(percentile(latencies, 99), 1),
    }


def _validate_numbers(
    requests_per_host: int,
    concurrency: int,
    timeout_seconds: float,
    min_success_ratio: float,
    max_p95_ms: float,
) -> None:
    checks = [
        ("requests-per-host", requests_per_host, 1 <= requests_per_host <= 10_000, "between 1 and 10000"),
        ("concurrency", concurrency, 1 <= concurrency <= 256, "between 1 and 256"),
        ("timeout-seconds", timeout_seconds, 0 < timeout_seconds <= 300, "in (0, 300]"),
        ("min-success-ratio", min_success_ratio, 0 <= min_success_ratio <= 1, "in [0, 1]"),
        ("max-p95-ms", max_p95_ms, max_p95_ms > 0, "positive"),
    ]
    for field, value, ok, expected in checks:
        if not ok:
            raise InvalidValue(field, value, f"must be {expected}")


def _write_outputs_on_failure(values: dict[str, str]) -> None:
    """The runner writes outputs only on success; the figures are worth keeping when the gate fails."""
    directory = os.environ.get("hera__outputs_directory")  # noqa: SIM112 - the name Hera's runner reads
    if not directory:
        return
    target = Path(directory) / "parameters"
    target.mkdir(parents=True, exist_ok=True)
    for name, value in values.items():
        (target / name).write_text(value, encoding="utf-8")


def acceptance(
    urls: str,
    evidence: Annotated[
        Path, Artifact(name="acceptance-evidence", output=True, global_name="acceptance-report")
    ],
    path: str = "/",
    requests_per_host: int = 20,
    concurrency: int = 4,
    timeout_seconds: float = 10.0,
    min_success_ratio: float = 0.95,
    max_p95_ms: float = 1200.0,
    success_statuses: str = "200-399",
    verify_tls: bool = True,
) -> tuple[
    Annotated[str, _figure("success-ratio")],
    Annotated[str, _figure("p95-ms")],
    Annotated[str, Parameter(name="summary", global_name="acceptance-summary")],
]:
    """Runner entrypoint: probe the preview, write the evidence, pass or fail on the thresholds."""
    try:
        targets = _parse_urls(urls)
        if not _PATH.match(path):
            raise InvalidValue("path", path, "must be an absolute URL path such as /healthz")
        _validate_numbers(requests_per_host, concurrency, timeout_seconds, min_success_ratio, max_p95_ms)
        accepted = parse_statuses(success_statuses)
    except InvalidValue as error:
        raise fail(error) from None

    started = datetime.now(UTC)
    evidence.mkdir(parents=True, exist_ok=True)
    probes = probe_all(
        targets,
        path=path,
        requests_per_host=requests_per_host,
        concurrency=concurrency,
        timeout_seconds=timeout_seconds,
        verify_tls=verify_tls,
        sampler=_Sampler(evidence / "responses"),
    )
    figures = _figures(probes, accepted)
    reasons = []
    if figures["successRatio"] < min_success_ratio:
        reasons.append(
            f"success ratio {figures['successRatio']:.3f} is below min-success-ratio {min_success_ratio:.3f}"
        )
    if figures["p95Ms"] > max_p95_ms:
        reasons.append(f"p95 latency {figures['p95Ms']:.1f} ms exceeds max-p95-ms {max_p95_ms:g}")
    verdict = "failed" if reasons else "passed"
    report = {
        "verdict": verdict,
        "reasons": reasons,
        "thresholds": {
            "minSuccessRatio": min_success_ratio,
            "maxP95Ms": max_p95_ms,
            "successStatuses": success_statuses,
        },
        "path": path,
        **figures,
        "hosts": {
            url: _figures([p for p in probes if p.url == _target(url, path)], accepted) for url in targets
        },
        "startedAt": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finishedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (evidence / "report.json").write_text(
        json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (evidence / "logs.txt").write_text(
        "".join(json.dumps(asdict(probe), sort_keys=True) + "\n" for probe in probes), encoding="utf-8"
    )
    summary = json.dumps(
        {
            "successRatio": figures["successRatio"],
            "p95Ms": figures["p95Ms"],
            "requests": figures["requests"],
            "hosts": len(targets),
            "verdict": verdict,
        },
        sort_keys=True,
    )
    outputs = (str(figures["successRatio"]), str(figures["p95Ms"]), summary)
    print(summary)
    if reasons:
        _write_outputs_on_failure(dict(zip(("success-ratio", "p95-ms", "summary"), outputs, strict=True)))
        raise fail(StepError("acceptance failed: " + "; ".join(reasons)))
    return outputs


STAGE: Final = Stage(
    entrypoint=acceptance,
    name="acceptance",
    resources=ResourceClass.STANDARD,
    timeout=f"{STAGE_TIMEOUT_SECONDS['acceptance']}s",
)
