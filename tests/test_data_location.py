"""Where naslid finds CIFAR-10 when no --data-path is given (issue 20, item 7): $NASLID_CIFAR10, the user
folder, the development layout; and what the error says when it is nowhere."""

import pytest

from naslid.data import default_cifar10_path, load_cifar10, user_cifar10_path
from naslid.runs.presets import get_preset


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working folder with no ../shared beside it, a private cache home and no NASLID_CIFAR10."""
    work = tmp_path / "a" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NASLID_CIFAR10", raising=False)
    return tmp_path


def test_the_environment_variable_comes_first(elsewhere, monkeypatch):
    monkeypatch.setenv("NASLID_CIFAR10", str(elsewhere / "mine"))
    assert default_cifar10_path() == elsewhere / "mine"
    assert get_preset("cpu").config.data.path == str(elsewhere / "mine")  # stored absolute


def test_then_the_user_folder_then_the_development_layout(elsewhere):
    user = elsewhere / "cache" / "naslid" / "cifar10"
    assert user_cifar10_path() == user
    assert default_cifar10_path() == user  # nothing exists: the user folder, so the error names it
    shared = elsewhere / "a" / "shared" / "data" / "cifar10"
    shared.mkdir(parents=True)
    assert default_cifar10_path() == shared
    user.mkdir(parents=True)
    assert default_cifar10_path() == user
    assert get_preset("paper").config.data.path == str(user)


def test_missing_data_says_how_to_get_it(elsewhere):
    with pytest.raises(FileNotFoundError) as error:
        load_cifar10(default_cifar10_path())
    message = str(error.value)
    assert "cifar-10-python.tar.gz" in message and "NASLID_CIFAR10" in message and "--data-path" in message
    assert str(user_cifar10_path()) in message
