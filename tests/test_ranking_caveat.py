"""A ranking whose training data is not the benchmark's says so (issue 20, item 6)."""

from naslid.runs.compare import markdown_table
from naslid.runs.datasets import ranking_caveat


def test_caveat_names_the_mismatch_between_training_data_and_ground_truth():
    digits = ranking_caveat("digits", "c10_test_acc_200")
    assert "8x8 digits" in digits and "c10_test_acc_200" in digits and "cifar10" in digits
    assert "cifar100" in ranking_caveat("cifar10", "c100_test_acc_200")
    assert "ImageNet16-120" in ranking_caveat("cifar10", "in16_valid_acc_200")
    assert "cannot identify" in ranking_caveat("imagefolder", "c10_test_acc_200")


def test_no_caveat_when_the_data_matches_or_cannot_be_told():
    assert ranking_caveat("cifar10", "c10_test_acc_200") is None
    assert ranking_caveat("cifar10", "c10v_valid_acc_200") is None
    assert ranking_caveat("digits", "value") is None  # an arch -> value JSON the user measured on their data
    assert ranking_caveat("digits", None) is None


def test_the_report_leads_with_the_caveat_and_repeats_it_beside_the_paired_differences():
    caveat = ranking_caveat("digits", "c10_test_acc_200")
    row = {"mean": 0.1, "interval": [0.05, 0.2], "better": 2, "n": 2, "differences": [0.05, 0.15]}
    results = {
        "protocol": {"data": {"dataset": "digits"}, "seeds": [0, 1], "ground_truth": None, "ranking_caveat": caveat,
                     "ranking_subsets": []},
        "environment": {"device_name": "cpu", "device": "cpu"},
        "methods": {}, "separability": {},
        "paired": {"control": "random-split", "reference": "spos", "against_control": {"nas-lid": {"r": row}}},
    }
    report = markdown_table(results)
    assert report.splitlines()[4] == f"**Caveat: {caveat}.**"
    paired = report[report.index("## Paired by seed"):]
    assert f"Caveat: {caveat}." in paired
    results["protocol"]["ranking_caveat"] = None
    assert "Caveat" not in markdown_table(results)
