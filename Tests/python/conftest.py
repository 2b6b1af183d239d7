"""Each test starts from MindSpore's defaults: a script run in-process by an earlier test (a
golden's) must not leave GRAPH_MODE or a deterministic setting behind."""
import pytest

from npusim.mindspore import context


@pytest.fixture(autouse=True)
def mindspore_defaults():
    saved = dict(context._settings)
    context._settings.update(mode=context.PYNATIVE_MODE, deterministic="OFF")
    yield
    context._settings.clear()
    context._settings.update(saved)
