"""The support console in a real browser (issue 13): headless Chromium, driven by Selenium through
the machine's chromedriver (Debian's `chromium` and `chromium-driver`, installed by `.ci/run`).

The webinar's recommended solution 1 is written into a SQLite store through the service layer, the
read API with the console is served on a free port by uvicorn in this process, and the browser
opens the office at 27 December 2023 (Bestill time closed until 2 January, R3/R4, with the strip
picture), then picks 2 January 2024 in the page's own form and sees R10's warning. Screenshots are
saved under the test's tmp path (printed); DDFL_UPDATE_SCREENSHOT=1 also writes docs/console.png.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.api.reads import open_reader
from adapter.api.server import ApiServer
from adapter.store import open_store

from .support import ROOT, scenario, write_steps

selenium = pytest.importorskip("selenium")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

OFFICE, GP = 8141333, "9144900"
TOKEN = "browser-test-token-51c0"
NOW = dt.datetime(2023, 12, 27, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT = 30.0  # seconds for a page or an element: generous on a loaded machine


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
        "--lang=nb",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "nb-NO,nb"})
    # The machine's driver, never one Selenium Manager would download.
    # LANGUAGE: the date picker shows Norwegian dates, as on the customer centre's machines.
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER, env={**os.environ, "LANGUAGE": "nb_NO"})
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def _screenshot(driver: webdriver.Chrome, path: Path) -> None:
    """The whole page: the window grown to the document's height first."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, min(max(height, 800), 6000))
    assert driver.save_screenshot(str(path)), path
    print(f"console screenshot: {path}")


def _browse(driver: webdriver.Chrome, base: str, artifacts: Path, readme: Path | None) -> dict[str, str]:
    wait = WebDriverWait(driver, WAIT)
    authorization = "Basic " + base64.b64encode(f"kundesenter:{TOKEN}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": authorization}})

    driver.get(f"{base}/console/offices/{OFFICE}?at=2023-12-27T12:00")
    booking = wait.until(expected_conditions.visibility_of_element_located((By.ID, f"service-{GP}-TIMEBESTILLING")))
    assert "Bestill time" in booking.text
    assert "midlertidig stengt – åpner igjen 2. januar 2024" in booking.text
    reasons = driver.find_element(By.ID, f"reasons-{GP}-TIMEBESTILLING").text
    assert "R3" in reasons and "R4" in reasons, reasons
    strip = driver.find_element(By.ID, f"strip-{GP}")
    assert strip.is_displayed()
    assert strip.size["width"] > 400 and strip.size["height"] > 100, strip.size
    assert len(strip.find_elements(By.TAG_NAME, "rect")) >= 4 * 29  # four services, 29 days
    if readme is not None:  # the README's picture: the top of the page, the GP's panel
        driver.set_window_size(1280, 1720)
        assert driver.save_screenshot(str(readme)), readme
    _screenshot(driver, artifacts / "console-2023-12-27.png")

    picker = driver.find_element(By.ID, "at")
    driver.execute_script("arguments[0].value = arguments[1]", picker, "2024-01-02T12:00")
    driver.find_element(By.ID, "show-instant").click()
    wait.until(expected_conditions.url_contains("at=2024-01-02T12%3A00"))
    warnings = wait.until(expected_conditions.visibility_of_element_located((By.ID, f"warnings-{GP}")))
    assert "R10" in warnings.text, warnings.text
    assert "vises ikke" in driver.find_element(By.ID, f"service-{GP}-TIMEBESTILLING").text
    _screenshot(driver, artifacts / "console-2024-01-02.png")
    return {
        "browser": str(driver.capabilities.get("browserVersion")),
        "driver": str(driver.capabilities.get("chrome", {}).get("chromedriverVersion", "?")).split(" ")[0],
    }


async def test_the_console_in_chromium_at_27_december_then_2_january_r3_r4_r10(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = await open_store(url)
    try:
        await write_steps(store, scenario("recommended-solution-1"))
    finally:
        await store.close()
    server = ApiServer(await open_reader(url), lambda: NOW, port=0, console_token=TOKEN)
    await server.start()
    try:
        # The browser blocks: it runs in a thread while this loop serves its requests.
        readme = ROOT / "docs" / "console.png" if os.environ.get("DDFL_UPDATE_SCREENSHOT") == "1" else None
        versions = await asyncio.to_thread(_browse, browser, f"http://127.0.0.1:{server.port}", tmp_path, readme)
    finally:
        await server.stop()
    print(f"chromium {versions['browser']}, chromedriver {versions['driver']}, selenium {selenium.__version__}")
