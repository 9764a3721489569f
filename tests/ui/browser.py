"""Headless Chromium through Selenium, as the status page's browser tests drive it.

Debian's `chromium` and `chromium-driver` (installed by `make browser`) at /usr/bin. The flags
keep Chromium from reaching out (updates, sync, safe browsing): without the background
networking ones its connections are refused on machines without internet, and each test
profile is a fresh --user-data-dir.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1200,800",
)  # fmt: skip
# Seconds a page may take to load or a clicked link to open (local server, loaded machine).
PAGE_SECONDS = 30


class Browser:
    """A Selenium Chrome session with the few reads and actions the tests need."""

    def __init__(self, driver: object) -> None:
        from selenium.webdriver.chrome.webdriver import WebDriver

        assert isinstance(driver, WebDriver)
        self.driver = driver

    def open(self, url: str) -> None:
        self.driver.get(url)

    def text(self, css: str) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.CSS_SELECTOR, css).text)

    def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, css).click()

    def cells(self) -> dict[tuple[str, str], str]:
        """The grid's cells: (partition_key, job) -> status."""
        from selenium.webdriver.common.by import By

        return {
            (c.get_attribute("data-partition") or "", c.get_attribute("data-job") or ""): (
                c.get_attribute("data-status") or ""
            )
            for c in self.driver.find_elements(By.CSS_SELECTOR, "#grid td.cell")
        }

    def wait_for_path(self, prefix: str) -> bool:
        """Wait until the page's path starts with `prefix` (a clicked link or a script navigated)."""
        deadline = time.monotonic() + PAGE_SECONDS
        while not urlsplit(self.driver.current_url).path.startswith(prefix):
            if time.monotonic() > deadline:
                raise AssertionError(f"the browser is at {self.driver.current_url}, not {prefix}")
            time.sleep(0.05)
        return True

    def wait_for_text(
        self, css: str, done: Callable[[str], bool], seconds: float, reload: bool = False
    ) -> str:
        """The text of `css` once `done(text)`, reloading the page between reads if asked
        (deadline: `seconds`, which the caller sets from the work the page waits for)."""
        from selenium.common.exceptions import NoSuchElementException

        deadline = time.monotonic() + seconds
        text = ""
        while True:
            with contextlib.suppress(NoSuchElementException):
                text = self.text(css)
                if done(text):
                    return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{css} still reads {text!r} after {seconds} s")
            time.sleep(0.2)
            if reload:
                self.driver.refresh()

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page: the viewport is set to the page's height first (headless
        Chromium captures only the viewport)."""
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        metrics = {"width": 1200, "height": int(height), "deviceScaleFactor": 1, "mobile": False}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        try:
            self.driver.save_screenshot(str(path))
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@contextlib.contextmanager
def start_browser(profile_dir: Path) -> Iterator[Browser]:
    """Chromium on a fresh profile; the test fails naming `make browser` where it is missing."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            f"{CHROMIUM} or {CHROMEDRIVER} missing: run `make browser` (Debian packages)",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(PAGE_SECONDS)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
