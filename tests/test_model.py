"""Checkpoint registry, downloading, devices and loading (real SAM 2 builds, random weights)."""
from __future__ import annotations

import datetime
import importlib.resources
import subprocess
from pathlib import Path

import pytest
import torch

from vidmask_nb.track import model as model_mod
from vidmask_nb.errors import VidmaskError
from vidmask_nb.track.model import (MODELS, download_checkpoint, find_checkpoint, inference_context, load_predictor,
                              looks_like, model_identity, model_spec, resolve_device)

ROOT = Path(__file__).resolve().parents[1]


def test_registry_names_the_four_sam21_models():
    assert list(MODELS) == ["tiny", "small", "base_plus", "large"]
    configs = importlib.resources.files("sam2")
    for spec in MODELS.values():
        assert spec.url == f"https://dl.fbaipublicfiles.com/segment_anything_2/092824/{spec.checkpoint}"
        assert spec.checkpoint.startswith("sam2.1_hiera_")
        assert (configs / spec.config).is_file(), spec.config
    assert model_spec("b+").name == "base_plus"
    with pytest.raises(VidmaskError, match="unknown model 'huge'.*tiny, small, base_plus, large"):
        model_spec("huge")


def test_download_script_lists_the_same_files():
    script = (ROOT / "checkpoints" / "download_ckpts.sh").read_text()
    for spec in MODELS.values():
        assert f'[{spec.name}]="{spec.checkpoint}"' in script
    assert model_mod.CHECKPOINT_URL_BASE in script
    subprocess.run(["bash", "-n", str(ROOT / "checkpoints" / "download_ckpts.sh")], check=True)
    bad = subprocess.run(["bash", str(ROOT / "checkpoints" / "download_ckpts.sh"), "huge"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown model 'huge'" in bad.stderr


def test_download_checkpoint_is_atomic_and_keeps_existing(tmp_path, monkeypatch):
    served = tmp_path / "server"
    served.mkdir()
    (served / "sam2.1_hiera_tiny.pt").write_bytes(b"x" * 3_000_000)
    monkeypatch.setattr(model_mod, "CHECKPOINT_URL_BASE", served.as_uri() + "/")
    dest = download_checkpoint("tiny", tmp_path / "ckpts", progress=False)
    assert dest == tmp_path / "ckpts" / "sam2.1_hiera_tiny.pt"
    assert dest.read_bytes() == b"x" * 3_000_000
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no partial file left behind
    (served / "sam2.1_hiera_tiny.pt").write_bytes(b"changed")
    assert download_checkpoint("tiny", tmp_path / "ckpts", progress=False).read_bytes() == b"x" * 3_000_000
    with pytest.raises(VidmaskError, match="could not download"):
        download_checkpoint("small", tmp_path / "ckpts", progress=False)  # not served
    assert not (tmp_path / "ckpts" / "sam2.1_hiera_small.pt").exists()


def test_missing_checkpoint_names_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDMASK_CHECKPOINTS", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(VidmaskError, match=r"not found.*download_ckpts\.sh tiny"):
        load_predictor("tiny", checkpoint=tmp_path / "nope.pt")
    if not (ROOT / "checkpoints" / "sam2.1_hiera_large.pt").exists():
        with pytest.raises(VidmaskError, match=r"large checkpoint sam2\.1_hiera_large\.pt is not downloaded.*"
                                               r"download_ckpts\.sh large"):
            find_checkpoint("large")


def test_download_hints_point_at_the_repositorys_own_checkpoints(tmp_path, monkeypatch):
    """From the clone's root (or anywhere), the hint names ROOT/checkpoints, where the loader looks,
    never a checkpoints/ folder beside the clone."""
    monkeypatch.chdir(ROOT)
    assert model_mod.repo_checkpoints() == ROOT / "checkpoints"
    assert f"bash {ROOT / 'checkpoints' / 'download_ckpts.sh'} tiny" in model_mod.download_command("tiny")
    if not (ROOT / "checkpoints" / "sam2.1_hiera_large.pt").exists():
        monkeypatch.setattr(model_mod, "CHECKPOINT_URL_BASE", (tmp_path / "empty").as_uri() + "/")
        with pytest.raises(VidmaskError) as err:
            download_checkpoint("large", progress=False)  # default destination: the repository's checkpoints/
        assert f"copy it to {ROOT / 'checkpoints' / 'sam2.1_hiera_large.pt'}" in str(err.value)


def test_sam2_missing_extension_warning_is_filtered():
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model_mod.quiet_sam2_warnings()
        warnings.warn("cannot import name '_C' from 'sam2' (/x/sam2/__init__.py)\n\nSkipping the post-processing",
                      UserWarning)
        warnings.warn("something else", UserWarning)
    assert [str(w.message) for w in seen] == ["something else"]


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"this is not a checkpoint at all" * 100, "corrupt"),
    (b"PK\x03\x04" + b"\x00" * 200, "corrupt"),
])
def test_corrupt_checkpoint(tmp_path, content, message):
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    path.write_bytes(content)
    with pytest.raises(VidmaskError, match=message) as err:
        load_predictor("tiny", checkpoint=path)
    assert "download_ckpts.sh tiny" in str(err.value)


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": {"w": torch.zeros(100_000)}}, path)
    path.write_bytes(path.read_bytes()[:-5000])
    with pytest.raises(VidmaskError, match="corrupt or truncated"):
        load_predictor("tiny", checkpoint=path)


def test_checkpoint_with_python_objects_is_refused(tmp_path):
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": {"when": datetime.datetime(2024, 9, 28)}}, path)
    with pytest.raises(VidmaskError, match="holds more than weights"):
        load_predictor("tiny", checkpoint=path)


def _fake_state_dict(embed_dim: int, blocks: int, v21: bool = True) -> dict:
    sd = {"image_encoder.trunk.patch_embed.proj.weight": torch.zeros(embed_dim, 3, 7, 7)}
    sd.update({f"image_encoder.trunk.blocks.{i}.norm1.weight": torch.zeros(1) for i in range(blocks)})
    if v21:
        sd["no_obj_embed_spatial"] = torch.zeros(1, 64)
    return sd


def test_looks_like_tells_the_models_apart():
    assert looks_like(_fake_state_dict(96, 12)) == "SAM 2.1 tiny"
    assert looks_like(_fake_state_dict(96, 16)) == "SAM 2.1 small"
    assert looks_like(_fake_state_dict(112, 24)) == "SAM 2.1 base_plus"
    assert looks_like(_fake_state_dict(144, 48, v21=False)) == "SAM 2.0 large"
    assert "not a SAM 2 model" in looks_like({"fc.weight": torch.zeros(2)})


@pytest.mark.slow
def test_checkpoint_for_another_model_says_which(tmp_path):
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": _fake_state_dict(144, 48)}, path)
    with pytest.raises(VidmaskError, match=r"does not match the tiny model.*looks like SAM 2\.1 large.*model='large'"):
        load_predictor("tiny", checkpoint=path, image_size=128, device="cpu")
    torch.save({"model": _fake_state_dict(96, 12, v21=False)}, path)
    with pytest.raises(VidmaskError, match=r"looks like SAM 2\.0 tiny.*uses SAM 2\.1 checkpoints"):
        load_predictor("tiny", checkpoint=path, image_size=128, device="cpu")


@pytest.mark.slow
def test_random_weights_are_loud_seeded_and_reload_as_a_checkpoint(tmp_path, capsys):
    with pytest.warns(UserWarning, match="RANDOM WEIGHTS"):
        a = load_predictor("tiny", weights="random", image_size=128, device="cpu")
    assert "RANDOM WEIGHTS" in capsys.readouterr().err
    ident = model_identity(a)
    assert (ident.model, ident.weights, ident.weights_id, ident.image_size, ident.device) == \
        ("tiny", "random", "random-seed0", 128, "cpu")
    assert a.image_size == 128 and not a.training

    # The same weights saved as a checkpoint load back exactly, with weights_only.
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": a.state_dict()}, path)
    b = load_predictor("tiny", checkpoint=path, image_size=128, device="cpu")
    assert model_identity(b).weights == "trained" and model_identity(b).weights_id.startswith("sha256:")
    sb = b.state_dict()
    assert all(torch.equal(v, sb[k]) for k, v in a.state_dict().items())


def test_bad_arguments_fail_before_building():
    with pytest.raises(VidmaskError, match="weights must be 'trained' or 'random'"):
        load_predictor("tiny", weights="pretrained")
    with pytest.raises(VidmaskError, match="do not give a checkpoint"):
        load_predictor("tiny", weights="random", checkpoint="x.pt")
    with pytest.raises(VidmaskError, match="multiple of 32"):
        load_predictor("tiny", weights="random", image_size=100)
    if not torch.cuda.is_available():
        with pytest.raises(VidmaskError, match="vos_optimized.*CUDA"):
            load_predictor("tiny", weights="random", device="cpu", vos_optimized=True)


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    auto = resolve_device(None)
    assert auto.type == ("cuda" if torch.cuda.is_available() else auto.type)
    if not torch.cuda.is_available():
        assert auto.type in ("cpu", "mps")
        with pytest.raises(VidmaskError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(VidmaskError, match="unknown device"):
        resolve_device("gpu please")
    with inference_context("cpu"):
        assert not torch.is_autocast_enabled()
