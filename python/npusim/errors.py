"""Errors of the Python front end."""
import inspect
import os


class Unsupported(Exception):
    """A MindSpore API NPUSim does not have yet, named with the script's file:line."""

    def __init__(self, api, detail=""):
        where = _caller()
        message = f"{where}: {api} is not supported by NPUSim" + (f" ({detail})" if detail else "")
        super().__init__(message)
        self.api = api


def _caller():
    """The first frame outside this package: the user's file:line."""
    here = os.path.dirname(os.path.abspath(__file__))
    for frame in inspect.stack()[2:]:
        if not os.path.abspath(frame.filename).startswith(here):
            return f"{frame.filename}:{frame.lineno}"
    return "<unknown>"


class InputError(Exception):
    """Input a network cannot take (a shape or dtype that does not fit a cell), named with the
    script's file:line: ``npusim run`` prints it as one line and exits 2."""

    def __init__(self, message):
        super().__init__(f"{_caller()}: {message}")
