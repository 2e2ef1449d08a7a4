"""Profiles that are right for any model: the sample axis, integer token inputs, default layers, notes."""

import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from naslid.cli import main
from naslid.lid import MLE, LIDProfile, default_layers, load_profiles, profile_layers
from naslid.runs.profile import ProfileConfig, load_batches

D_MODEL = 8


class Counting(MLE):
    """The reference MLE, recording how many samples (rows) each estimate saw."""

    def __init__(self, k: int = 5) -> None:
        super().__init__(k=k)
        self.rows: list[int] = []

    def estimate(self, x):
        self.rows.append(int(x.shape[0]))
        return super().estimate(x)


def encoder(batch_first: bool, layers: int = 2, norm: bool = False, seed: int = 0) -> nn.TransformerEncoder:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = nn.TransformerEncoderLayer(D_MODEL, nhead=2, dim_feedforward=16, dropout=0.0,
                                           batch_first=batch_first)
        return nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(D_MODEL) if norm else None,
                                     enable_nested_tensor=False)


def twin(model: nn.TransformerEncoder, layers: int = 2, norm: bool = False) -> nn.TransformerEncoder:
    """The batch_first=True encoder with the weights of `model`."""
    other = encoder(batch_first=True, layers=layers, norm=norm, seed=1)
    other.load_state_dict(model.state_dict())
    return other


def sequences(length: int, batch: int, seed: int = 0) -> torch.Tensor:
    """Sequence-first inputs (length, batch, d), as batch_first=False modules take them."""
    return torch.randn(length, batch, D_MODEL, generator=torch.Generator().manual_seed(seed))


class TokenModel(nn.Module):
    """Token ids (batch, sequence) -> embedding -> a sequence-first encoder -> mean over tokens -> head."""

    def __init__(self, vocab: int = 50, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embed = nn.Embedding(vocab, D_MODEL)
            self.encoder = encoder(batch_first=False, seed=seed)
            self.head = nn.Linear(D_MODEL, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(self.embed(ids).transpose(0, 1))  # (sequence, batch, d)
        return self.head(hidden.mean(dim=0))


class TinyViT(nn.Module):
    """Patches (batch, patches, 12) -> linear patch embedding -> a 3-layer batch-first encoder -> head."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Linear(12, D_MODEL)
        self.encoder = encoder(batch_first=True, layers=3)
        self.head = nn.Linear(D_MODEL, 4)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.patch(patches)).mean(dim=1))


# --- the sample axis ------------------------------------------------------------------------------------


def test_sequence_first_encoder_is_profiled_over_the_batch():
    """batch_first=False, sequence 64, batch 128: n = 128 samples per layer, equal to the batch-first twin."""
    model = encoder(batch_first=False)
    inputs = sequences(64, 128)
    counting = Counting(k=5)
    profile = profile_layers(model, inputs, estimator=counting)
    assert profile.layers == ["layers.0", "layers.1"]
    assert profile.n == 128 and counting.rows == [128, 128]
    reference = profile_layers(twin(model), inputs.transpose(0, 1).contiguous(), estimator=MLE(k=5))
    assert reference.n == 128 and reference.layers == profile.layers
    np.testing.assert_allclose(profile.values, reference.values, rtol=1e-4)


def test_batch_first_tokens_through_a_sequence_first_encoder():
    """Token ids (32, 12) reach the embedding as integers; encoder outputs (12, 32, d) are profiled over 32."""
    model = TokenModel()
    seen = []
    model.embed.register_forward_pre_hook(lambda module, args: seen.append(args[0].dtype))
    ids = torch.randint(0, 50, (32, 12), generator=torch.Generator().manual_seed(0))
    counting = Counting(k=5)
    profile = profile_layers(model, ids, estimator=counting)
    assert seen == [torch.long]
    assert profile.layers == ["embed", "encoder.layers.0", "encoder.layers.1", "head"]
    assert profile.n == 32 and counting.rows == [32, 32, 32, 32]
    assert any("axis 1" in note and "encoder.layers.0" in note for note in profile.notes)
    # the encoder layers' samples are the batch columns: the same values as the layers' outputs moved to the front
    with torch.no_grad():
        first = model.encoder.layers[0](model.embed(ids).transpose(0, 1))
    expected = float(MLE(k=5).estimate(first.transpose(0, 1).reshape(32, -1)))
    assert profile.values[0][1] == pytest.approx(expected, rel=1e-5)


def test_ambiguous_sample_axis_is_refused_with_a_way_out():
    """Sequence 16 == batch 16 in a sequence-first model: the final norm's layout cannot be told."""
    model = encoder(batch_first=False, norm=True)
    inputs = sequences(16, 16)
    with pytest.raises(ValueError, match=r"layer 'norm'.*sample_axis") as caught:
        profile_layers(model, inputs, estimator=MLE(k=5))
    assert "batch size" in str(caught.value)
    # the declared layout of the encoder layers themselves is not ambiguous
    layers_only = profile_layers(model, inputs, layers=["layers.0", "layers.1"], estimator=MLE(k=5))
    assert layers_only.n == 16
    # naming the axis resolves it, for every layer or for one
    explicit = profile_layers(model, inputs, estimator=MLE(k=5), sample_axis=1)
    per_layer = profile_layers(model, inputs, estimator=MLE(k=5), sample_axis={"norm": 1})
    reference = profile_layers(twin(model, norm=True), inputs.transpose(0, 1).contiguous(), estimator=MLE(k=5))
    assert explicit.layers == per_layer.layers == reference.layers == ["layers.0", "layers.1", "norm"]
    np.testing.assert_allclose(explicit.values, reference.values, rtol=1e-4)
    np.testing.assert_allclose(per_layer.values, reference.values, rtol=1e-4)


def test_sequence_first_inputs_behind_a_batch_first_layer_are_refused():
    """A layer before the encoder took the sequence axis for the batch: refused, not silently wrong."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(D_MODEL, D_MODEL), encoder(batch_first=False))
    with pytest.raises(ValueError, match="sample_axis"):
        profile_layers(model, sequences(20, 24), estimator=MLE(k=5))
    profile = profile_layers(model, sequences(20, 24), estimator=MLE(k=5), sample_axis=1)
    assert profile.n == 24 and profile.layers == ["0", "1.layers.0", "1.layers.1"]


def test_bad_sample_axis_and_outputs_without_the_batch():
    model = encoder(batch_first=False)
    with pytest.raises(ValueError, match="sample_axis 3"):
        profile_layers(model, sequences(10, 12), estimator=MLE(k=5), sample_axis=3)
    with pytest.raises(ValueError, match="'layers.9'"):
        profile_layers(model, sequences(10, 12), estimator=MLE(k=5), sample_axis={"layers.9": 1})

    class Pooled(nn.Module):
        def forward(self, x):
            return x.mean(dim=0)  # averages the batch away

    net = nn.Sequential(nn.Linear(6, 5), Pooled())
    with pytest.raises(ValueError, match=r"'1'.*no axis of length n=30"):
        profile_layers(net, torch.randn(30, 6), estimator=MLE(k=5))


def test_tuple_outputs_are_profiled_on_their_first_tensor():
    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(D_MODEL, 2, batch_first=True)

        def forward(self, x):
            out, _ = self.attn(x, x, x)  # returns (output, attention weights)
            return out

    model = Attention()
    x = torch.randn(20, 7, D_MODEL)
    profile = profile_layers(model, x, layers=["attn"], estimator=MLE(k=5))
    with torch.no_grad():
        out, _ = model.attn(x, x, x)
    assert profile.n == 20
    assert profile.values[0][0] == pytest.approx(float(MLE(k=5).estimate(out.reshape(20, -1))), rel=1e-5)


def test_batch_first_cnn_keeps_axis_zero_when_other_axes_match():
    """Batch 8 of 8 x 8 images with 8 channels: every axis has length 8, the batch stays first."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    profile = profile_layers(model, torch.randn(8, 3, 8, 8), estimator=MLE(k=3))
    assert profile.n == 8 and profile.notes == []


# --- integer inputs ----------------------------------------------------------------------------------------

TOKEN_MODEL = """
import torch
from torch import nn


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(40, 8)
        self.body = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.head = nn.Linear(8, 3)

    def forward(self, ids):
        if ids.is_floating_point():
            raise TypeError(f"token ids arrived as {ids.dtype}")
        return self.head(self.body(self.embed(ids)).mean(dim=1))


def build():
    return Tokens()


def convnet():
    return nn.Sequential(nn.Conv2d(3, 2, 3, stride=4), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 8 * 8, 4))
"""


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "token_models.py"
    path.write_text(textwrap.dedent(TOKEN_MODEL))
    return path


def test_token_ids_from_a_file_reach_the_embedding_as_integers(tmp_path, model_file, capsys):
    ids = torch.randint(0, 40, (60, 6), generator=torch.Generator().manual_seed(0))
    tokens = tmp_path / "tokens.pt"
    torch.save(ids, tokens)
    cfg = ProfileConfig(models=[f"{model_file}:build"], data=str(tokens), batch_size=24, num_batches=2)
    batches = load_batches(cfg, torch.device("cpu"))
    assert [batch.dtype for batch in batches] == [torch.long, torch.long]
    assert all(bool(torch.isin(batch, ids).all()) for batch in batches)  # unchanged ids, no normalisation
    out = tmp_path / "tokens.json"
    assert main(["profile", "--model", f"{model_file}:build", "--data", str(tokens), "--batch-size", "24",
                 "--num-batches", "2", "-k", "5", "--out", str(out)]) == 0
    profiles, _ = load_profiles(out)
    assert profiles[0].n == 24 and profiles[0].layers == ["embed", "body.0", "body.1", "head"]
    printed = capsys.readouterr().out
    assert "no checkpoint" in printed and "noise" not in printed
    # float files are read as float32, as before; uint8 files are pixel values, cast to float
    for dtype in (torch.float64, torch.uint8):
        path = tmp_path / f"{dtype}.pt".replace("torch.", "")
        torch.save(torch.ones(48, 3, 2, 2, dtype=dtype), path)
        loaded = load_batches(ProfileConfig(models=["x:y"], data=str(path), batch_size=24, num_batches=2),
                              torch.device("cpu"))
        assert loaded[0].dtype == torch.float32


# --- default layers ----------------------------------------------------------------------------------------


def test_default_layers_descend_into_encoders():
    assert default_layers(encoder(batch_first=True, layers=3)) == ["layers.0", "layers.1", "layers.2"]
    vit = TinyViT()
    expected = ["patch", "encoder.layers.0", "encoder.layers.1", "encoder.layers.2", "head"]
    assert default_layers(vit) == expected
    profile = profile_layers(vit, torch.randn(24, 5, 12), estimator=MLE(k=5))
    assert profile.layers == expected and profile.n == 24
    # a block is not split because it holds a short Sequential of different modules
    block = nn.Module()
    block.conv = nn.Conv2d(4, 4, 3)
    block.downsample = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))
    model = nn.Sequential(nn.Conv2d(3, 4, 3), block, nn.Flatten())
    assert default_layers(model) == ["0", "1", "2"]


# --- notes --------------------------------------------------------------------------------------------------


def test_notes_for_untrained_models_and_noise_inputs(tmp_path, model_file, capsys):
    out = tmp_path / "noise.json"
    assert main(["profile", "--model", f"{model_file}:convnet", "--batch-size", "24", "--num-batches", "1",
                 "-k", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "note:" in printed and "Gaussian noise" in printed and "no checkpoint" in printed
    profiles, _ = load_profiles(out)
    assert any("noise" in note for note in profiles[0].notes)
    assert any("no checkpoint" in note for note in profiles[0].notes)
    # weights loaded from a checkpoint: no note about the model
    checkpoint = tmp_path / "weights.pt"
    torch.save(nn.Sequential(nn.Conv2d(3, 2, 3, stride=4), nn.ReLU(), nn.Flatten(),
                             nn.Linear(2 * 8 * 8, 4)).state_dict(), checkpoint)
    assert main(["profile", "--model", f"{model_file}:convnet", "--checkpoint", str(checkpoint), "--batch-size",
                 "24", "--num-batches", "1", "-k", "5", "--out", str(out)]) == 0
    profiles, _ = load_profiles(out)
    assert not any("checkpoint" in note for note in profiles[0].notes)
    # fresh NB201 networks are untrained
    assert main(["profile", "--model", "nb201:|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|",
                 "--data", "digits", "--batch-size", "24", "--num-batches", "1", "-k", "5",
                 "--out", str(out)]) == 0
    profiles, _ = load_profiles(out)
    assert any("untrained" in note for note in profiles[0].notes)
    assert not any("noise" in note for note in profiles[0].notes)


def test_notes_round_trip_and_old_records_read():
    profile = profile_layers(nn.Sequential(nn.Linear(6, 6)), torch.randn(30, 6), estimator=MLE(k=5))
    profile.notes.append("a note")
    record = profile.to_json()
    assert record["notes"] == ["a note"] and LIDProfile.from_json(record) == profile
    del record["notes"]  # written before notes existed
    assert LIDProfile.from_json(record).notes == []
