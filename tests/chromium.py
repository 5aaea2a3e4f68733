"""Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by /usr/bin/chromedriver via selenium.

Selenium Manager is never used (it would download a browser); a missing chromium or chromedriver skips the test
with a message, or fails it in CI, where the browser tests must run.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM = Path(os.environ.get("GRIDMAP_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("GRIDMAP_CHROMEDRIVER", "/usr/bin/chromedriver"))
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)

# Console messages of failed resource loads: tiles cannot be fetched on a closed network; not JS errors.
_RESOURCE_LOAD = ("Failed to load resource", "net::ERR_")


def _skip_or_fail(message: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


# Every host name but the loopback address fails to resolve: a test never reaches the real network, and still sees
# (in the network log) each request a page made to another host.
NO_NETWORK = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"


@contextmanager
def chromium_driver(*, flags: Sequence[str] = (), network_log: bool = False) -> Iterator[Any]:
    """A headless Chromium WebDriver with a fresh profile and the browser console log enabled; quit afterwards.

    `flags`: more command-line flags (e.g. `NO_NETWORK`); `network_log`: record requests for `requested_urls`."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _skip_or_fail("selenium is not installed (pip install -e '.[test]')")
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        _skip_or_fail(f"headless browser tests need {' and '.join(missing)} (apt-get install chromium chromium-driver)")

    profile = tempfile.mkdtemp(prefix="gridmap-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, *flags):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", **({"performance": "ALL"} if network_log else {})})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    except Exception as exc:  # noqa: BLE001 - any start-up failure means "no usable browser here"
        shutil.rmtree(profile, ignore_errors=True)
        _skip_or_fail(f"could not start {CHROMIUM} with {CHROMEDRIVER}: {type(exc).__name__}: {exc}")
    try:
        driver.set_window_size(1280, 900)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _is_resource_load(entry: dict[str, Any]) -> bool:
    return entry.get("source") == "network" or any(marker in entry.get("message", "") for marker in _RESOURCE_LOAD)


def js_errors(driver: Any, *, own_scripts: tuple[str, ...] = ("/static/", ".js")) -> list[dict[str, Any]]:
    """SEVERE console entries that are JS errors, i.e. not failed resource loads (tiles on a closed network).

    A failed load of a script gridmap serves (a URL containing one of `own_scripts` under the page's origin)
    still counts: the page cannot work without it. Reading the log empties it.
    """
    origin = driver.execute_script("return window.location.origin")
    errors = []
    for entry in driver.get_log("browser"):
        if entry.get("level") != "SEVERE":
            continue
        message = entry.get("message", "")
        own_load = origin not in ("", "null") and origin in message and any(s in message for s in own_scripts)
        if _is_resource_load(entry) and not own_load:
            continue
        errors.append(entry)
    return errors


def save_screenshot(driver: Any, name: str) -> Path:
    """Save the window as tests/artifacts/NAME.png (kept by CI as a test artefact) and return the path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def requested_urls(driver: Any) -> list[str]:
    """URLs of the requests the page made since the last call (a driver made with ``network_log=True``), failed ones
    included. Reading the log empties it."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


TILE_LAYERS_LOADED = (
    "return (window.gridmapTileLayers || []).length > 0 && window.gridmapTileLayers.every("
    "t => !t.layer._map || (!t.layer.isLoading() && Object.keys(t.layer._vectorTiles || {}).length > 0))"
)


def wait_for_tile_layers(driver: Any, timeout: float = 30.0) -> bool:
    """Wait until every shown layer a page draws from gridmap's vector tiles (maps.vectortiles) has its tiles."""
    import time

    deadline = time.monotonic() + timeout
    while not driver.execute_script(TILE_LAYERS_LOADED):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
