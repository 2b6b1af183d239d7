#!/usr/bin/env python3
"""Fails when a target imports one of the package's modules it does not depend on, directly or
through its dependencies. SwiftPM orders a target's compilation only after the modules it
depends on; an undeclared import builds or fails depending on which module a parallel build
happened to emit first (a CI run failed with "no such module 'NPUOps'" in NPUDataTests).

Usage: check_imports.py [PACKAGE-DIR]   (reads `swift package dump-package` there)
       check_imports.py --json FILE PACKAGE-DIR   (a dumped package, for tests)
"""
import json
import os
import re
import subprocess
import sys

# `import M`, `@testable import M`, `public import M`, `import struct M.Type`.
IMPORT = re.compile(r"^[ \t]*(?:@[\w()]+[ \t]+)*(?:(?:public|package|internal|fileprivate|private)[ \t]+)?"
                    r"import[ \t]+(?:(?:struct|class|enum|protocol|typealias|func|let|var)[ \t]+)?(\w+)", re.M)
DEFAULT_DIRS = {"test": "Tests", "regular": "Sources", "executable": "Sources", "system": "Sources"}


def target_deps(target):
    names = []
    for dep in target.get("dependencies", []):
        for kind in ("byName", "target"):
            if kind in dep:
                names.append(dep[kind][0])
    return names


def problems(package, root):
    targets = {t["name"]: t for t in package["targets"]}
    deps = {name: [d for d in target_deps(t) if d in targets] for name, t in targets.items()}

    def closure(name):
        seen, stack = set(), list(deps[name])
        while stack:
            d = stack.pop()
            if d not in seen:
                seen.add(d)
                stack.extend(deps[d])
        return seen

    found = []
    for name, t in sorted(targets.items()):
        if t["type"] == "system":
            continue
        path = os.path.join(root, t.get("path") or os.path.join(DEFAULT_DIRS.get(t["type"], "Sources"), name))
        reachable = closure(name)
        for dirpath, _, files in os.walk(path):
            for f in sorted(files):
                if not f.endswith(".swift"):
                    continue
                file = os.path.join(dirpath, f)
                with open(file, encoding="utf-8") as fh:
                    text = fh.read()
                for module in sorted(set(IMPORT.findall(text))):
                    if module in targets and module != name and module not in reachable:
                        found.append(f"{os.path.relpath(file, root)}: target {name} imports {module} "
                                     f"but does not depend on it; add \"{module}\" to its dependencies in Package.swift")
    return found


def main(argv):
    if len(argv) >= 3 and argv[1] == "--json":
        with open(argv[2], encoding="utf-8") as fh:
            package = json.load(fh)
        root = argv[3] if len(argv) > 3 else "."
    else:
        root = argv[1] if len(argv) > 1 else "."
        out = subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True,
                             capture_output=True, text=True).stdout
        package = json.loads(out)
    found = problems(package, root)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
