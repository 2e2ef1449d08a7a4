"""The one hook primitive (naslid.hooks): outputs in firing order, one row per sample, hooks gone afterwards."""

from pathlib import Path

import pytest
import torch
from torch import nn

from naslid.hooks import capture_outputs, first_tensor, per_sample, watching_inputs, watching_outputs


class _Twice(nn.Module):
    """Runs `shared` twice, then returns a tuple as attention does."""

    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(1, 2, 3, padding=1)
        self.shared = nn.ReLU()

    def forward(self, x, scale=1.0):
        x = self.shared(self.shared(self.first(x) * scale))
        return x, None


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_capture_outputs_gives_each_call_in_order_as_rows_per_sample():
    model = _Twice()
    x = torch.randn(3, 1, 4, 4)
    captured = capture_outputs([("first", model.first), ("shared", model.shared), ("model", model)], lambda: model(x))
    assert [key for key, _ in captured] == ["first", "shared", "shared", "model"]
    assert all(rows.shape == (3, 2 * 4 * 4) for _, rows in captured)
    assert torch.equal(captured[0][1], model.first(x).flatten(1))
    assert torch.equal(captured[-1][1], captured[-2][1])  # the tuple's first tensor
    sums = capture_outputs([(0, model.first)], lambda: model(x), reduce=lambda rows: rows.sum(1))
    assert sums[0][1].shape == (3,)
    assert _hook_count(model) == 0


def test_hooks_are_removed_when_the_block_raises():
    model = _Twice()
    seen = []
    with pytest.raises(RuntimeError), watching_outputs([("first", model.first)], lambda key, out: seen.append(key)):
        model(torch.randn(2, 1, 4, 4))
        raise RuntimeError("stop")
    assert seen == ["first"] and _hook_count(model) == 0
    identity = nn.Identity()
    with pytest.raises(ValueError, match="layer 'none' returned NoneType"):
        capture_outputs([("none", identity)], lambda: identity(None))
    assert _hook_count(identity) == 0


def test_inputs_are_seen_with_their_keyword_arguments():
    model = _Twice()
    calls = []
    with watching_inputs([("model", model)], lambda key, args, kwargs: calls.append((key, len(args), kwargs))):
        model(torch.randn(1, 1, 4, 4), scale=2.0)
    assert calls == [("model", 1, {"scale": 2.0})] and _hook_count(model) == 0


def test_per_sample_moves_the_sample_axis_first():
    tensor = torch.arange(24.0).reshape(2, 3, 4)
    assert torch.equal(per_sample(tensor), tensor.flatten(1))
    assert torch.equal(per_sample(tensor, 1), tensor.permute(1, 0, 2).reshape(3, 8))
    assert first_tensor((None, tensor)) is tensor and first_tensor(3) is None


def test_only_the_primitive_registers_hooks():
    source = Path(__file__).parents[1] / "src" / "naslid"
    users = sorted(str(path.relative_to(source)) for path in source.rglob("*.py")
                   if "register_forward" in path.read_text())
    assert users == ["hooks.py"]
