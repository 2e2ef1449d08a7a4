"""The official-API adapter, tested with stand-in API modules (the real files are several GB)."""

import sys
import types

import numpy as np
import pytest

from naslid.bench import OFFICIAL_COLUMNS, OfficialBenchmark, load_benchmark
from naslid.spaces import NB201Space, format_arch

ARCHS = [format_arch(arch) for arch in list(NB201Space().all())[:4]]


class FakeAPI:
    """Mimics the query surface naslid uses: meta_archs and get_more_info (API >= 2.0)."""

    def __init__(self, path, verbose=True, **options):
        self.path, self.options, self.meta_archs, self.calls = path, options, list(ARCHS), []

    def get_more_info(self, index, dataset, iepoch=None, hp="12", is_random=True):
        self.calls.append((index, dataset, iepoch, hp, is_random))
        base = 10.0 * index + (1.0 if hp == "200" else 0.0)
        info = {"train-accuracy": base + 0.1, "train-all-time": 5.0, "test-accuracy": base + 0.3}
        if dataset != "cifar10":
            info["valid-accuracy"] = base + 0.2
        return info


@pytest.fixture
def fake_modules(monkeypatch):
    nas_201_api = types.ModuleType("nas_201_api")
    nas_201_api.NASBench201API = FakeAPI
    nats_bench = types.ModuleType("nats_bench")
    nats_bench.create = lambda path, space, fast_mode, verbose: FakeAPI(
        path, space=space, fast_mode=fast_mode
    )
    monkeypatch.setitem(sys.modules, "nas_201_api", nas_201_api)
    monkeypatch.setitem(sys.modules, "nats_bench", nats_bench)


def test_queries_ask_for_seed_means_at_200_epochs_by_default(tmp_path, fake_modules):
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    path.write_bytes(b"")
    benchmark = load_benchmark(path)
    assert isinstance(benchmark, OfficialBenchmark) and benchmark.api_name == "nas-bench-201"
    arch = benchmark.arch_at(2)
    assert benchmark.value(arch) == pytest.approx(21.3)
    assert benchmark._api.calls == [(2, "cifar10", None, "200", False)]
    info = benchmark.column_info()
    assert (info.column, info.epochs, info.seeds) == ("c10_test_acc_200", 200, "mean")
    assert len(benchmark) == 4 and benchmark.index_of(arch) == 2


def test_columns_map_to_dataset_split_and_epochs(tmp_path, fake_modules):
    benchmark = OfficialBenchmark(tmp_path, seed=777)  # a directory: NATS fast mode
    assert benchmark.api_name == "nats-bench" and benchmark.column_info().seeds == "seed 777"
    arch = benchmark.arch_at(1)
    assert benchmark.value(arch, "c100_valid_acc_12") == pytest.approx(10.2)
    assert benchmark._api.calls[-1] == (1, "cifar100", None, "12", 777)
    assert benchmark._api.options == {"space": "tss", "fast_mode": True}
    truth = benchmark.ground_truth("c10v_valid_acc_200")
    assert truth.info.epochs == 200 and len(truth.values) == 4
    assert {"c10_test_acc_200", "c10v_valid_acc_200", "in16_test_acc_12"} <= set(OFFICIAL_COLUMNS)
    assert "c10_valid_acc_200" not in OFFICIAL_COLUMNS  # cifar10 has no validation split


def test_adapter_errors_are_clear(tmp_path, fake_modules):
    benchmark = OfficialBenchmark.from_api(FakeAPI("memory"), source="in memory")
    with pytest.raises(KeyError, match="unknown benchmark column 'c10_acc'.*available"):
        benchmark.value(benchmark.arch_at(0), "c10_acc")
    outside = list(NB201Space().all())[-1]
    with pytest.raises(KeyError, match="not in the official benchmark in memory"):
        benchmark.value(outside)
    with pytest.raises(KeyError, match="indices run 0..3"):
        benchmark.arch_at(4)
    with pytest.raises(FileNotFoundError, match=".pth"):
        OfficialBenchmark(tmp_path / "absent.pth")
    with pytest.raises(ValueError, match="unknown benchmark api 'torch'"):
        OfficialBenchmark(tmp_path, api="torch")


def test_missing_api_package_names_it_and_the_alternative(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nas_201_api", None)  # makes the import fail
    path = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    path.write_bytes(b"")
    benchmark = OfficialBenchmark(path)  # lazy: nothing imported yet
    with pytest.raises(ImportError, match="'nas-bench-201' .*pip install nas-bench-201.*nb201_merged.csv"):
        benchmark.value(NB201Space().sample(np.random.default_rng(0)))
