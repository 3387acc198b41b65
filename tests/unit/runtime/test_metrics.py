"""Prometheus metrics: labelled by route template, and summed over every gunicorn worker."""

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from flask.testing import FlaskClient
from gunicorn_process import GunicornServer

REQUESTS_SENT = 60


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{key}="{value}"' in match.group(1) for key, value in labels.items()):
            return float(match.group(2))
    return 0.0


def test_requests_are_counted_by_route_template_method_and_status(client: FlaskClient) -> None:
    """Each answer increments http_requests_total for its route template, method and status."""
    client.get("/add?a=1&b=2")
    client.get("/add?a=1&b=x")
    client.get("/no/such/path")
    client.get("/no/other/path")
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "http_requests_total", route="/add", method="GET", status="200") == 1
    assert sample(text, "http_requests_total", route="/add", method="GET", status="400") == 1
    # Unknown paths share one series, so clients cannot create series at will.
    assert sample(text, "http_requests_total", route="<unmatched>", status="404") == 2
    assert "/no/such/path" not in text


def test_request_durations_are_recorded(client: FlaskClient) -> None:
    """Every answered request lands in the duration histogram."""
    for _ in range(3):
        client.get("/sqrt?a=2")
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "http_request_duration_seconds_count", route="/sqrt", method="GET") == 3
    assert sample(text, "http_request_duration_seconds_bucket", route="/sqrt", le="+Inf") == 3


def test_unknown_methods_share_one_label_value(client: FlaskClient) -> None:
    """Made-up HTTP methods are counted under OTHER, not under their own name."""
    client.open("/add", method="BREW")
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "http_requests_total", method="OTHER", status="405") == 1
    assert "BREW" not in text


def add(url: str) -> int:
    return requests.get(
        f"{url}/add?a=1&b=2", timeout=10, headers={"Connection": "close"}
    ).status_code


def test_metrics_add_up_across_gunicorn_workers(
    gunicorn_server: Callable[..., GunicornServer], tmp_path: Path
) -> None:
    """With several workers, one scrape reports the requests all of them answered."""
    metrics_dir = tmp_path / "metrics"
    server = gunicorn_server({"WEB_CONCURRENCY": "3", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    # Concurrent requests keep several workers busy at once, so more than one answers.
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: add(server.url), range(REQUESTS_SENT)))
    assert statuses == [200] * REQUESTS_SENT
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    writers = list(metrics_dir.glob("counter_*.db"))
    assert len(writers) >= 2, "the requests should have been spread over several workers"
    assert (
        sample(text, "http_requests_total", route="/add", method="GET", status="200")
        == REQUESTS_SENT
    )


def test_metrics_directory_is_removed_at_shutdown(
    gunicorn_server: Callable[..., GunicornServer], tmp_path: Path
) -> None:
    """gunicorn starts without old samples and removes its own when it stops."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    stale = metrics_dir / "counter_999999.db"
    stale.write_bytes(b"stale samples of an earlier run")
    server = gunicorn_server({"WEB_CONCURRENCY": "1", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    assert not stale.exists()
    assert requests.get(f"{server.url}/add?a=1&b=2", timeout=5).status_code == 200
    assert list(metrics_dir.glob("*.db"))
    server.stop()
    assert not metrics_dir.exists()


def test_other_files_in_the_metrics_directory_are_kept(
    gunicorn_server: Callable[..., GunicornServer], tmp_path: Path
) -> None:
    """Only sample files are deleted, so a shared directory loses nothing else."""
    keep = tmp_path / "notes.txt"
    keep.write_text("not a metrics file")
    server = gunicorn_server({"WEB_CONCURRENCY": "1", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    server.stop()
    assert keep.read_text() == "not a metrics file"
    assert not list(tmp_path.glob("*.db"))


def test_made_up_methods_do_not_grow_the_recorder(client: FlaskClient) -> None:
    """Any number of invented HTTP methods shares one cached series per route and status."""
    for index in range(50):
        client.open("/add?a=1&b=2", method=f"BREW{index}")
    recorder = client.application.wsgi_app.metrics  # type: ignore[attr-defined]
    assert len(recorder._observers) == 1


def test_recycled_workers_leave_bounded_files_and_exact_counts(
    gunicorn_server: Callable[..., GunicornServer], tmp_path: Path
) -> None:
    """Workers recycled every few requests fold their counts into archives: none lost, few files."""
    metrics_dir = tmp_path / "metrics"
    server = gunicorn_server(
        {
            "WEB_CONCURRENCY": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "GUNICORN_CMD_ARGS": "--max-requests 5 --max-requests-jitter 0",
        }
    )
    sent = 200
    statuses = [add(server.url) for _ in range(sent)]
    assert statuses == [200] * sent
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    assert sample(text, "http_requests_total", route="/add", method="GET", status="200") == sent
    assert sample(text, "http_request_duration_seconds_count", route="/add", method="GET") == sent
    # Settled (no worker between exit and reaping): two live workers with a counter and a
    # histogram file each, two archives and one lock, where 40 lifetimes left 80 files before.
    deadline = time.monotonic() + 5
    while len(list(metrics_dir.iterdir())) > 2 * 2 + 2 + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    names = {path.name for path in metrics_dir.iterdir()}
    assert len(names) <= 2 * 2 + 2 + 1, names
    assert {"counter_archive.db", "histogram_archive.db"} <= names
    _, err = server.stop()
    assert "died within" not in err
