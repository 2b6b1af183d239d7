"""``set_context``/``get_context``: mode and deterministic act, device selection and tuning are
accepted with one notice each, anything else is named as unsupported."""
import pytest

import npusim
import npusim.mindspore as mindspore


def test_mode_and_deterministic_are_kept_and_checked():
    mindspore.set_context(mode=mindspore.GRAPH_MODE, deterministic="ON")
    assert mindspore.get_context("mode") == mindspore.GRAPH_MODE == 0 and mindspore.get_context("deterministic") == "ON"
    with pytest.raises(ValueError, match="'deterministic' should be 'ON' or 'OFF'"):
        mindspore.set_context(deterministic="on")
    with pytest.raises(ValueError, match="'mode' should be context.GRAPH_MODE"):
        mindspore.set_context(mode=3)
    mindspore.set_context(mode=mindspore.PYNATIVE_MODE, deterministic="OFF")


def test_device_settings_are_noted_once_and_unknown_keys_refused(capsys):
    mindspore.context._noticed.clear()
    mindspore.set_context(device_target="Ascend", device_id=3)
    mindspore.set_context(device_target="Ascend")
    mindspore.set_device("GPU")
    err = capsys.readouterr().err.splitlines()
    assert err == ["npusim: set_context(device_target='Ascend') accepted; the simulated card is the run's --device",
                   "npusim: set_context(device_id=3) accepted; the simulated card is the run's --device"]
    assert mindspore.get_context("device_id") == 3
    with pytest.raises(npusim.Unsupported, match=r"set_context\(no_such_key=...\)"):
        mindspore.set_context(no_such_key=1)


def test_device_context_tuning_calls_are_accepted_with_one_notice(capsys):
    import npusim.mindspore as ms
    ms.device_context.ascend.op_precision.precision_mode("allow_fp32_to_fp16")
    ms.device_context.ascend.op_precision.precision_mode("force_fp16")
    ms.device_context.cpu.op_tuning.threads_num(2)
    assert ms.device_context.ascend.device_count() == 1 and ms.device_context.ascend.is_available() is True
    err = capsys.readouterr().err.splitlines()
    assert err == ["npusim: mindspore.device_context.ascend.op_precision.precision_mode(...) accepted; the simulated card is the run's --device",
                   "npusim: mindspore.device_context.cpu.op_tuning.threads_num(...) accepted; the simulated card is the run's --device"]
