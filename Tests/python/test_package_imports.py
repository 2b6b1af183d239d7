"""tools/check_imports.py: a target that imports a module of the package it does not depend on
(directly or through its dependencies) is refused, since its build then depends on the order a
parallel build emits modules in."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "tools", "check_imports.py")


def run_check(tmp_path, targets, files):
    for path, text in files.items():
        full = tmp_path / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)
    dumped = tmp_path / "package.json"
    dumped.write_text(json.dumps({"targets": targets}))
    return subprocess.run([sys.executable, CHECK, "--json", str(dumped), str(tmp_path)],
                          capture_output=True, text=True)


def target(name, kind, *deps):
    return {"name": name, "type": kind, "dependencies": [{"byName": [d, None]} for d in deps]}


TARGETS = [target("Base", "regular"), target("Ops", "regular", "Base"), target("Data", "regular", "Base"),
           target("Train", "regular", "Ops", "Data"), target("DataTests", "test", "Data")]


def test_an_undeclared_import_is_named_with_its_file(tmp_path):
    result = run_check(tmp_path, TARGETS, {
        "Tests/DataTests/A.swift": "import Foundation\nimport Testing\nimport Ops\n@testable import Data\n",
    })
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'Tests/DataTests/A.swift: target DataTests imports Ops but does not depend on it; '
        'add "Ops" to its dependencies in Package.swift']


def test_transitive_dependencies_and_other_packages_are_accepted(tmp_path):
    result = run_check(tmp_path, TARGETS, {
        "Tests/DataTests/A.swift": "import Base\nimport Data\nimport Yams\n",
        "Sources/Train/T.swift": "public import Base\nimport struct Ops.Kernel\nimport Data\n",
    })
    assert (result.returncode, result.stderr) == (0, "")


def test_this_package_declares_what_it_imports():
    result = subprocess.run([sys.executable, CHECK, ROOT], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")
