"""The console in a real headless browser: Debian's chromium driven through its
chromedriver (selenium, with both paths given, so nothing is downloaded), against a real
``cmc-workflow serve`` on a free loopback port over a SQLite file of its own.

A reviewer signs in, finds the piece by searching its title, passes the first review with
the PUB-5 checklist, then tries the second review of the same piece and sees the
engine's refusal (separation of duties: ``distinct_reviewers``) with its rule and reason,
in Chinese and, after the language switch, in English.

Screenshots are taken into the test's tmp dir; with ``CMC_CONSOLE_SCREENSHOTS=docs/images``
they are copied there as ``console-*.png`` (the pictures of ``docs/console.md``). Skipped
when chromium, chromedriver or selenium are absent (``.ci/run`` installs the first two
when it can).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cmc_workflow import Engine
from tests.console.conftest import PASSWORD, TITLE, WORKFLOWS, Desk, make_desk
from tests.helpers import POLICIES, PUBLISHING_POLICIES
from tests.helpers.processes import Processes, wait_until
from tests.helpers.records import ACCOUNTS, TRAINING, TRAINING_PLAN

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "the browser test needs Debian's chromium and chromium-driver "
        "(apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium")
httpx = pytest.importorskip("httpx", reason="the browser test needs httpx")

from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.api.conftest import free_port  # noqa: E402
from tests.helpers import PUBLISHING  # noqa: E402

WAIT = 30.0
"""The cap of each wait for the page (seconds): far beyond a healthy run."""


def serve(processes: Processes, desk: Desk, folder: Path) -> str:
    """Start ``cmc-workflow serve`` over the desk's database; its base URL."""
    workflows, policies = folder / "workflows", folder / "policies"
    workflows.mkdir()
    policies.mkdir()
    for source in (PUBLISHING, TRAINING, TRAINING_PLAN, ACCOUNTS):
        shutil.copy(source, workflows / source.name)
    for name in ("roles.yaml", "publishing.yaml"):
        shutil.copy(POLICIES / name, policies / name)
    for _attempt in range(3):  # another process may take the free port first
        port = free_port()
        log = folder / f"serve-{port}.log"
        with log.open("wb") as sink:
            process = processes.start(
                [
                    sys.executable,
                    "-m",
                    "cmc_workflow",
                    "serve",
                    "--db",
                    desk.url,
                    "--workflows",
                    str(workflows),
                    "--policies",
                    str(policies),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"

        def answers(url: str = url, process: Any = process) -> bool:
            if process.poll() is not None:
                return True
            try:
                return httpx.get(f"{url}/v1/health", timeout=5.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, f"cmc-workflow serve on {url} to answer")
        if process.poll() is None:
            return url
    raise AssertionError(f"cmc-workflow serve did not start: {log.read_text(errors='replace')}")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1100",
        "--lang=zh-CN",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(argument)
    # the console follows the browser's Accept-Language until the switch is used: Chinese
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()
        process = service.process
        if process is not None and process.poll() is None:  # quit() did not end it
            process.kill()
            process.wait()


class Shots:
    """Screenshots of the walk, numbered in order."""

    def __init__(self, driver: Any, folder: Path) -> None:
        self.driver, self.folder, self.taken = driver, folder, []

    def __call__(self, name: str) -> None:
        path = self.folder / f"console-{len(self.taken) + 1}-{name}.png"
        self.driver.set_window_size(1280, 700)  # measure the page, not the last window
        full = self.driver.execute_script("return document.body.scrollHeight")
        height = min(int(full) + 200, 2600)  # the window's frame takes some 150 px
        self.driver.set_window_size(1280, height)
        assert self.driver.save_screenshot(str(path)), path
        self.taken.append(path)

    def publish(self) -> None:
        target = os.environ.get("CMC_CONSOLE_SCREENSHOTS")
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            for path in self.taken:
                shutil.copy(path, Path(target) / path.name)


def test_a_reviewer_signs_in_finds_reviews_and_is_refused_the_second_review(
    tmp_path: Path, browser: Any
) -> None:
    desk = make_desk(tmp_path)
    wait = WebDriverWait(browser, WAIT)
    shots = Shots(browser, tmp_path)

    def text_of(element_id: str) -> str:
        return str(browser.find_element(By.ID, element_id).text)

    with Processes() as processes:
        url = serve(processes, desk, tmp_path)

        # sign in: the console sends a stranger to the sign-in page, in Chinese
        browser.get(f"{url}/console/")
        wait.until(lambda d: d.find_elements(By.ID, "sign-in-form"))
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
        browser.find_element(By.ID, "person").send_keys("zhao")
        browser.find_element(By.ID, "password").send_keys("wrong password")
        browser.find_element(By.ID, "sign-in").click()
        wait.until(lambda d: d.find_elements(By.ID, "sign-in-error"))
        assert "password_wrong" in text_of("sign-in-error")
        browser.find_element(By.ID, "person").send_keys("zhao")
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        shots("sign-in")
        browser.find_element(By.ID, "sign-in").click()
        wait.until(lambda d: d.find_elements(By.ID, "who"))
        assert text_of("who") == "zhao"
        assert TITLE in text_of("queue")  # waiting in first review for any reviewer
        shots("tasks")

        # find the piece by its title
        browser.find_element(By.ID, "nav-search").click()
        wait.until(lambda d: d.find_elements(By.ID, "search-form"))
        browser.find_element(By.ID, "q").send_keys("古籍")
        browser.find_element(By.ID, "search").click()
        # the page before lists items too: wait for the answer to the query itself
        wait.until(lambda d: "q=" in d.current_url and d.find_elements(By.ID, "results"))
        links = browser.find_elements(By.CSS_SELECTOR, "#results a.item-link")
        assert [a.text for a in links] == [TITLE]
        shots("search")
        links[0].click()

        # first review with the checklist
        wait.until(lambda d: d.find_elements(By.ID, "action-approve"))
        assert browser.find_element(By.ID, "state-label").get_attribute("data-state") == (
            "first_review"
        )
        current = browser.find_elements(By.CSS_SELECTOR, "svg.diagram g.current")
        assert [g.get_attribute("data-state") for g in current] == ["first_review"]
        form = browser.find_element(By.ID, "action-approve")
        for name in ("truthful", "repost_authorized", "copyright_cleared", "nothing_confidential"):
            form.find_element(By.ID, f"approve-{name}").click()
        form.find_element(By.ID, "approve-comment").send_keys("事实与图片均已核对")
        shots("first-review")
        form.find_element(By.ID, "fire-approve").click()
        wait.until(lambda d: d.find_elements(By.ID, "done"))
        assert browser.find_element(By.ID, "state-label").get_attribute("data-state") == (
            "second_review"
        )
        assert "zhao" in text_of("timeline")

        # the same person tries the second review: the engine refuses, the page says why
        browser.find_element(By.CSS_SELECTOR, "#try-approve summary").click()
        form = browser.find_element(By.CSS_SELECTOR, "#try-approve form")
        for name in ("truthful", "repost_authorized", "copyright_cleared", "nothing_confidential"):
            form.find_element(By.ID, f"approve-{name}").click()
        form.find_element(By.ID, "fire-approve").click()
        wait.until(lambda d: d.find_elements(By.ID, "refusal"))
        assert text_of("refusal-rule") == "distinct_reviewers"
        assert "复审人须由他人担任" in text_of("refusal-reason")
        assert browser.find_element(By.ID, "state-label").get_attribute("data-state") == (
            "second_review"
        )
        shots("refused")

        # in English, the same refusal is explained in English
        browser.find_element(By.ID, "lang-switch").click()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
        wait.until(lambda d: d.find_elements(By.ID, "try-approve"))
        assert "distinct_reviewers" in text_of("try-approve").replace("\n", " ") or (
            "distinct_reviewers" in browser.find_element(By.CSS_SELECTOR, "ul.blocked").text
        )
        shots("item-en")
        browser.find_element(By.ID, "nav-dashboard").click()
        wait.until(lambda d: d.find_elements(By.ID, "chart-sla"))
        assert browser.find_elements(By.CSS_SELECTOR, "#chart-open svg rect")
        shots("dashboard")

    # the history holds one first review by zhao and no second review
    with Engine.open(desk.url, workflows=WORKFLOWS, policies=PUBLISHING_POLICIES) as engine:
        steps = [
            (h.from_state, h.trigger, h.actor)
            for h in engine.history(desk.item_id)
            if h.trigger == "approve" and h.from_state in ("first_review", "second_review")
        ]
    assert steps == [("first_review", "approve", "zhao")]
    shots.publish()
