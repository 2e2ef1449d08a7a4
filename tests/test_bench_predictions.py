"""Reading predictions files: both architecture key forms, JSON and CSV, and clear errors."""

import json
import re

import pytest

from naslid.bench import parse_arch_key, read_predictions
from naslid.spaces import parse_arch

README_TUPLE = (
    "[(('nor_conv_3x3', 0),), (('nor_conv_3x3', 0), ('avg_pool_3x3', 1)), "
    "(('skip_connect', 0), ('nor_conv_3x3', 1), ('skip_connect', 2))]"
)
README_STRING = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)
OTHER = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_tuple_key_equals_official_string():
    assert parse_arch_key(README_TUPLE) == parse_arch(README_STRING)
    assert parse_arch_key(README_STRING) == parse_arch(README_STRING)
    assert parse_arch_key(README_TUPLE.replace("[", "(").replace("]", ")")) == parse_arch(README_STRING)


@pytest.mark.parametrize(
    "key, message",
    [
        ("__import__('os').system('true')", "neither an official"),
        ("[__import__('os')]", "not a valid Python literal"),
        ("[(('nor_conv_3x3', 0),)]", "must list 3 nodes"),
        (README_TUPLE.replace("('avg_pool_3x3', 1)", "('avg_pool_3x3', 0)"), "reads input 0, expected 1"),
        (README_TUPLE.replace("nor_conv_3x3", "conv_5x5"), "unknown NB201 op 'conv_5x5'"),
        (README_TUPLE.replace("(('nor_conv_3x3', 0),),", "(),"), "node 1 .* must have 1"),
        ("|nor_conv_3x3~0|", "node groups separated by .*expected 3"),
    ],
)
def test_bad_keys_are_value_errors(key, message):
    with pytest.raises(ValueError, match=message):
        parse_arch_key(key)


def test_json_plain_mapping_and_protocol_block(tmp_path):
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({README_TUPLE: 91.5, OTHER: 10}))
    predictions = read_predictions(plain)
    assert predictions.values == {parse_arch(README_STRING): 91.5, parse_arch(OTHER): 10.0}
    assert "no protocol" in predictions.describe()
    wrapped = tmp_path / "wrapped.json"
    protocol = {"supernet": "spos", "data": "held-out train split"}
    wrapped.write_text(json.dumps({"protocol": protocol, "predictions": {README_STRING: 1.0, OTHER: 2.0}}))
    predictions = read_predictions(wrapped)
    assert predictions.protocol == protocol and "held-out train split" in predictions.describe()


@pytest.mark.parametrize(
    "content, message",
    [
        ("[1, 2]", "JSON list; expected an object"),
        ("{not json", "not valid JSON"),
        ("{}", "holds no predictions"),
        (json.dumps({README_STRING: "high"}), "'high' .* is not a number"),
        (json.dumps({README_STRING: True}), "is not a number"),
        (json.dumps({README_STRING: None}), "is not a number"),
        ('{"' + README_STRING + '": NaN}', "not finite"),
        (json.dumps({README_STRING: 1, README_TUPLE: 2}), "are the same architecture"),
        (json.dumps({"predictions": [1]}), "'predictions' must map"),
    ],
)
def test_bad_json_is_rejected(tmp_path, content, message):
    path = tmp_path / "predictions.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_predictions(path)


def test_csv_with_header_without_header_and_value_column(tmp_path):
    with_header = tmp_path / "with_header.csv"
    with_header.write_text(f"arch_str,score\n{README_STRING},0.5\n{OTHER},0.1\n")
    assert read_predictions(with_header).values == {parse_arch(README_STRING): 0.5, parse_arch(OTHER): 0.1}
    headerless = tmp_path / "headerless.csv"
    headerless.write_text(f'"{README_TUPLE}",0.5\n{OTHER},0.1\n')
    assert read_predictions(headerless).values[parse_arch(README_STRING)] == 0.5
    several = tmp_path / "several.csv"
    several.write_text(f"index,arch,a,b\n0,{README_STRING},1,2\n1,{OTHER},3,4\n")
    with pytest.raises(ValueError, match=r"2 value columns; choose one of \['a', 'b'\]"):
        read_predictions(several)
    assert read_predictions(several, "b").values[parse_arch(OTHER)] == 4.0
    with pytest.raises(KeyError, match="unknown value column 'c'"):
        read_predictions(several, "c")


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("name,score\nx,1\n", "no architecture column"),
        (f"arch_str,score\n{OTHER},1\n{OTHER},2\n", "listed twice"),
        (f"arch_str,score\n{OTHER},1,5\n", "3 fields, expected 2"),
    ],
)
def test_bad_csv_is_rejected(tmp_path, content, message):
    path = tmp_path / "predictions.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_predictions(path)


def test_missing_or_unknown_file_kind(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_predictions(tmp_path / "absent.json")
    (tmp_path / "predictions.txt").write_text("x")
    with pytest.raises(ValueError, match=r"expected one of \['.json', '.csv'\]"):
        read_predictions(tmp_path / "predictions.txt")


def test_third_party_predictions_cover_the_space(shared_data):
    predictions = read_predictions(shared_data / "fewshot-nas-supernets" / "few-shot-supernet.json")
    assert len(predictions) == 15625


def test_fast_and_literal_eval_paths_agree():
    spaced = README_TUPLE.replace(", ", " ,  ")  # not the canonical repr: parsed by literal_eval
    assert parse_arch_key(spaced) == parse_arch_key(README_TUPLE) == parse_arch(README_STRING)


def test_duplicate_json_keys_are_refused_naming_the_key(tmp_path):
    """Issue 10 item 4: `{"A": 1, "A": 2}` used to keep 2 silently."""
    path = tmp_path / "predictions.json"
    path.write_text(f'{{"{OTHER}": 1, "{README_STRING}": 3, "{OTHER}": 2}}')
    with pytest.raises(ValueError, match=rf"key '{re.escape(OTHER)}' appears twice \(values 1 and 2\)"):
        read_predictions(path)
    nested = tmp_path / "nested.json"
    nested.write_text(f'{{"predictions": {{"{OTHER}": 1}}, "protocol": {{"n": 1, "n": 2}}}}')
    with pytest.raises(ValueError, match="key 'n' appears twice"):
        read_predictions(nested)
