import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "spread.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def qa_file(path: Path, all_: float, motion: float | None) -> Path:
    rows = [{"name": "All", "accuracy": all_}, {"name": "Motion", "accuracy": motion}]
    path.write_text(json.dumps({"rows": rows}))
    return path


def test_mean_min_max_per_row(tmp_path):
    files = [qa_file(tmp_path / f"{i}.json", a, m) for i, (a, m) in enumerate([(90, 50), (96, 80), (93, 95)])]
    res = run(*files)
    assert res.returncode == 0, res.stderr
    lines = {line.split()[0]: line.split()[1:4] for line in res.stdout.splitlines()[2:]}
    assert lines["All"] == ["93.00", "90.00", "96.00"]
    assert lines["Motion"] == ["75.00", "50.00", "95.00"]


def test_retrieval_metrics_and_mismatched_runs(tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps({"metrics": {"t2v_R@1": 60.0, "t2v_R@5": 90.0}}))
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"metrics": {"t2v_R@1": 70.0}}))
    same = run(a, a).stdout.splitlines()[2].split()
    assert same[:4] == ["t2v_R@1", "60.00", "60.00", "60.00"]
    res = run(a, b)
    assert res.returncode != 0 and "b.json" in res.stderr


def test_a_file_that_is_not_a_result_is_named(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    res = run(bad)
    assert res.returncode != 0 and "bad.json" in res.stderr
