"""The acceptance step against real HTTP servers on 127.0.0.1
(aphex.workflows.steps.implementation_dag.acceptance)."""

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aphex.dsl.names import InvalidValue
from aphex.workflows.steps.implementation_dag.acceptance import acceptance, parse_statuses, percentile
from tests.runner import run_step
from tests.standins.servers import refused_url, reply, serve


def ok(request: BaseHTTPRequestHandler) -> None:
    reply(request, 200, b"hello from the preview")


def run(urls: list[str], evidence: Path, **kwargs: object) -> tuple[str, str, str]:
    params = {"requests_per_host": 10, "concurrency": 4, "timeout_seconds": 5.0, **kwargs}
    return acceptance(json.dumps(urls), evidence, **params)  # type: ignore[arg-type]


def test_a_healthy_preview_passes_and_writes_the_evidence(tmp_path: Path) -> None:
    with serve(ok) as url:
        ratio, p95, summary = run([url], tmp_path / "e", path="/healthz")
    assert ratio == "1.0"
    assert json.loads(summary)["verdict"] == "passed"
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert report["requests"] == report["successes"] == 10
    assert report["hosts"][url]["requests"] == 10
    assert float(p95) == report["p95Ms"]
    logs = (tmp_path / "e" / "logs.txt").read_text().splitlines()
    assert len(logs) == 10
    assert all(json.loads(line)["url"] == f"{url}/healthz" for line in logs)
    samples = list((tmp_path / "e" / "responses").iterdir())
    assert len(samples) == 1
    assert "hello from the preview" in samples[0].read_text()


def test_failing_requests_below_the_ratio_fail_naming_the_threshold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counter = itertools.count()
    lock = threading.Lock()

    def flaky(request: BaseHTTPRequestHandler) -> None:
        with lock:
            n = next(counter)
        reply(request, 500 if n % 5 == 0 else 200)

    with serve(flaky) as url, pytest.raises(SystemExit):
        run([url], tmp_path / "e", min_success_ratio=0.9)
    assert "success ratio 0.800 is below min-success-ratio 0.900" in capsys.readouterr().err
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert report["verdict"] == "failed"
    assert report["successes"] == 8


def test_a_ratio_at_the_threshold_passes(tmp_path: Path) -> None:
    counter = itertools.count()
    lock = threading.Lock()

    def flaky(request: BaseHTTPRequestHandler) -> None:
        with lock:
            n = next(counter)
        reply(request, 503 if n % 5 == 0 else 200)

    with serve(flaky) as url:
        ratio, _, _ = run([url], tmp_path / "e", min_success_ratio=0.8)
    assert ratio == "0.8"


def test_slow_responses_fail_the_p95_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def slow(request: BaseHTTPRequestHandler) -> None:
        time.sleep(0.25)
        reply(request, 200)

    with serve(slow) as url, pytest.raises(SystemExit):
        run([url], tmp_path / "e", requests_per_host=4, max_p95_ms=100)
    assert "exceeds max-p95-ms 100" in capsys.readouterr().err


def test_refused_connections_count_as_failures(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        run([refused_url()], tmp_path / "e", requests_per_host=3)
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert report["successes"] == 0
    errors = {json.loads(line)["error"] for line in (tmp_path / "e" / "logs.txt").read_text().splitlines()}
    assert errors == {"ConnectionError"}


def test_redirects_count_as_success_by_default_and_not_when_excluded(tmp_path: Path) -> None:
    def redirect(request: BaseHTTPRequestHandler) -> None:
        reply(request, 302, b"", {"Location": "/elsewhere"})

    with serve(redirect) as url:
        ratio, _, _ = run([url], tmp_path / "a", requests_per_host=2)
        assert ratio == "1.0"
        with pytest.raises(SystemExit):
            run([url], tmp_path / "b", requests_per_host=2, success_statuses="200-299")


def test_several_hosts_are_probed_and_reported_separately(tmp_path: Path) -> None:
    with serve(ok) as first, serve(ok) as second:
        run([second, first], tmp_path / "e", requests_per_host=3)
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert sorted(report["hosts"]) == sorted([first, second])
    assert report["requests"] == 6


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"path": "healthz"}, "path"),
        ({"path": "/a b"}, "path"),
        ({"requests_per_host": 0}, "requests-per-host"),
        ({"concurrency": 1000}, "concurrency"),
        ({"min_success_ratio": 1.5}, "min-success-ratio"),
        ({"success_statuses": "2xx"}, "success-statuses"),
    ],
)
def test_bad_parameters_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(SystemExit):
        run(["http://127.0.0.1:1"], tmp_path / "e", **kwargs)
    assert capsys.readouterr().err.startswith(f"invalid parameter {field}:")


@pytest.mark.parametrize("urls", ["[]", "not json", '["ftp://x"]', '{"a": 1}'])
def test_bad_or_missing_urls_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str], urls: str) -> None:
    with pytest.raises(SystemExit):
        acceptance(urls, tmp_path / "e")
    assert "invalid parameter urls:" in capsys.readouterr().err


def test_status_ranges() -> None:
    assert parse_statuses("200-202,304") == {200, 201, 202, 304}
    with pytest.raises(InvalidValue):
        parse_statuses("299-200")


def test_percentile_nearest_rank_known_values() -> None:
    data = [float(v) for v in range(1, 101)]
    assert percentile(data, 95) == 95.0
    assert percentile(data, 50) == 50.0
    assert percentile([3.0, 1.0, 2.0], 95) == 3.0


@given(
    values=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200),
    p=st.floats(min_value=0.1, max_value=100),
    q=st.floats(min_value=0.1, max_value=100),
)
def test_percentile_is_an_observed_value_and_monotone(values: list[float], p: float, q: float) -> None:
    assert percentile(values, p) in values
    low, high = sorted((p, q))
    assert percentile(values, low) <= percentile(values, high)
    assert percentile(values, 100) == max(values)


def test_through_the_runner_boundary(tmp_path: Path) -> None:
    with serve(ok) as url:
        inputs = {
            "urls": json.dumps([url]),
            "path": "/",
            "requests_per_host": "3",
            "concurrency": "2",
            "timeout_seconds": "5",
            "min_success_ratio": "0.95",
            "max_p95_ms": "5000",
            "success_statuses": "200-399",
            "verify_tls": "true",
        }
        out = tmp_path / "out"
        result = run_step("aphex.workflows.steps.implementation_dag.acceptance:acceptance", inputs, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (out / "parameters" / "success-ratio").read_text() == "1.0"
    assert json.loads((out / "parameters" / "summary").read_text())["requests"] == 3
    assert (out / "artifacts" / "acceptance-evidence" / "report.json").exists()
