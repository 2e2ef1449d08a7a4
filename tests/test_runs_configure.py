"""Changing a RunConfig by dotted setting names (naslid.runs.configure): what the CLI's run flags do, from Python."""

import pytest

from naslid.runs.configure import SettingError, configure, dataset_settings, with_seed
from naslid.runs.presets import get_preset


def test_settings_by_dotted_name_and_the_derived_ones():
    base = get_preset("tiny").config
    config = configure(base, {"train.batch_size": 32, "split.k": 7, "network.bn": "batch-stats", "seed": 5,
                              "device": "cpu"})
    assert config.train.batch_size == 32 and config.split.k == 7
    assert not config.network.affine and not config.network.track_running_stats
    assert {config.seed, config.data.seed, config.train.seed, config.split.seed, config.search.seed} == {5}
    assert config.device == "cpu" and base.train.batch_size == 64  # the base is not changed


def test_implied_settings_yield_to_explicit_ones():
    implied = dataset_settings("cifar10", None, tiny_network=True)
    assert implied == {"network.in_channels": 3, "data.crop_padding": 4, "data.horizontal_flip": True}
    config = configure(get_preset("tiny").config, {"data.dataset": "cifar10", "data.path": "x.npz",
                                                    "data.crop_padding": 2}, implied=implied)
    assert config.network.in_channels == 3 and config.data.crop_padding == 2
    assert config.data.path.endswith("/x.npz") and config.data.path.startswith("/")  # resolved


def test_another_space_keeps_the_datas_channels_and_refuses_nb201_settings():
    base = configure(get_preset("tiny").config, {}, implied=dataset_settings("digits", None))
    config = configure(base, {"search_space": "proxyless"})
    assert config.search_space == "proxyless" and config.network.in_channels == 1 and config.network.small_input
    with pytest.raises(SettingError) as error:
        configure(base, {"search_space": "proxyless", "network.channels": 8})
    assert error.value.setting == "network.channels" and "does not apply to the proxyless space" in str(error.value)


def test_bad_values_name_the_setting():
    base = get_preset("tiny").config
    with pytest.raises(SettingError) as error:
        configure(base, {"split.k": 0})
    assert error.value.setting == "split.k"
    with pytest.raises(SettingError, match="not a setting"):
        configure(base, {"batch_size": 3})
    with pytest.raises(SettingError, match="expected 'tracked' or 'batch-stats'"):
        configure(base, {"network.bn": "none"})


def test_a_comparisons_seeds_keep_the_data_split():
    config = with_seed(get_preset("tiny").config, 3, data=False)
    assert config.train.seed == 3 and config.data.seed == 0
