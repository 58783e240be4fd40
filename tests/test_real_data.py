"""Real MovieLens data from ../shared/data; skipped when absent."""
import json

from tears_bench.cli import main


def test_ml1m_positives(shared_data, capsys):
    assert main(["data", "show", str(shared_data / "ml-1m-positives"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["users"], info["items"], info["positives"]) == (6034, 3459, 575174)
    assert (info["split"]["val"], info["split"]["test"]) == (250, 250)


def test_ml100k_recbole(shared_data, capsys):
    assert main(["data", "show", "ml-100k", "--data-dir", str(shared_data / "ml-100k"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["users"], info["items"], info["interactions"]) == (943, 1682, 100000)
    assert (info["split"]["val"], info["split"]["test"]) == (94, 94)
