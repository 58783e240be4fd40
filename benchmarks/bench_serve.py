"""Edit-to-list latency of `tears-bench serve`: median and p95 of real HTTP requests.

    python benchmarks/bench_serve.py [--dataset ../shared/data/ml-1m-positives]
        [--summaries file:../shared/data/summaries/tears-gpt4-ml-1m.json] [--model tears-multvae]
        [--users 20] [--edits 12] [--epochs N]

Loads the model as `tears-bench serve MODEL` does (split, summaries, embeddings and the trained
model from the cache $TEARS_BENCH_HOME; trained first when absent), starts the real uvicorn server
on 127.0.0.1 and sends, for each of --users seeded random test users, the requests a person
makes: open the user, then edits of the summary that each change one sentence (a sentence typed
in, a genre word changed, a sentence deleted) and slider moves (same text, another alpha). Typed
sentences carry numbers drawn from the clock, so they are new to the embedding cache on every run:
an edit pays for encoding its new sentence. Latency is measured by the client, request sent to
answer parsed, on one keep-alive connection. Prints one table.

With --page (needs selenium and Debian's chromium + chromedriver), the same kinds of edits are also
made in the page in headless Chromium, and timed from the `input` event to the new list in the
page (the page's debounce, the request and the rendering together).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TEARS_BENCH_SHARED_DATA", REPO.parent / "shared" / "data"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(SHARED / "ml-1m-positives"))
    parser.add_argument("--summaries", default=f"file:{SHARED / 'summaries' / 'tears-gpt4-ml-1m.json'}")
    parser.add_argument("--model", default="tears-multvae")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--edits", type=int, default=12, help="requests per user after opening it")
    parser.add_argument("--epochs", type=int, help="TEARS epochs (default: the normal training, cached)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--page", action="store_true", help="also time edits in the page (headless Chromium)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from tears_bench.openmp import prefer_passive_wait

    prefer_passive_wait()
    import tempfile

    import torch
    from tears_bench.serve.app import BackgroundServer
    from tears_bench.serve.loading import load_workbench

    given = {"dataset": args.dataset, "summaries": [args.summaries], "output": tempfile.mkdtemp(prefix="bench-serve-")}
    if args.epochs:
        given["epochs"] = args.epochs
    started = time.perf_counter()
    workbench = load_workbench(args.model, given)
    load_seconds = time.perf_counter() - started
    background = BackgroundServer(workbench)
    connection = http.client.HTTPConnection("127.0.0.1", background.port, timeout=60)

    rng = random.Random(args.seed)
    fresh = random.Random(time.time_ns())  # typed sentences new to the cache on every run
    users = [u["user_id"] for u in workbench.search_users("", 10 ** 6)["users"] if u["has_summary"]]
    users = rng.sample(users, min(args.users, len(users)))
    genres = workbench.genres[:10]
    timings: dict[str, list[float]] = {"open user": [], "edit (new sentence)": [], "edit (sentence deleted)": [],
                                       "slider (same text)": []}
    server_ms: list[float] = []
    for user in users:
        timings["open user"].append(_timed(connection, "GET", f"/api/users/{user}")[0])
        text = _timed(connection, "GET", f"/api/users/{user}")[1]["summary"]
        alpha = 0.5
        for step in range(args.edits):
            kind = ("edit (new sentence)", "edit (new sentence)", "edit (sentence deleted)", "slider (same text)")[step % 4]
            if kind == "slider (same text)":
                alpha = rng.choice([a / 10 for a in range(11) if a / 10 != alpha])
            elif kind == "edit (sentence deleted)":
                sentences = re.split(r"(?<=[.!?])\s+", text.strip())
                if len(sentences) > 2:
                    sentences.pop(rng.randrange(1, len(sentences)))
                text = " ".join(sentences)
            else:
                text += (f" The user also enjoys {rng.choice(genres)} movies from {fresh.randint(1900, 2025)} "
                         f"and {fresh.randint(1900, 2025)}.")
            seconds, answer = _timed(connection, "POST", "/api/recommend", {"user_id": user, "text": text[-4000:],
                                                                             "alpha": alpha})
            timings[kind].append(seconds)
            server_ms.append(answer["elapsed_ms"])
    page = _page_timings(background.url, users, genres, args.edits, fresh) if args.page else None
    background.stop()

    print(f"{workbench.name} on {workbench.split.dataset}: {workbench.split.n_items} items, "
          f"{len(workbench.user_ids)} test users; {len(users)} users x {args.edits} requests; torch threads "
          f"{torch.get_num_threads()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; model loaded in "
          f"{load_seconds:.1f} s")
    print(f"| request | n | median ms | p95 ms | max ms |\n|---|---|---|---|---|")
    every = [t for values in timings.values() for t in values if values is not timings["open user"]]
    for kind, values in [*timings.items(), ("all edits and slider moves", every)]:
        if values:
            ms = sorted(1000 * v for v in values)
            print(f"| {kind} | {len(ms)} | {statistics.median(ms):.1f} | {_p95(ms):.1f} | {ms[-1]:.1f} |")
    print(f"server-side time of the edits (elapsed_ms): median {statistics.median(server_ms):.1f} ms, "
          f"p95 {_p95(sorted(server_ms)):.1f} ms")
    if page:
        print("\nIn the page (headless Chromium): input event to the new list rendered, the debounce included")
        print(f"| edit | n | median ms | p95 ms | max ms |\n|---|---|---|---|---|")
        for kind, values in page.items():
            ms = sorted(values)
            print(f"| {kind} | {len(ms)} | {statistics.median(ms):.1f} | {_p95(ms):.1f} | {ms[-1]:.1f} |")
    return 0


# Sets the summary (or the slider), fires the event the page listens to, and resolves with the
# milliseconds until the page has rendered the answer to that change (#rec-list's answer count grows).
_TIMED_CHANGE = """
const [kind, value, done] = arguments;
const list = document.getElementById('rec-list');
const before = Number(list.dataset.answers || 0);
const field = document.getElementById(kind === 'slider' ? 'alpha' : 'summary');
const started = performance.now();
field.value = value;
field.dispatchEvent(new Event('input', {bubbles: true}));
(function wait() {
  const rendered = Number(list.dataset.answers || 0) > before && list.getAttribute('aria-busy') !== 'true';
  if (rendered) done(performance.now() - started); else requestAnimationFrame(wait);
})();
"""


def _page_timings(base: str, users: list[str], genres: list[str], edits: int, fresh) -> dict[str, list[float]]:
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-proxy-server",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='bench-serve-chromium-')}"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(30)
    timings: dict[str, list[float]] = {"edit (new sentence)": [], "slider (same text)": []}
    try:
        driver.get(base + "/")
        for user in users:
            WebDriverWait(driver, 30).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, f"#user-list button[data-user='{user}']")
                or d.execute_script("document.getElementById('user-search').value = arguments[0];"
                                    "document.getElementById('user-search').dispatchEvent(new Event('input'));",
                                    user))
            driver.find_element(By.CSS_SELECTOR, f"#user-list button[data-user='{user}']").click()
            WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "summary").get_attribute("value"))
            WebDriverWait(driver, 30).until(
                lambda d: d.find_element(By.ID, "rec-list").get_attribute("aria-busy") != "true")
            text = driver.find_element(By.ID, "summary").get_attribute("value")
            for step in range(edits // 2):
                text += f" The user also enjoys {genres[step % len(genres)]} movies from {fresh.randint(1900, 2025)}."
                timings["edit (new sentence)"].append(driver.execute_async_script(_TIMED_CHANGE, "summary", text[-4000:]))
                timings["slider (same text)"].append(
                    driver.execute_async_script(_TIMED_CHANGE, "slider", str((step % 9 + 1) / 10)))
    finally:
        driver.quit()
    return timings


def _timed(connection, method: str, path: str, body: dict | None = None) -> tuple[float, dict]:
    payload = json.dumps(body).encode() if body is not None else None
    started = time.perf_counter()
    connection.request(method, path, body=payload, headers={"content-type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    seconds = time.perf_counter() - started
    if response.status != 200:
        raise SystemExit(f"{method} {path}: {response.status} {answer}")
    return seconds, answer


def _p95(sorted_values: list[float]) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(round(0.95 * (len(sorted_values) - 1))))]


if __name__ == "__main__":
    raise SystemExit(main())
