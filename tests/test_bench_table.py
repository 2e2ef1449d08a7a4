"""The benchmark table: the shared NB201 table, column selection, and clear errors on bad input."""

import math

import numpy as np
import pytest

from naslid.bench import DEFAULT_COLUMN, BenchmarkTable, epochs_of_column, load_benchmark
from naslid.spaces import parse_arch

INDEX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
OTHER = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def merged(shared_data) -> BenchmarkTable:
    return BenchmarkTable.from_csv(shared_data / "nb201" / "nb201_merged.csv")


def test_merged_table_matches_its_readme(merged):
    assert len(merged) == 15625
    assert merged.arch_at(0) == parse_arch(INDEX0)
    assert merged.index_of(parse_arch(BEST_C10)) == 6111
    assert merged.default_column == DEFAULT_COLUMN == "c10_test_acc_200"
    assert merged.value(parse_arch(BEST_C10)) == pytest.approx(94.3733, abs=1e-4)
    assert merged.value(parse_arch(INDEX0), "c10v_valid_acc_200") == pytest.approx(81.982667)
    values = merged.values(merged.archs(), "c10_test_acc_200")
    assert int(np.argmax(values)) == 6111
    assert "unique_str" not in merged.columns and "index" not in merged.columns


def test_column_info_states_epochs_and_seeds(merged):
    info = merged.column_info()
    assert (info.column, info.epochs, info.seeds) == ("c10_test_acc_200", 200, "mean")
    assert merged.column_info("c10_test_acc_12").epochs == 12
    truth = merged.ground_truth("c100_test_acc_200", archs=[parse_arch(INDEX0)])
    assert truth.info.epochs == 200 and truth.values == {parse_arch(INDEX0): pytest.approx(52.913333)}
    assert epochs_of_column("value") is None


def test_unknown_column_lists_the_available_ones(merged):
    with pytest.raises(KeyError, match="unknown benchmark column 'c10_acc'.*c10_test_acc_200"):
        merged.value(parse_arch(INDEX0), "c10_acc")


def test_unknown_architecture_and_index_are_key_errors():
    table = BenchmarkTable.from_mapping(
        {parse_arch(INDEX0): 1.0, parse_arch(OTHER): 2.0}, column="acc", source="t"
    )
    with pytest.raises(KeyError, match="not in benchmark t"):
        table.value(parse_arch(BEST_C10))
    with pytest.raises(KeyError, match="no architecture with index 5"):
        table.arch_at(5)
    assert table.default_column == "acc" and table.index_of(parse_arch(OTHER)) == 1


def _write(tmp_path, text: str):
    path = tmp_path / "table.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("index,acc\n0,1.0\n", "no 'arch_str' column"),
        ("arch_str,unique_str\n" + INDEX0 + ",x\n", "no metric column"),
        ("arch_str,acc\n", "no data rows"),
        ("arch_str,acc,acc\n" + INDEX0 + ",1,2\n", "repeats column"),
        ("arch_str,acc\n|bogus~0|+|x|,1.0\n", r"line 2, column 'arch_str'"),
        ("arch_str,acc\n" + INDEX0 + ",high\n", r"line 2, column 'acc': 'high' is not a number"),
        ("arch_str,acc\n" + INDEX0 + ",nan\n", "not finite"),
        ("arch_str,acc\n" + INDEX0 + ",1.0,3\n", "line 2: 3 fields, expected 2"),
        ("arch_str,acc\n" + INDEX0 + ",1.0\n" + INDEX0 + ",2.0\n", "line 3: .* already listed on line 2"),
        ("index,arch_str,acc\n0," + INDEX0 + ",1\n0," + OTHER + ",2\n", "index 0 already used on line 2"),
        ("index,arch_str,acc\nzero," + INDEX0 + ",1\n", "'zero' is not an integer index"),
    ],
)
def test_malformed_table_is_rejected_with_a_clear_message(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        BenchmarkTable.from_csv(_write(tmp_path, text))


def test_missing_table_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nb201_merged.csv"):
        BenchmarkTable.from_csv(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="is a directory"):
        BenchmarkTable.from_csv(tmp_path)


def test_small_table_without_index_uses_row_order(tmp_path):
    table = BenchmarkTable.from_csv(
        _write(tmp_path, f"arch_str,a_12,b_200\n{OTHER},1.5,3\n\n{INDEX0},2.5,4\n")
    )
    assert len(table) == 2 and table.columns == ("a_12", "b_200")
    assert table.index_of(parse_arch(INDEX0)) == 1
    assert table.values([parse_arch(INDEX0), parse_arch(OTHER)], "a_12").tolist() == [2.5, 1.5]
    with pytest.raises(KeyError, match=r"no 'c10_test_acc_200' column; name the column .*\['a_12', 'b_200'\]"):
        table.value(parse_arch(OTHER))


def test_a_table_without_the_default_column_never_falls_back_to_another(tmp_path):
    """Issue 10 item 5: a lone 12-epoch column was used silently in place of the 200-epoch default."""
    table = BenchmarkTable.from_csv(_write(tmp_path, f"arch_str,c10_test_acc_12\n{OTHER},1.5\n{INDEX0},2.5\n"))
    with pytest.raises(KeyError, match="no 'c10_test_acc_200' column"):
        table.column_info()
    with pytest.raises(KeyError, match="no 'c10_test_acc_200' column"):
        table.ground_truth()
    assert table.column_info("c10_test_acc_12").epochs == 12  # named explicitly, it is used


def test_load_benchmark_dispatches_on_the_file_form(tmp_path, shared_data):
    truth = load_benchmark(shared_data / "fewshot-nas-supernets" / "nasbench201.json")
    assert len(truth) == 15625 and truth.columns == ("value",)
    assert truth.column_info().epochs is None and not math.isnan(truth.value(parse_arch(INDEX0)))
    (tmp_path / "table.txt").write_text("x")
    with pytest.raises(ValueError, match="expected one of"):
        load_benchmark(tmp_path / "table.txt")
    with pytest.raises(FileNotFoundError):
        load_benchmark(tmp_path / "absent.csv")
