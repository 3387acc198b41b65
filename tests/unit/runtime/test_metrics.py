"""Prometheus metrics: labelled by route template, and summed over every gunicorn worker."""

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from flask.testing import FlaskClient
from gunicorn_process import GunicornServer

REQUESTS_SENT = 60
RECYCLED_REQUESTS = 400
SCRAPE_INTERVAL_SECONDS = 0.05
# Disk used by one worker's sample file of this service's series (a few 4 KiB pages).
MAX_SAMPLE_FILE_BYTES = 16_384


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


def scrape_while(server: GunicornServer, running: threading.Event) -> list[tuple[int, float]]:
    """Scrape every SCRAPE_INTERVAL_SECONDS while ``running``: (status, /add count) each time."""
    scrapes: list[tuple[int, float]] = []
    with requests.Session() as session:
        while running.is_set():
            response = session.get(f"{server.url}/metrics", timeout=10)
            count = sample(response.text, "http_requests_total", route="/add", status="200")
            scrapes.append((response.status_code, count))
            running.wait(SCRAPE_INTERVAL_SECONDS)
    return scrapes


def test_scrapes_stay_exact_while_workers_recycle(
    gunicorn_server: Callable[..., GunicornServer], tmp_path: Path
) -> None:
    """Workers recycled every 10 requests while a scraper polls every 50 ms: no scrape fails,
    the count never goes down, the final count is exact, and each dead worker leaves two
    small sample files (its counts stay in them)."""
    metrics_dir = tmp_path / "metrics"
    server = gunicorn_server(
        {
            "WEB_CONCURRENCY": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "GUNICORN_CMD_ARGS": "--max-requests 10 --max-requests-jitter 0",
            # Nobody reads the server's output until it stops: a full pipe would block it.
            "ACCESS_LOG": "off",
        }
    )
    running = threading.Event()
    running.set()
    with ThreadPoolExecutor(max_workers=3) as pool:
        scraper = pool.submit(scrape_while, server, running)
        statuses = list(pool.map(lambda _: add(server.url), range(RECYCLED_REQUESTS)))
        running.clear()
        scrapes = scraper.result()
    assert statuses == [200] * RECYCLED_REQUESTS
    assert len(scrapes) > 20
    assert [status for status, _ in scrapes if status != 200] == []
    counts = [count for _, count in scrapes]
    assert counts == sorted(counts)
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    assert sample(text, "http_requests_total", route="/add", status="200") == RECYCLED_REQUESTS
    assert sample(text, "http_request_duration_seconds_count", route="/add") == RECYCLED_REQUESTS
    files = list(metrics_dir.iterdir())
    assert {re.sub(r"_\d+\.db$", "", path.name) for path in files} == {"counter", "histogram"}
    # prometheus_client sizes each file at 64 KiB, sparse: a few pages are written.
    used = sum(path.stat().st_blocks * 512 for path in files)
    assert used <= len(files) * MAX_SAMPLE_FILE_BYTES, (used, len(files))
