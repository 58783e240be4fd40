"""`file:` imports and the published `tears-gpt4-ml-1m` set (download tested on a local server)."""
from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tears_bench.data.split import build_split
from tears_bench.data.synthetic import generate
from tears_bench.errors import TearsBenchError
from tears_bench.summaries import get_summaries
from tears_bench.summaries import importer
from tears_bench.summaries.importer import normalise_user_id


@pytest.fixture(scope="module")
def split():
    return build_split(generate(users=200, items=300, seed=0))


def write(path, obj) -> str:
    path.write_text(json.dumps(obj))
    return str(path)


def test_float_string_keys_and_counts(split, tmp_path):
    ids = split.user_ids.tolist()
    mapping = {f"{uid}.0": f"Summary: user {uid} likes drama." for uid in ids[:150]}
    mapping["99999.0"] = "Summary: not a user of this split."
    mapping[ids[0]] = "Summary: the same user again, without the .0"
    mapping[f"{ids[150]}.0"] = "   "
    path = write(tmp_path / "s.json", mapping)
    summaries = get_summaries(split, f"file:{path}")
    report = summaries.report["import"]
    assert (report["keys"], report["matched"], report["unknown_keys"], report["duplicates"], report["empty"]) == \
        (153, 150, 1, 1, 1)
    assert report["users_without"] == len(ids) - 150 and summaries.report["missing"] == len(ids) - 150
    assert summaries[0] == f"Summary: user {ids[0]} likes drama." and len(summaries) == 150
    assert summaries.by_user_id()[ids[3]] == f"Summary: user {ids[3]} likes drama."
    assert summaries.metadata["summarizer"] == "file:s.json" and summaries.metadata["model"] is None


def test_relative_path_is_resolved_against_the_cwd(split, tmp_path, monkeypatch):
    write(tmp_path / "mine.json", {uid: f"Summary: {uid}" for uid in split.user_ids.tolist()})
    monkeypatch.chdir(tmp_path)
    assert len(get_summaries(split, "file:mine.json")) == len(split.user_ids)


def test_changing_the_file_changes_the_key(split, tmp_path):
    path = tmp_path / "s.json"
    write(path, {uid: "Summary: one" for uid in split.user_ids.tolist()})
    first = get_summaries(split, f"file:{path}")
    write(path, {uid: "Summary: two" for uid in split.user_ids.tolist()})
    second = get_summaries(split, f"file:{path}")
    assert first.key != second.key and second[0] == "Summary: two"


def test_summaries_without_the_prefix_are_flagged(split, tmp_path):
    ids = split.user_ids.tolist()
    path = write(tmp_path / "s.json", {uid: ("The user likes films." if k < 5 else "Summary: ok")
                                       for k, uid in enumerate(ids)})
    summaries = get_summaries(split, f"file:{path}")
    assert summaries.report["flag_counts"] == {"no_prefix": 5} and summaries.flags[0] == ["no_prefix"]
    assert summaries[0] == "The user likes films."  # stored as written


def test_file_for_another_dataset_is_refused_with_counts(split, tmp_path):
    mapping = {str(100000 + k): "Summary: x" for k in range(300)}
    mapping.update({uid: "Summary: y" for uid in split.user_ids.tolist()[:10]})
    path = write(tmp_path / "other.json", mapping)
    with pytest.raises(TearsBenchError, match=r"300 of 310 keys are not users of dataset 'synthetic' \(only 10 matched\)"):
        get_summaries(split, f"file:{path}")


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", "expected a JSON object mapping user id -> summary, found a list"),
    ('{"1": 3, "2": "Summary: a"}', "1 of 2 values are not strings \\(e.g. key '1' holds a int\\)"),
    ('{"1": "Summary: a",', "not valid JSON \\(line 1"),
])
def test_bad_files_are_named(split, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(TearsBenchError, match=f"bad.json: {message}"):
        get_summaries(split, f"file:{path}")


def test_missing_file_and_unknown_summarizer(split, tmp_path):
    with pytest.raises(TearsBenchError, match="summary file not found"):
        get_summaries(split, f"file:{tmp_path / 'nope.json'}")
    with pytest.raises(TearsBenchError, match="unknown summarizer 'gpt4'"):
        get_summaries(split, "gpt4")


def test_normalise_user_id():
    assert [normalise_user_id(k) for k in ["4169.0", " 12 ", "12", "u7", "3.5"]] == ["4169", "12", "12", "u7", "3.5"]


# -- the published set, downloaded from a local server that serves a zip built here
class ZipServer:
    def __init__(self, payload: bytes, path: str):
        self.payload, self.path, self.hits = payload, path, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.hits += 1
                if self.path != outer.path:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("content-length", str(len(outer.payload)))
                self.end_headers()
                self.wfile.write(outer.payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def published(split, monkeypatch):
    mapping = {f"{uid}.0": f"Summary: published text for {uid}." for uid in split.user_ids.tolist()[:180]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("gpt4_summaries/gpt4_summaries.json", json.dumps(mapping))
    payload = buffer.getvalue()
    item = importer.PUBLISHED["tears-gpt4-ml-1m"]
    server = ZipServer(payload, f"/{item.commit}/{item.path}")
    monkeypatch.setenv("TEARS_BENCH_TEARS_URL", server.url)
    monkeypatch.setenv("TEARS_BENCH_SHARED_DATA", "/nonexistent")
    yield server, payload, mapping
    server.close()


def test_published_download_is_verified_and_kept(split, published, monkeypatch):
    server, payload, mapping = published
    item = importer.PUBLISHED["tears-gpt4-ml-1m"]
    # The real sha256 does not match the zip built here: refused, nothing kept.
    with pytest.raises(TearsBenchError, match="sha256 .* does not match the published d2085fae"):
        get_summaries(split, "tears-gpt4-ml-1m")
    assert server.hits == 1
    sha = hashlib.sha256(payload).hexdigest()
    monkeypatch.setitem(importer.PUBLISHED, "tears-gpt4-ml-1m",
                        importer.Published(**{**item.__dict__, "sha256": sha}))
    summaries = get_summaries(split, "tears-gpt4-ml-1m")
    assert server.hits == 2 and len(summaries) == 180
    assert summaries[5] == mapping[f"{split.user_ids[5]}.0"]
    assert summaries.report["import"]["source"] == "tears-gpt4-ml-1m (download)"
    assert summaries.metadata["model"] == "gpt-4-1106-preview"
    # A new split of the same data reads the downloaded file, not the network.
    importer_path, origin = importer.published_file("tears-gpt4-ml-1m")
    assert origin == "cache" and server.hits == 2 and json.loads(importer_path.read_text()) == mapping


def test_published_offline_copy(split, published, monkeypatch, tmp_path):
    server, _, mapping = published
    monkeypatch.setenv("TEARS_BENCH_TEARS_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(TearsBenchError, match="could not download .*offline, put tears-gpt4-ml-1m.json"):
        get_summaries(split, "tears-gpt4-ml-1m")
    (tmp_path / "summaries").mkdir()
    (tmp_path / "summaries" / "tears-gpt4-ml-1m.json").write_text(json.dumps(mapping))
    monkeypatch.setenv("TEARS_BENCH_SHARED_DATA", str(tmp_path))
    summaries = get_summaries(split, "tears-gpt4-ml-1m")
    assert len(summaries) == 180 and summaries.report["import"]["source"] == "tears-gpt4-ml-1m (offline copy)"


def test_done_when_gpt4_file_on_ml1m_positives(shared_data, capsys):
    from tears_bench.cli import main

    path = shared_data / "summaries" / "tears-gpt4-ml-1m.json"
    assert main(["summarize", "--dataset", str(shared_data / "ml-1m-positives"), "--summarizer", f"file:{path}"]) == 0
    out = capsys.readouterr().out
    match = __import__("re").search(r"import +6,016 summaries in the file: ([\d,]+) matched, ([\d,]+) users", out)
    assert match, out
    matched, without = (int(x.replace(",", "")) for x in match.groups())
    assert 5900 <= matched <= 6016 and without >= 1
