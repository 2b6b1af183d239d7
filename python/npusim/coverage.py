"""The coverage table of ``npusim.mindspore``: every name in the ``__all__`` of the shim's
modules (its registry: what a script can import), with the first paragraph of its docstring.
Docs/Python.md holds it between ``<!-- coverage:start -->`` and ``<!-- coverage:end -->``;
``python -m npusim.coverage --write Docs/Python.md`` regenerates it, and a test keeps it current."""
import importlib
import inspect
import sys

#: The import paths scripts use, in the order the table lists them.
MODULES = ["mindspore", "mindspore.nn", "mindspore.ops", "mindspore.common.initializer", "mindspore.common.dtype", "mindspore.context",
           "mindspore.dataset", "mindspore.dataset.vision", "mindspore.dataset.transforms", "mindspore.train",
           "mindspore.train.callback", "mindspore.train.metrics", "mindspore.profiler", "mindspore.communication.management", "mindspore.device_context"]
START, END = "<!-- coverage:start -->", "<!-- coverage:end -->"


def entries():
    """(object, [import paths]) of every public name, first path first."""
    seen = {}
    for name in MODULES:
        module = importlib.import_module("npusim." + name)
        for attribute in module.__all__:
            value = getattr(module, attribute)
            if inspect.ismodule(value):
                continue
            key = (id(value), attribute) if isinstance(value, int) else id(value)
            seen.setdefault(key, (value, []))[1].append(f"{name}.{attribute}")
    return list(seen.values())


def _summary(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return f"the constant {value}"
    if type(value).__name__ == "Type":
        return f"the dtype {value}"
    doc = inspect.cleandoc(value.__doc__ or "")  # its own, not a base class's
    return doc.split("\n\n")[0].replace("\n", " ").replace("|", "\\|") or "—"


def table():
    """The markdown table."""
    rows = ["| API | what NPUSim does |", "|---|---|"]
    for value, paths in entries():
        rows.append(f"| {', '.join('`' + p + '`' for p in paths)} | {_summary(value)} |")
    return "\n".join(rows)


def main(argv):
    if argv[:1] == ["--write"] and len(argv) == 2:
        with open(argv[1]) as f:
            text = f.read()
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        with open(argv[1], "w") as f:
            f.write(head + START + "\n" + table() + "\n" + END + tail)
        return 0
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
