"""Imports run downward only: models and tasks know nothing of the command line or the report layer,
and models nothing of where summaries come from (a static scan of every module, plus a fresh process)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UPPER_LAYERS = ("tears_bench.cli", "tears_bench.commands", "tears_bench.report", "tears_bench.harness",
                "tears_bench.compare", "tears_bench.api")
FORBIDDEN = {"models": UPPER_LAYERS + ("tears_bench.summaries",), "tasks": UPPER_LAYERS}


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` in the file names, at any depth (function bodies too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f"{path}: relative import of {node.module}; import by the full name")
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # from tears_bench import cli
    return names


def is_under(module: str, package: str) -> bool:
    # tears_bench.report covers the package tears_bench.report and its sibling modules tears_bench.report_*
    return module == package or module.startswith(package + ".") or module.startswith(package + "_")


def test_the_scan_sees_nested_and_from_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom tears_bench import cli\n\n"
                      "def f():\n    from tears_bench.report_figures import x\n")
    names = imported_modules(sample)
    assert {"os", "tears_bench.cli", "tears_bench.report_figures"} <= names
    assert sorted(m for m in names if is_under(m, "tears_bench.report")) == [
        "tears_bench.report_figures", "tears_bench.report_figures.x"]
    assert not is_under("tears_bench.summarise", "tears_bench.summaries")


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_module_imports_a_layer_above_it(folder):
    files = sorted((REPO / folder).rglob("*.py"))
    assert len(files) >= 5  # the scan looked at the package, not an empty folder
    upward = [f"{path.relative_to(REPO)} imports {module}" for path in files
              for module in sorted(imported_modules(path))
              if any(is_under(module, layer) for layer in FORBIDDEN[folder])]
    assert upward == []


def test_no_module_imports_the_top_level_names_models_or_tasks():
    files = sorted((REPO / "models").rglob("*.py")) + sorted((REPO / "tasks").rglob("*.py"))
    bare = [f"{path.relative_to(REPO)} imports {module}" for path in files for module in imported_modules(path)
            if module.split(".")[0] in ("models", "tasks")]
    assert bare == []


def test_the_model_registry_loads_without_the_cli_from_any_folder(tmp_path):
    # tmp_path, not the repository: the folders models/ and tasks/ must not be importable as such.
    (tmp_path / "models.py").write_text("raise ImportError('the user folder models.py was imported')\n")
    code = ("import sys\n"
            "from tears_bench.models.registry import MODELS\n"
            "classes = {name: spec.model_class().__name__ for name, spec in MODELS.items()}\n"
            "upper = sorted(m for m in sys.modules if m.startswith(('tears_bench.commands', 'tears_bench.cli', "
            "'tears_bench.summaries', 'tears_bench.report')))\n"
            "print(classes['multvae'], classes['tears-multvae'], upper)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "MultVAE Tears []"  # every spec's class imported, no upper layer loaded


def test_one_resolve_device_for_training_and_manifests():
    import tears_bench.models.tears_trainer as tears_trainer
    import tears_bench.models.trainer as trainer
    from tears_bench.device import resolve_device
    from tears_bench.errors import TearsBenchError

    assert trainer.resolve_device is resolve_device and tears_trainer.resolve_device is resolve_device
    assert str(resolve_device("cpu")) == "cpu" and resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(TearsBenchError, match="expected auto, cpu or cuda"):
        resolve_device("gpu")


def test_every_package_folder_is_in_the_wheel():
    """pyproject lists packages by hand (models/ and tasks/ are mapped): a folder left out of the
    list installs in editable mode but is missing from a wheel (tears_bench.report once was)."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = {folder: package for package, folder in project["package-dir"].items()}
    found = set()
    for init in sorted(REPO.glob("*/**/__init__.py")):
        folder = init.parent.relative_to(REPO).as_posix()
        top, _, rest = folder.partition("/")
        if top != "tears_bench" and top not in mapped:  # tests, benchmarks, build/, .venv
            continue
        base = mapped.get(top, top)
        found.add(base + ("." + rest.replace("/", ".") if rest else ""))
    assert found == set(project["packages"])
    assert project["package-data"]["tears_bench.serve"] == ["static/*"]
