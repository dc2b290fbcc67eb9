"""Browser fixtures: headless Chromium, driven by Selenium, against a live ``distillery serve`` console.

- ``console_box``: one ``distillery serve`` subprocess per session over a fresh SQLite registry, with a
  curator and a reader key made by ``distillery keys create``, and, published over REST as a curator
  would: ``examples/tools/*.py`` with their tests (active), a second version of ``add_numbers`` (so a
  diff exists) and ``convert_units``, whose docstring is a prompt injection the review queue flags.
- ``chromium``: one headless Chromium for the session (Debian's ``chromium`` and ``chromium-driver``).
- ``console``: a ``ConsolePage`` on that browser with no cookies, i.e. logged out.

Where Chromium, its driver or Selenium is missing the fixtures fail, saying what to install;
``DISTILLERY_TEST_BROWSER=skip`` turns that into a skip (never under ``CI=true``). ``scripts/dev.sh
test`` installs the browser and exports ``DISTILLERY_TEST_BROWSER=required``.

Every page the browser settles on is checked: everything it loaded (scripts, stylesheets, images,
fonts: the page's elements and the Resource Timing entries) comes from the server itself, so the
console works with no internet, and the browser logged no error (a script error, a refused resource,
a content-security-policy violation). ``DISTILLERY_TEST_SCREENSHOTS=DIR`` saves a screenshot of each.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import pytest

from tests.server.support import sandbox_uid
from tests.support.serve import DISTILLERY, ServerProcess

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

__all__ = ["ConsoleBox", "ConsolePage"]

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_TOOLS = REPO_ROOT / "examples" / "tools"
FIXTURE_TOOLS = Path(__file__).resolve().parent / "fixture_tools"
NAMESPACE = "examples"
BROWSER_ENV = "DISTILLERY_TEST_BROWSER"
SCREENSHOTS_ENV = "DISTILLERY_TEST_SCREENSHOTS"
WAIT_S = 20.0
INSTALL_HINT = ("install Chromium and its driver with 'apt-get install -y chromium chromium-driver' and Selenium "
                "with \".venv/bin/pip install -e '.[dev]'\" (scripts/dev.sh test does both)")
_LOCATORS = ("script[src]", "link[href]", "img[src]", "iframe[src]", "source[src]", "video[src]", "audio[src]",
             "object[data]", "embed[src]")
_ASSET_URLS_JS = (f"return [...document.querySelectorAll({', '.join(_LOCATORS)!r})]"
                  ".map(e => e.src || e.href || e.data)"
                  ".concat(performance.getEntriesByType('resource').map(e => e.name));")


@dataclass(frozen=True)
class ConsoleBox:
    """A running ``distillery serve`` with its seeded tools and the secrets of its keys."""

    base_url: str
    curator_key: str
    reader_key: str
    server: ServerProcess

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return f"{self.base_url}{path}"


def _distillery(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run the CLI, assert it succeeded and return its JSON output."""
    done = subprocess.run([DISTILLERY, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, f"distillery {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def _publish(client: httpx.Client, module: Path, *, name: str | None = None) -> dict[str, Any]:
    """Publish ``module`` and its ``.tests.json`` with ``activate`` over REST; the outcome."""
    data = {"namespace": NAMESPACE, "activate": "true", **({"name": name} if name else {})}
    files = {"file": (module.name, module.read_bytes(), "text/x-python"),
             "tests": ("tests.json", module.with_suffix(".tests.json").read_bytes(), "application/json")}
    response = client.post("/api/v1/tools", data=data, files=files)
    assert response.status_code == 201, f"publishing {module.name}: {response.status_code} {response.text}"
    outcome: dict[str, Any] = response.json()
    return outcome


@pytest.fixture(scope="session")
def console_box(child_env: Callable[..., dict[str, str]],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleBox]:
    """``distillery serve`` over a fresh registry seeded with the example and fixture tools."""
    data_dir = tmp_path_factory.mktemp("browser-registry")
    env = child_env(DISTILLERY_DATA_DIR=str(data_dir), DISTILLERY_LOG_LEVEL="WARNING",
                    DISTILLERY_SANDBOX__RUN_AS_UID=str(sandbox_uid()), DISTILLERY_SANDBOX__WORKERS="1",
                    DISTILLERY_SANDBOX__PRELOAD_MODULES="[]")
    curator = _distillery(env, "keys", "create", "--name", "curator-ada", "--role", "curator")["secret"]
    reader = _distillery(env, "keys", "create", "--name", "reader-bob", "--role", "reader")["secret"]
    server = ServerProcess.start(env, data_dir / "serve.log", attempts=3, cwd=REPO_ROOT)
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {curator}"},
                          timeout=120) as client:
            for module in sorted(EXAMPLE_TOOLS.glob("*.py")):
                assert _publish(client, module)["version"]["status"] == "active", module
            second = _publish(client, FIXTURE_TOOLS / "add_numbers_v2.py", name="add_numbers")
            assert (second["kind"], second["semver"]) == ("new_version", "1.1.0"), second
            flagged = _publish(client, FIXTURE_TOOLS / "convert_units.py")["version"]
            assert (flagged["status"], flagged["flagged"]) == ("draft", True), flagged
        yield ConsoleBox(base_url=server.url, curator_key=curator, reader_key=reader, server=server)
    finally:
        server.stop(grace_s=5.0)


def _browser_missing(reason: str, in_ci: bool) -> NoReturn:
    message = f"{reason}: {INSTALL_HINT}"
    if os.environ.get(BROWSER_ENV) == "skip" and not in_ci:
        pytest.skip(f"{message} ({BROWSER_ENV}=skip)")
    pytest.fail(f"{message}; CI never skips the browser tests" if in_ci
                else f"{message}; or set {BROWSER_ENV}=skip to skip them")


@pytest.fixture(scope="session")
def chromium(in_ci: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Chromium through the system chromedriver (nothing is downloaded)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        _browser_missing(f"Selenium is not installed ({exc})", in_ci)
    binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        _browser_missing("no Chromium" if binary is None else "no chromedriver", in_ci)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tmp_path_factory.mktemp("chromium-profile")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(WAIT_S * 3)
    try:
        yield driver
    finally:
        driver.quit()


class ConsolePage:
    """The browser on the console: navigation that waits for the next page, and the checks on every page."""

    def __init__(self, driver: WebDriver, box: ConsoleBox, screenshots: Path | None = None) -> None:
        self.driver = driver
        self.box = box
        self.screenshots = screenshots
        self.visited: list[str] = []

    # -- navigation ------------------------------------------------------------------------------

    def open(self, path: str) -> None:
        """Load ``path`` (e.g. ``/ui/review``) and check the page."""
        self.driver.get(self.box.url(path))
        self.check_page()

    def click(self, element: WebElement) -> None:
        """Click a link or a submit button and wait until the next page has replaced this one."""
        self._replacing(element.click)

    def click_link(self, text: str) -> None:
        """Click the link whose visible text is ``text``."""
        from selenium.webdriver.common.by import By

        self.click(self.driver.find_element(By.LINK_TEXT, text))

    def type_and_enter(self, element: WebElement, text: str) -> None:
        """Type ``text`` into a field, press Enter and wait for the page the form leads to."""
        from selenium.webdriver.common.keys import Keys

        element.send_keys(text)
        self._replacing(lambda: element.send_keys(Keys.ENTER))

    def choose(self, select: WebElement, option: str) -> None:
        """Pick the option whose visible text is ``option`` in a ``<select>``."""
        from selenium.webdriver.support.select import Select

        Select(select).select_by_visible_text(option)

    def login(self, secret: str) -> None:
        """Log in through the login form (from any page, logged in or not)."""
        self.open("/ui/login")
        form = self.find("form.stack")
        form.find_element("id", "key").send_keys(secret)
        self.click(self.button(form, "Log in"))

    def post_form(self, action: str, **fields: str) -> None:
        """Submit a form this page does not offer, as a hand-made or stale page would: same origin, with
        the page's own CSRF token (from the log-out form in the header) and ``fields``."""
        script = """
            const [action, fields] = arguments;
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            const token = document.querySelector('input[name=csrf]');
            for (const [name, value] of Object.entries({csrf: token ? token.value : '', ...fields})) {
                const input = document.createElement('input');
                input.type = 'hidden';
                input.name = name;
                input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        """
        self._replacing(lambda: self.driver.execute_script(script, action, fields))

    # -- reading ---------------------------------------------------------------------------------

    def find(self, css: str, within: WebElement | None = None) -> WebElement:
        """The first element matching ``css`` (in ``within`` when given)."""
        from selenium.webdriver.common.by import By

        return (within or self.driver).find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str, within: WebElement | None = None) -> list[WebElement]:
        """Every element matching ``css`` (in ``within`` when given)."""
        from selenium.webdriver.common.by import By

        return list((within or self.driver).find_elements(By.CSS_SELECTOR, css))

    def button(self, within: WebElement, label: str) -> WebElement:
        """The button labelled ``label`` in ``within``."""
        buttons = [b for b in self.find_all("button", within) if b.text.strip() == label]
        assert buttons, f"no {label!r} button in {within.text[:300]!r}"
        return buttons[0]

    def rows(self, table_css: str) -> list[list[str]]:
        """The body rows of a table as lists of cell texts."""
        return [[cell.text.strip() for cell in self.find_all("td", row)]
                for row in self.find_all(f"{table_css} tbody tr")]

    @property
    def heading(self) -> str:
        """The page's ``h1``."""
        return self.find("main h1").text.strip()

    @property
    def text(self) -> str:
        """The visible text of the page's main part."""
        return self.find("main").text

    @property
    def path(self) -> str:
        """The current URL without the server's origin."""
        url: str = self.driver.current_url
        return url.removeprefix(self.box.base_url)

    def audit_rows(self) -> list[list[str]]:
        """Open the audit log and read its rows as the logged-in key sees them."""
        self.open("/ui/audit")
        assert self.heading == "Audit log", self.text
        return self.rows("table.audit")

    # -- the checks on every page ----------------------------------------------------------------

    def _replacing(self, action: Callable[[], object]) -> None:
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        old = self.find("html")
        action()
        WebDriverWait(self.driver, WAIT_S).until(expected_conditions.staleness_of(old))
        self.check_page()

    def check_page(self) -> None:
        """Wait for the page to load, then check it: still the console, every asset from this server, a
        stylesheet, no browser error; save its screenshot when asked to."""
        from selenium.webdriver.support.wait import WebDriverWait

        WebDriverWait(self.driver, WAIT_S).until(
            lambda driver: driver.execute_script("return document.readyState") == "complete")
        path = self.path
        assert path.startswith("/ui"), f"the browser left the console: {self.driver.current_url}"
        assets = self.driver.execute_script(_ASSET_URLS_JS)
        foreign = [url for url in assets if not url.startswith(f"{self.box.base_url}/")]
        assert not foreign, f"{path} loads assets from elsewhere (the console must work offline): {foreign}"
        assert any(url.endswith(".css") for url in assets), f"{path} loaded no stylesheet: {assets}"
        errors = [entry for entry in _browser_log(self.driver) if entry["level"] == "SEVERE"
                  and not _is_expected_error(entry["message"])]
        assert not errors, f"the browser logged errors on {path}: {errors}"
        self.visited.append(path)
        if self.screenshots is not None:
            slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:80]
            self.driver.save_screenshot(str(self.screenshots / f"{len(self.visited):02d}-{slug}.png"))


def _browser_log(driver: WebDriver) -> list[dict[str, Any]]:
    """The browser's console and network log entries since the last call (which drains it)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return entries


def _is_expected_error(message: str) -> bool:
    """Errors that are not the page's: its own 4xx status (the console's error pages answer 401, 403 and 404
    on purpose; Chromium logs each such document). A missing asset under ``/ui/static`` is never expected."""
    return bool(re.search(r"/ui/(?!static/)\S* - Failed to load resource: the server responded with a status "
                          r"of 4\d\d", message))


@pytest.fixture
def console(chromium: WebDriver, console_box: ConsoleBox, request: pytest.FixtureRequest) -> Iterator[ConsolePage]:
    """The session's browser on the console, logged out (no cookies) at the start of the test."""
    screenshots = None
    if os.environ.get(SCREENSHOTS_ENV):
        screenshots = Path(os.environ[SCREENSHOTS_ENV]) / request.node.name
        screenshots.mkdir(parents=True, exist_ok=True)
    page = ConsolePage(chromium, console_box, screenshots)
    chromium.get(console_box.url("/ui/login"))
    chromium.delete_all_cookies()
    _browser_log(chromium)
    yield page
