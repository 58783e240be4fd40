"""The `tears-bench serve` page in a real browser (selenium + Debian's headless chromium).

A person's path through the workbench: pick a user, see the top-N list, rewrite the summary and
watch the list change, move the alpha slider with the keyboard, run the simulated flip, save the
session. The server's own JSON API is the oracle: what the page shows must be what /api/recommend
and /api/simulate answer for the same input. The page must load nothing from outside the server.

Skips, with the reason, when selenium, chromium or chromedriver is missing (.ci/run installs the
Debian packages `chromium` and `chromium-driver` when it can). Set TEARS_BENCH_SCREENSHOTS to a
folder to keep a screenshot of the page.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as exc:  # pragma: no cover - depends on the environment
    pytest.skip(f"selenium is not installed ({exc}); pip install selenium to run the browser test",
                allow_module_level=True)


def _find(name: str, usual: str) -> str | None:
    return usual if Path(usual).is_file() and os.access(usual, os.X_OK) else shutil.which(name)


CHROMIUM = _find("chromium", "/usr/bin/chromium")
CHROMEDRIVER = _find("chromedriver", "/usr/bin/chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:  # pragma: no cover - depends on the environment
    missing = " and ".join(name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER))
                           if path is None)
    pytest.skip(f"{missing} not found (apt-get install chromium chromium-driver)", allow_module_level=True)

WAIT_S = 20
NEW_TEXT = ("I have grown tired of long serious films. These days I want light, funny comedies "
            "and animated adventures for the whole family, nothing violent or dark.")


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the server is local: no proxy


def _get(base: str, path: str) -> dict:
    with _DIRECT.open(base + path, timeout=30) as response:
        return json.load(response)


def _post(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with _DIRECT.open(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise AssertionError(f"POST {path} {body}: {error.code} {error.read().decode(errors='replace')}") from None


@pytest.fixture
def browser(tmp_path, monkeypatch):
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)  # selenium talks to the local chromedriver directly
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-proxy-server", "--window-size=1280,960",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    # The page is made for a 1280x800 screen: make that the viewport (--window-size counts the
    # window's own frame too).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    try:
        yield driver
    finally:
        driver.quit()


# The page's state, read in one script so a list re-rendered meanwhile never gives stale elements.
_READ_PAGE = """
const list = document.getElementById('rec-list');
return {
  items: [...list.querySelectorAll('li')].map(li => [li.dataset.item,
           (li.querySelector('.change') || {textContent: ''}).textContent]),
  answers: Number(list.dataset.answers || 0),
  busy: list.getAttribute('aria-busy') === 'true',
  status: document.getElementById('status').textContent,
  error: document.getElementById('error').hidden ? '' : document.getElementById('error').textContent,
  summary: document.getElementById('summary').value,
  alpha: document.getElementById('alpha-value').textContent,
};
"""


def _page(driver) -> dict:
    return driver.execute_script(_READ_PAGE)


def _shown(answer: dict) -> list[str]:
    return [str(item["item"]) for item in answer["items"]]


def _settled(driver, want: list[str], min_answers: int = 1):
    """Wait until the page shows the list `want` with no request pending; fail on a shown error."""
    def ready(d):
        page = _page(d)
        if page["error"]:
            raise AssertionError(f"the page shows an error: {page['error']}")
        done = not page["busy"] and page["answers"] >= min_answers and [i for i, _ in page["items"]] == want
        return page if done else False
    return WebDriverWait(driver, WAIT_S).until(ready, message=f"the page never showed {want}")


def test_workbench_page_in_a_real_browser(served_app, browser, tmp_path):
    base, workbench = served_app.url, served_app.workbench  # tests/serve_fixtures.py, via conftest
    driver = browser
    wait = WebDriverWait(driver, WAIT_S)
    info = _get(base, "/api/info")
    n, alpha = info["top_n"], round(info["alpha"], 1)

    # --- pick a user with a summary from the list; the original summary fills the editor
    driver.get(base + "/")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#user-list button[data-user]"),
               message="no user buttons appeared")
    user_id = next(u["user_id"] for u in _get(base, "/api/users?q=&limit=20")["users"] if u["has_summary"])
    user = _get(base, f"/api/users/{user_id}")
    driver.find_element(By.CSS_SELECTOR, f"#user-list button[data-user='{user_id}']").click()
    original = _post(base, "/api/recommend", {"user_id": user_id, "text": user["summary"], "alpha": alpha, "n": n})
    page = _settled(driver, _shown(original))
    assert page["summary"] == user["summary"]
    assert page["alpha"] == f"{alpha:.1f}"
    assert 0 < len(page["items"]) <= n
    assert {badge for _, badge in page["items"]} == {"="}, "the original summary moved nothing"
    summary = driver.find_element(By.ID, "summary")
    assert summary.get_attribute("maxlength") == str(info["text_limit"])
    assert driver.find_element(By.CSS_SELECTOR, f"#user-list button[data-user='{user_id}']") \
        .get_attribute("aria-pressed") == "true"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#genre-chart svg g[data-genre]")) == len(original["genre_ndcg"])

    # --- rewrite the summary by typing: the list changes to the server's list for the new text
    summary.send_keys(Keys.CONTROL, "a")
    summary.send_keys(Keys.DELETE)
    summary.send_keys(NEW_TEXT)
    wait.until(lambda d: _page(d)["summary"] == NEW_TEXT)
    edited = _post(base, "/api/recommend", {"user_id": user_id, "text": NEW_TEXT, "alpha": alpha, "n": n})
    page = _settled(driver, _shown(edited))
    assert page["items"] != [[str(i["item"]), "="] for i in original["items"]], \
        "a different summary left the list and every rank as they were"
    for (_, badge), item in zip(page["items"], edited["items"]):
        change = item["rank_change"]
        want = "new" if item["original_rank"] is None or item["original_rank"] > n else \
            f"▲{change}" if change > 0 else f"▼{-change}" if change < 0 else "="
        assert badge == want, (item, badge)

    # --- the alpha slider, moved with the keyboard: its value shows and a new answer arrives
    slider = driver.find_element(By.ID, "alpha")
    if info["text_only"]:
        assert not slider.is_enabled(), "a text-only model's alpha slider must be disabled"
    else:
        answers = page["answers"]
        moved = round(alpha - 0.1 if alpha >= 1 else alpha + 0.1, 1)
        # A range input is not "editable" for WebDriver's send_keys: focus it, then press the key.
        driver.execute_script("arguments[0].focus()", slider)
        assert driver.switch_to.active_element == slider
        ActionChains(driver).send_keys(Keys.ARROW_LEFT if alpha >= 1 else Keys.ARROW_RIGHT).perform()
        wait.until(lambda d: _page(d)["alpha"] == f"{moved:.1f}", message="alpha-value did not follow the slider")
        at_moved = _post(base, "/api/recommend", {"user_id": user_id, "text": NEW_TEXT, "alpha": moved, "n": n})
        page = _settled(driver, _shown(at_moved), min_answers=answers + 1)
        assert f"α {moved:.1f}" in page["status"]
        alpha = moved

    # --- the simulated flip: its numbers in the panel, its text in the editor, its list shown
    flip = _post(base, "/api/simulate", {"user_id": user_id, "task": "flip", "alpha": alpha})
    driver.find_element(By.ID, "sim-flip").click()

    def flip_numbers(d):
        page = _page(d)
        if page["error"]:
            raise AssertionError(f"the flip failed on the page: {page['error']}")
        cells = d.find_elements(By.CSS_SELECTOR, "#sim-result dd[data-key]")
        return {c.get_attribute("data-key"): c.text for c in cells} or False
    numbers = wait.until(flip_numbers, message="sim-result never showed the flip's numbers")
    for key in ("delta_up", "delta_down"):
        assert re.fullmatch(r"[+-]?\d+(\.\d+)?", numbers[key]), numbers
        assert float(numbers[key]) == pytest.approx(flip["numbers"][key], abs=1e-3)
    assert numbers["favourite"] == str(flip["numbers"]["favourite"])
    page = _settled(driver, _shown(flip["result"]))
    assert page["summary"] == flip["edited"]

    # --- save the session: the count shows in the status line
    driver.find_element(By.ID, "save").click()
    status = wait.until(lambda d: re.search(r"Saved: session (\d+) in (\S+)", _page(d)["status"]),
                        message="saving never showed a count")
    saved = (workbench.out_dir / status.group(2)).read_text(encoding="utf-8").splitlines()
    assert int(status.group(1)) == len(saved)
    record = json.loads(saved[-1])
    assert (record["user_id"], record["edited"], record["simulated"]) == (user_id, flip["edited"], "flip")
    assert float(record["alpha"]) == pytest.approx(alpha)
    assert not _page(driver)["error"]

    # --- a screenshot for people, then: nothing came from outside the server, no script error
    driver.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "serve_page.png"
    assert driver.save_screenshot(str(shot))
    if os.environ.get("TEARS_BENCH_SCREENSHOTS"):
        folder = Path(os.environ["TEARS_BENCH_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, folder / "serve_page.png")

    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded, "the resource timing list is empty"
    outside = [url for url in loaded if not url.startswith(base + "/")]
    assert not outside, f"the page loaded external URLs: {outside}"
    assert any(url.endswith("/static/app.js") for url in loaded)

    try:
        logs = driver.get_log("browser")
    except Exception:  # pragma: no cover - a driver without the log endpoint
        logs = []
    script_errors = [entry["message"] for entry in logs
                     if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]]
    assert not script_errors, script_errors
