"""Published protocols as data: complete, cited, applied as stated, scaled in proportion; leaves that start
afresh; the proxy's split; and a comparison of every method on its own protocol."""

import json
from dataclasses import replace
from functools import partial

import pytest
import torch
from helpers import tiny_run_config

from naslid.cli import main
from naslid.runs.config import RunConfig
from naslid.runs.datasets import prepare_data
from naslid.runs.partition import PartitionRun, _node_seed, build_supernet, fresh_cycle_config, fresh_leaf_start
from naslid.runs.presets import get_preset
from naslid.runs.protocols import (
    METHODS,
    PROTOCOLS,
    SCALES,
    Protocol,
    Setting,
    get_protocol,
    method_config,
    scale_epochs,
)
from naslid.search import ProxyConfig

# what a protocol must pin down so that no value silently falls back to naslid's defaults
REQUIRED = (
    "data.valid_fraction", "data.crop_padding", "data.horizontal_flip", "data.rotation", "data.cutout",
    "network.affine", "network.track_running_stats",
    "train.batch_size", "train.learning_rate", "train.min_learning_rate", "train.lr_period_epochs",
    "train.lr_stepping", "train.momentum", "train.nesterov", "train.weight_decay", "train.grad_clip",
    "train.precision", "train.init", "train.off_path_gradients", "train.path_sampler",
    "schedule.split_epochs", "schedule.finetune_epochs", "schedule.finetune",
    "proxy.split", "proxy.batchnorm", "proxy.precision",
)
REPOSITORIES = ("marsggbo/NAS-LID", "marsggbo/hyperbox", "skhu101/GM-NAS", "aoiang/few-shot-NAS")


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_every_protocol_is_complete_and_every_value_names_its_source(name):
    protocol = PROTOCOLS[name]
    fields = [s.field for s in protocol.settings]
    assert len(fields) == len(set(fields)), "a field set twice"
    assert set(REQUIRED) <= set(fields), sorted(set(REQUIRED) - set(fields))
    for setting in protocol.settings:
        assert setting.source.startswith(REPOSITORIES) or setting.source.startswith("ours: "), setting
    config = protocol.apply(get_preset("paper").config)
    for setting in protocol.settings:  # applied as stated (RunConfig derives nothing from these)
        section, name_ = setting.field.split(".")
        assert getattr(getattr(config, section), name_) == setting.value, setting.field
    json.dumps(protocol.to_json())


def test_the_authors_preset_is_the_nas_lid_release():
    config = get_preset("authors").config
    assert (config.split.similarity, config.split.edge_score) == ("cosine", "max-cross")
    assert (config.data.valid_fraction, config.data.rotation) == (0.0, 15.0)
    assert (config.train.batch_size, config.train.learning_rate, config.train.lr_period_epochs) == (64, 0.001, 180.0)
    assert config.train.lr_stepping == "epoch" and config.train.grad_clip == 0.0
    assert config.schedule.finetune == "restart" and config.schedule.split_epochs == (20, 40, 60, 80)
    assert (config.proxy.split, config.proxy.batchnorm) == ("test", "running")
    assert get_preset("authors").protocol == "nas-lid-release"
    # the paper preset keeps the paper's text
    paper = get_preset("paper").config
    assert (paper.split.similarity, paper.split.edge_score) == ("euclidean", "intra")


def test_a_protocol_setting_the_config_lacks_is_refused_naming_it():
    bad = Protocol("bad", "", (Setting("network.channels", 8, "ours: test"),))
    ofa = RunConfig(search_space="ofa")
    with pytest.raises(ValueError, match="network.channels"):
        bad.apply(ofa)
    with pytest.raises(ValueError, match="section"):
        Protocol("bad", "", (Setting("nothing", 1, "ours: test"),)).apply(ofa)


def test_scaling_shrinks_every_epoch_count_in_proportion():
    release = get_protocol("nas-lid-release").apply(get_preset("paper").config)
    scaled = scale_epochs(release, 35)
    assert scaled.schedule.split_epochs == (8, 16, 23, 31) and scaled.schedule.finetune_epochs == 4
    assert scaled.schedule.total_epochs == 35 and scaled.train.epochs == 35
    assert scaled.train.lr_period_epochs == pytest.approx(180 * 35 / 90)
    few = scale_epochs(get_protocol("few-shot-nas").apply(get_preset("paper").config), 35)
    assert (few.schedule.split_epochs, few.schedule.finetune_epochs) == ((23,), 12)
    tight = scale_epochs(release, 4)  # split epochs stay strictly increasing and >= 1
    assert tight.schedule.split_epochs == (1, 2, 3, 4) and tight.schedule.finetune_epochs == 1


def test_cpu_scale_sets_the_cpu_presets_size():
    config = SCALES["cpu"].apply(get_preset("authors").config)
    assert (config.data.resolution, config.network.channels, config.network.cells_per_stage) == (16, 8, 1)
    assert config.schedule.total_epochs == 35 and config.train.batch_size == 64  # the protocol's batch stays
    assert config.split.similarity == "cosine"


def test_methods_bind_their_own_protocols_or_share_the_common_one():
    base = get_preset("cpu").config
    common = {m: method_config(base, m) for m in METHODS}
    assert {c.train.batch_size for c in common.values()} == {128}
    assert common["gm-nas"].split.criterion == "gradient" and common["gm-nas"].split.edge_score == "min-cross"
    own = {m: method_config(base, m, "own", "cpu") for m in METHODS}
    assert own["gm-nas"].train.batch_size == 48 and own["gm-nas"].schedule.split_epochs == (8, 16)
    assert own["gm-nas"].network.track_running_stats is False and own["gm-nas"].split.edge_score == "min-cross"
    assert own["few-shot"].schedule.finetune == "transfer" and own["few-shot"].data.valid_fraction == 0
    assert own["nas-lid"].split.similarity == "cosine" and own["nas-lid"].split.criterion == "lid"
    assert own["spos"].schedule.method == "spos" and own["spos"].train.lr_stepping == "epoch"
    assert own["random-split"].split.criterion == "random"
    assert all(c.data.path == base.data.path for c in own.values())  # the data location stays
    with pytest.raises(ValueError, match="protocols"):
        method_config(base, "spos", "theirs")


_config = partial(tiny_run_config, split_epochs=(1,), finetune_epochs=2)


def _split_run(tmp_path, finetune: str) -> PartitionRun:
    config = method_config(_config(finetune=finetune), "random-split")
    run = PartitionRun(tmp_path / finetune, config)
    run.run(finetune=False)
    return run


def test_a_restarted_leaf_starts_from_a_fresh_initialisation_and_an_empty_optimizer(tmp_path):
    run = _split_run(tmp_path, "restart")
    try:
        leaf = run.tree.leaves()[0]
        net, state = fresh_leaf_start(run, leaf)
        fresh = build_supernet(run.cfg, torch.device("cpu"), seed=_node_seed(run.cfg.seed, leaf.id) % (2**31))
        trained = run.read_checkpoint(leaf)["model"]
        for name, value in fresh.state_dict().items():
            assert torch.equal(net.state_dict()[name], value), name
        assert any(not torch.equal(trained[n], v) for n, v in fresh.state_dict().items() if v.is_floating_point())
        assert state.optimizer.state_dict()["state"] == {} and state.epoch == 0 and state.step == 0
        run.run()  # the fine-tuning then runs its own cycle to finetune_epochs
        assert run.tree.leaves()[0].checkpoint.endswith("_restart.pt")
    finally:
        run.close()


def test_a_transferred_leaf_keeps_the_split_weights_with_an_empty_optimizer(tmp_path):
    run = _split_run(tmp_path, "transfer")
    try:
        leaf = run.tree.leaves()[1]
        inherited = run.read_checkpoint(leaf)
        assert inherited["optimizer"]["state"], "the split itself passes the optimizer on"
        net, state = fresh_leaf_start(run, leaf)
        for name, value in inherited["model"].items():
            assert torch.equal(net.state_dict()[name], value), name
        assert state.optimizer.state_dict()["state"] == {} and state.epoch == 0
        assert state.sampler.bit_generator.state == inherited["sampler"]
        cycle = fresh_cycle_config(run.cfg)
        assert cycle.epochs == 2  # a fresh cosine over the fine-tuning epochs
        run.run()
        checkpoint = run.read_checkpoint(run.tree.nodes[leaf.id])
        assert checkpoint["epoch"] == 2 and run.tree.nodes[leaf.id].checkpoint.endswith("_transfer.pt")
    finally:
        run.close()


def test_training_on_every_image_scores_the_proxy_on_the_test_part(tmp_path):
    with pytest.raises(ValueError, match="proxy.split"):
        replace(_config(), data=replace(_config().data, valid_fraction=0.0))
    config = replace(_config(), data=replace(_config().data, valid_fraction=0.0),
                     proxy=ProxyConfig(split="test", batchnorm="running"))
    data = prepare_data(config.data, 64, torch.device("cpu"))
    assert len(data.train) == 600 and len(data.valid) == 0
    run = PartitionRun(tmp_path / "all", method_config(config, "spos"), data=data)
    try:
        evaluation, calibration = run.proxy_batches()
        assert sum(len(labels) for _, labels in evaluation) == len(data.test) and calibration == []
    finally:
        run.close()
    with pytest.raises(ValueError, match="empty"):
        data.evaluation_loader("valid")


def test_per_point_augmented_lid_batches_drive_a_split(tmp_path):
    config = method_config(_config(), "nas-lid")
    config = replace(config, split=replace(config.split, measurement_batches="per-point", measurement_augment=True,
                                           measurement_paths="per-point"))
    run = PartitionRun(tmp_path / "lid", config)
    try:
        tree = run.run(finetune=False)
        record = tree.root.split
        assert record.criterion == "lid" and len(record.similarities) == 6
    finally:
        run.close()
    shared = method_config(_config(), "nas-lid")
    other = PartitionRun(tmp_path / "shared", shared)
    try:
        matrices = other.run(finetune=False).root.split.similarities
    finally:
        other.close()
    assert matrices != record.similarities  # other batches and paths measure other numbers


@pytest.mark.slow
def test_compare_own_protocols_runs_every_method_on_its_own_protocol(tmp_path, capsys):
    out = tmp_path / "own"
    assert main(["compare", str(out), "--preset", "tiny", "--protocols", "own", "--methods",
                 "spos,few-shot,gm-nas,nas-lid", "--subset", "random40", "--no-progress"]) == 0
    results = json.loads((out / "compare.json").read_text())
    protocols = results["protocol"]["method_protocols"]
    assert {m: p["protocol"] for m, p in protocols.items()} == {
        "spos": "nas-lid-release", "few-shot": "few-shot-nas", "gm-nas": "gm-nas", "nas-lid": "nas-lid-release",
        "params": "training-free", "flops": "training-free"}  # the floor: beside every comparison
    assert protocols["gm-nas"]["batch_size"] == 48 and protocols["nas-lid"]["batch_size"] == 64
    assert protocols["few-shot"]["training_images"] > protocols["gm-nas"]["training_images"]  # all vs half
    assert protocols["nas-lid"]["finetune"] == "restart" and protocols["few-shot"]["finetune"] == "transfer"
    assert results["methods"]["nas-lid"]["leaves"] == 16 and results["methods"]["gm-nas"]["leaves"] == 4
    assert results["protocol"]["scale"]["name"] == "tiny"
    # spos and nas-lid share the release's root; the others train their own
    assert (out / "shared_root_nas-lid-release").is_dir() and not (out / "shared_root").exists()
    report = (out / "compare.md").read_text()
    assert "## Protocols" in report and "`few-shot-nas`" in report and "SGD steps total" in report
    for method, entry in protocols.items():
        if entry["protocol"] != "training-free":
            assert entry["sgd_steps_total"] == entry["supernet_epochs"] * entry["steps_per_epoch"], method


def test_cli_protocol_flags_and_their_errors(tmp_path, capsys):
    assert main(["partition", str(tmp_path / "x"), "--preset", "tiny", "--valid-fraction", "0", "--no-progress"]) == 2
    assert "proxy.split" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "y"), "--protocols", "theirs"]) == 2
    assert "invalid choice: 'theirs'" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "t"), "--preset", "tiny", "--protocol", "nas-lid-release", "--scale", "tiny",
                 "--epochs", "1", "--no-progress"]) == 0
    config = json.loads((tmp_path / "t" / "config.json").read_text())
    assert config["train"]["lr_stepping"] == "epoch" and config["train"]["init"] == "kaiming-normal"
    assert config["data"]["rotation"] == 15.0 and config["proxy"]["split"] == "test"
