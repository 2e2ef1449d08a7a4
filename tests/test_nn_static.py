"""The fixed-kernel NB201 supernet: path encoding, layout conversion, forward and BN equal to NB201SuperNet.

Tolerance: float32 on the CPU; outputs and BN statistics agree to atol 1e-5 plus rtol 1e-5 (running variances
reach ~100 here). They differ at all only because a 1x1 conv runs as the centre of a 3x3 kernel and an input
node's convs run as one convolution.
"""

import numpy as np
import pytest
import torch
from helpers import NB201_ALL

from naslid.nn import NB201StaticSuperNet, NB201SuperNet, encode_path
from naslid.nn.nb201_static import PATH_SIZE, arch_row, encode_all_paths
from naslid.spaces import NB201Arch, parse_arch

ATOL = RTOL = 1e-5  # |got - expected| <= 1e-5 + 1e-5 |expected|
# a disconnected arch (no op path from input to output), one with a dead conv (node 1 feeds only `none`),
# one where a conv reads an all-zero node, and the heaviest path
SPECIAL = [
    "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|none~2|",
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|",
    "|none~0|+|avg_pool_3x3~0|none~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]


def _archs(count=12, seed=0):
    rng = np.random.default_rng(seed)
    return [parse_arch(text) for text in SPECIAL] + [NB201_ALL.sample(rng) for _ in range(count)]


def _pair(seed=0, **kwargs):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        supernet = NB201SuperNet(channels=4, cells_per_stage=2, **kwargs)
        # non-trivial BN buffers and affine parameters, so the conversion is tested on distinct values
        for name, tensor in supernet.state_dict().items():
            if tensor.is_floating_point() and ("running" in name or ".2." in name or "head" in name):
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    static = NB201StaticSuperNet(supernet.config)
    static.load_supernet_state_dict(supernet.state_dict())
    return supernet, static


def test_layout_round_trip_is_exact():
    supernet, static = _pair()
    state = static.supernet_state_dict()
    assert state.keys() == supernet.state_dict().keys()
    assert all(torch.equal(value, supernet.state_dict()[name]) for name, value in state.items())


def test_layout_round_trip_without_affine_bn():
    supernet, static = _pair(affine=False)
    assert all(torch.equal(v, supernet.state_dict()[k]) for k, v in static.supernet_state_dict().items())


def test_loading_a_foreign_state_is_a_key_error():
    _, static = _pair()
    with pytest.raises(KeyError, match="missing"):
        static.load_supernet_state_dict({"stem.0.weight": torch.zeros(4, 3, 3, 3)})


def test_path_encoding_rows_and_disconnected_archs():
    table = encode_all_paths()
    assert table.shape == (15_625, PATH_SIZE)
    arch = parse_arch(SPECIAL[1])
    assert torch.equal(table[arch_row(arch)], encode_path(arch))
    assert int((table[:, -1] == 0).sum()) == 341  # NAS-Bench-201's count of disconnected cells
    assert encode_path(parse_arch(SPECIAL[0]))[-1] == 0 and encode_path(parse_arch(SPECIAL[3]))[-1] == 1


@pytest.mark.parametrize("arch", _archs(8), ids=str)
def test_update_masks_match_which_weights_autograd_reaches(arch):
    """A step may change exactly the weights that get a gradient (not None) in the module-per-op supernet."""
    supernet, static = _pair()
    supernet(torch.randn(4, 3, 8, 8), arch).sum().backward()
    reached = {name for name, p in supernet.named_parameters() if p.grad is not None}
    masks = dict(zip([n for n, _ in static.named_parameters()], static.update_masks(encode_path(arch)), strict=True))
    params = dict(static.named_parameters())
    for name, _ in supernet.named_parameters():
        own, where = static.module_slots()[name]
        mask = masks[own].expand_as(params[own])[where]
        assert bool(mask.all()) == (name in reached) and bool(mask.any()) == (name in reached), name


@pytest.mark.parametrize("arch", _archs(6, seed=1), ids=str)
def test_train_forward_and_bn_statistics_match_the_module_supernet(arch):
    supernet, static = _pair()
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    x = torch.randn(8, 3, 8, 8)
    expected = supernet.train()(x, arch)
    got = static.train()(x, encode_path(arch))
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=RTOL)
    state = static.supernet_state_dict()
    for name, value in supernet.state_dict().items():
        torch.testing.assert_close(state[name], value, atol=ATOL, rtol=RTOL, msg=name)
        if torch.equal(value, before[name]):  # not updated by the module supernet: bit-unchanged here too
            assert torch.equal(state[name], before[name]), name


def test_eval_forward_matches_and_changes_nothing():
    supernet, static = _pair()
    arch = parse_arch(SPECIAL[2])
    x = torch.randn(8, 3, 8, 8)
    before = static.supernet_state_dict()
    torch.testing.assert_close(static.eval()(x, encode_path(arch)), supernet.eval()(x, arch), atol=ATOL, rtol=RTOL)
    assert all(torch.equal(v, before[k]) for k, v in static.supernet_state_dict().items())


def test_every_path_runs_the_same_operators():
    """The kernel sequence does not depend on the path: same aten ops, same shapes, for different archs."""
    _, static = _pair()
    x = torch.randn(4, 3, 8, 8)

    def trace(arch: NB201Arch) -> list[tuple[str, tuple]]:
        with torch.profiler.profile(record_shapes=True) as prof:
            torch.autograd.grad(static(x, encode_path(arch)).sum(), list(static.parameters()))
        return [(e.name, tuple(map(tuple, e.input_shapes))) for e in prof.events() if e.name.startswith("aten::")]

    first, second = trace(parse_arch(SPECIAL[0])), trace(parse_arch(SPECIAL[3]))
    assert first == second and len(first) > 100


def test_refuses_untracked_bn_statistics():
    from naslid.nn import NB201Config

    with pytest.raises(ValueError, match="track_running_stats"):
        NB201StaticSuperNet(NB201Config(track_running_stats=False))
