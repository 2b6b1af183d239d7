"""``mindspore.profiler``: ``Profiler`` writes the simulated card's profile in the Ascend
profiler's layout (ASCEND_PROFILER_OUTPUT/: trace_view.json, kernel_details.csv,
op_statistic.csv, step_trace_time.csv) — the card's simulated timeline, not the host's."""
import os

from ...errors import Unsupported

__all__ = ["Profiler", "ProfilerLevel"]


class ProfilerLevel:
    """MindSpore's profiler levels (accepted; the simulated card records every task)."""
    Level0, Level1, Level2 = "Level0", "Level1", "Level2"


class Profiler:
    """``Profiler(output_path='./data', ...)``: from now on every card the script trains on
    records its tasks; ``analyse()`` (or ``stop()`` then ``analyse()``) writes
    ``output_path/ASCEND_PROFILER_OUTPUT/`` and ``output_path/timeline.svg``."""

    _active = None

    def __init__(self, output_path="./data", profiler_level=None, start_profile=True, **kwargs):
        unknown = set(kwargs) - {"profile_memory", "profile_communication", "aicore_metrics", "l2_cache", "data_process",
                                 "parallel_strategy", "op_time", "with_stack", "data_simplification", "activities", "schedule",
                                 "on_trace_ready", "hbm_ddr", "pcie", "sync_enable", "timeline_limit", "record_shapes"}
        if unknown:
            raise Unsupported(f"Profiler({', '.join(sorted(unknown))}=...)")
        self.output_path = os.fspath(output_path)
        self.running = bool(start_profile)
        Profiler._active = self

    def start(self):
        self.running = True

    def stop(self):
        self.running = False

    def analyse(self, offline_path=None, pretty=False, step_list=None, mode="sync", rank_id=None):
        """Writes the profile of what ran on the simulated card so far."""
        from ... import _engine
        from .. import _pynative, _steps
        _engine.write_profile(self.output_path, _steps.models, _pynative._context)

    @staticmethod
    def recording():
        """Whether a Profiler asked the cards to record (models made now record every task)."""
        return Profiler._active is not None and Profiler._active.running


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise Unsupported(f"mindspore.profiler.{name}")
