"""SAM 2.1 models: which checkpoint goes with which config, downloading, devices, loading.

Four official SAM 2.1 checkpoints (``MODELS``), fetched with ``checkpoints/download_ckpts.sh`` or
``download_checkpoint(model)``. ``load_predictor`` builds a ``SAM2VideoPredictor`` and loads the
weights with ``torch.load(weights_only=True)``, saying plainly what is wrong with a missing, corrupt
or mismatched checkpoint. ``weights="random"`` builds an untrained model (seeded, so two runs give
the same weights) for tests and smoke runs; it is announced loudly, since its masks mean nothing.

Example::

    predictor = load_predictor("tiny")                      # checkpoints/sam2.1_hiera_tiny.pt
    predictor = load_predictor("tiny", weights="random", image_size=128)   # tests, no download
    with inference_context(predictor.device):
        ...                                                 # bf16 autocast + TF32 on CUDA
"""
from __future__ import annotations

import contextlib
import os
import pickle
import sys
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

from vidmask_nb.errors import VidmaskError, check_number

CHECKPOINT_URL_BASE = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
WEIGHTS_MODES = ("trained", "random")

# sam2 1.1.0 warns "cannot import name '_C' from 'sam2'" each time it post-processes masks without
# its optional CUDA extension (hole filling is skipped; the masks are the same in most cases, see
# sam2's INSTALL.md). Filtered for the whole process, at import and again when a model is loaded
# (a test harness may have reset the filters in between).
def quiet_sam2_warnings() -> None:
    warnings.filterwarnings("ignore", message=r"cannot import name '_C' from 'sam2'", category=UserWarning)


quiet_sam2_warnings()


class RandomWeightsWarning(UserWarning):
    """Issued with the banner of an untrained model (``announce_random_weights``).

    ``Run`` ignores it in notebooks, where the printed banner already says it once.
    """


@dataclass(frozen=True)
class ModelSpec:
    """One official SAM 2.1 model: its Hydra config, checkpoint file and what its weights look like."""

    name: str
    config: str
    checkpoint: str
    embed_dim: int  # image_encoder.trunk.patch_embed.proj.weight.shape[0]
    blocks: int  # number of Hiera blocks (sum of the config's stages)
    params_m: float  # parameters, millions (as published)
    size_mb: int  # checkpoint file size, roughly

    @property
    def url(self) -> str:
        return CHECKPOINT_URL_BASE + self.checkpoint


MODELS: dict[str, ModelSpec] = {
    m.name: m for m in (
        ModelSpec("tiny", "configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny.pt", 96, 12, 38.9, 156),
        ModelSpec("small", "configs/sam2.1/sam2.1_hiera_s.yaml", "sam2.1_hiera_small.pt", 96, 16, 46.0, 184),
        ModelSpec("base_plus", "configs/sam2.1/sam2.1_hiera_b+.yaml", "sam2.1_hiera_base_plus.pt", 112, 24, 80.8, 324),
        ModelSpec("large", "configs/sam2.1/sam2.1_hiera_l.yaml", "sam2.1_hiera_large.pt", 144, 48, 224.4, 898),
    )
}
_ALIASES = {"t": "tiny", "s": "small", "b+": "base_plus", "base+": "base_plus", "base-plus": "base_plus",
            "baseplus": "base_plus", "b": "base_plus", "l": "large"}


@dataclass(frozen=True)
class ModelIdentity:
    """What a loaded predictor is: stored on it by ``load_predictor`` (``predictor.vidmask_identity``).

    ``weights_id`` names the weights exactly: the checkpoint's content fingerprint, or
    ``random-seed<N>`` for an untrained model. It goes into the key of every mask file.
    """

    model: str
    config: str
    weights: str  # "trained" | "random"
    weights_id: str
    checkpoint: str | None
    image_size: int
    device: str

    @property
    def is_random(self) -> bool:
        return self.weights == "random"


def check_weights(weights: str, name: str = "weights") -> str:
    """``weights`` if it is ``"trained"`` or ``"random"``; ``name`` is how the message calls it."""
    if weights not in WEIGHTS_MODES:
        raise VidmaskError(f"{name} must be 'trained' or 'random', not {weights!r}")
    return weights


def check_image_size(image_size: int | None, name: str = "image_size") -> int | None:
    """SAM 2's input size override: None (the model's 1024) or a multiple of 32, at least 64."""
    if image_size is None:
        return None
    check_number(image_size, name, integer=True)
    size = int(image_size)
    if size < 64 or size % 32:
        raise VidmaskError(f"{name} must be a multiple of 32 and at least 64 (SAM 2 uses 1024), not {image_size}")
    return size


def model_spec(model: str) -> ModelSpec:
    """The ``ModelSpec`` for a name (``tiny``, ``small``, ``base_plus``, ``large``; ``b+`` etc. accepted)."""
    key = str(model).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in MODELS:
        raise VidmaskError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[key]


# -- checkpoints on disk ---------------------------------------------------------------------------

def repo_checkpoints() -> Path:
    """The repository's own ``checkpoints/`` folder (beside the package): where downloads go."""
    return Path(__file__).resolve().parents[2] / "checkpoints"


def checkpoint_dirs() -> list[Path]:
    """Where a checkpoint given by model name is looked for, in order.

    ``$VIDMASK_CHECKPOINTS``, ``./checkpoints``, ``../checkpoints`` (a notebook runs from
    ``notebooks/``) and the ``checkpoints/`` folder beside the package.
    """
    dirs = []
    if os.environ.get("VIDMASK_CHECKPOINTS"):
        dirs.append(Path(os.environ["VIDMASK_CHECKPOINTS"]))
    dirs += [Path.cwd() / "checkpoints", Path.cwd().parent / "checkpoints", repo_checkpoints()]
    seen, out = set(), []
    for d in dirs:
        r = d.resolve()
        if r not in seen:
            seen.add(r)
            out.append(d)
    return out


def download_command(model: str) -> str:
    """The shell command that fetches a model's checkpoint (for error messages)."""
    return (f"bash {repo_checkpoints() / 'download_ckpts.sh'} {model_spec(model).name}   (or in Python: "
            f"from vidmask_nb.track.model import download_checkpoint; download_checkpoint({model_spec(model).name!r}))")


def find_checkpoint(model: str, checkpoint: str | os.PathLike | None = None) -> Path:
    """The checkpoint file to load: ``checkpoint`` if given, else the model's file in ``checkpoint_dirs()``."""
    spec = model_spec(model)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if path.is_dir():
            path = path / spec.checkpoint
        if not path.is_file():
            raise VidmaskError(f"checkpoint not found: {path}. Download the {spec.name} checkpoint with: "
                               f"{download_command(spec.name)}")
        return path
    for d in checkpoint_dirs():
        if (d / spec.checkpoint).is_file():
            return d / spec.checkpoint
    looked = ", ".join(str(d) for d in checkpoint_dirs())
    raise VidmaskError(f"the {spec.name} checkpoint {spec.checkpoint} is not downloaded (looked in: {looked}). "
                       f"Download it with: {download_command(spec.name)}")


def download_checkpoint(model: str = "tiny", dest_dir: str | os.PathLike | None = None,
                        progress: bool = True, timeout: float = 60.0) -> Path:
    """Download a model's official checkpoint into ``dest_dir`` (the Python twin of download_ckpts.sh).

    ``dest_dir`` defaults to the repository's ``checkpoints/`` (``repo_checkpoints()``), where the
    loader looks whatever the working directory.

    Written under a temporary name and renamed when complete, so an interrupted download never
    leaves a truncated ``.pt`` under the final name. An existing complete file is kept.

    Example::

        download_checkpoint("tiny")            # -> <repository>/checkpoints/sam2.1_hiera_tiny.pt
    """
    from vidmask_nb.runfolder.folder import atomic_output

    spec = model_spec(model)
    dest = Path(dest_dir if dest_dir is not None else repo_checkpoints()) / spec.checkpoint
    if dest.is_file() and dest.stat().st_size > 0:
        return dest
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        progress = False
    try:
        with atomic_output(dest) as tmp:
            with urllib.request.urlopen(spec.url, timeout=timeout) as resp, open(tmp, "wb") as f:
                total = int(resp.headers.get("Content-Length") or 0) or None
                bar = tqdm(total=total, unit="B", unit_scale=True, desc=spec.checkpoint) if progress else None
                while True:
                    block = resp.read(1 << 20)
                    if not block:
                        break
                    f.write(block)
                    if bar is not None:
                        bar.update(len(block))
                if bar is not None:
                    bar.close()
                if total is not None and f.tell() != total:
                    raise VidmaskError(f"download of {spec.url} stopped at {f.tell()} of {total} bytes; run again")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise VidmaskError(f"could not download {spec.url} ({getattr(exc, 'reason', exc)}). Check the network, "
                           f"or download it elsewhere and copy it to {dest}") from exc
    return dest


# -- devices ---------------------------------------------------------------------------------------

def resolve_device(device=None):
    """A ``torch.device`` from ``None``/``"auto"`` (CUDA, then Apple MPS, then CPU) or a name like ``"cuda:1"``."""
    import torch

    if isinstance(device, torch.device):
        device = str(device)
    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise VidmaskError(f"unknown device {device!r}; use 'cuda', 'mps', 'cpu' or leave it empty to choose") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise VidmaskError("device 'cuda' was asked for but no CUDA GPU is available here; "
                               "use device=None (auto) or 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise VidmaskError(f"there is no GPU {dev.index}: this machine has {torch.cuda.device_count()}")
    elif dev.type == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise VidmaskError("device 'mps' was asked for but Apple MPS is not available here; use 'cpu'")
    elif dev.type != "cpu":
        raise VidmaskError(f"device {device!r} is not supported; use 'cuda', 'mps' or 'cpu'")
    return dev


def inference_context(device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast with TF32 matmuls on CUDA (SAM 2's recommended setting); nothing elsewhere."""
    import torch

    device = resolve_device(device)
    if device.type != "cuda":
        return contextlib.nullcontext()
    if torch.cuda.get_device_properties(device).major >= 8:  # TF32 exists from Ampere on
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return torch.autocast("cuda", dtype=torch.bfloat16)


# -- loading ---------------------------------------------------------------------------------------

def announce_random_weights(where: str = "") -> None:
    """Say loudly that a model has random weights: its masks are noise, fit only for tests."""
    text = ("RANDOM WEIGHTS: this SAM 2 model is untrained (weights='random'); its masks are meaningless. "
            "Use it only for tests and smoke runs; for real work use weights='trained'.")
    if where:
        text += f" [{where}]"
    print("!" * 100 + "\n!! " + text + "\n" + "!" * 100, file=sys.stderr, flush=True)
    warnings.warn(text, RandomWeightsWarning, stacklevel=3)


def _read_state_dict(path: Path, spec: ModelSpec) -> dict:
    """``torch.load(weights_only=True)`` with plain errors for a corrupt or foreign file."""
    import torch

    how = f"Delete it and download it again with: {download_command(spec.name)}"
    if path.stat().st_size == 0:
        raise VidmaskError(f"checkpoint {path} is empty (0 bytes), probably an interrupted download. {how}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Weights only" in str(exc):
            raise VidmaskError(f"checkpoint {path} holds more than weights (arbitrary Python objects), so it "
                               f"is not loaded: it is not an official SAM 2.1 checkpoint. {how}") from exc
        raise VidmaskError(f"checkpoint {path} is corrupt (cannot be unpickled: {exc}). {how}") from exc
    except Exception as exc:  # the unpickler fails in many ways on garbage (IndexError, EOFError, ...)
        raise VidmaskError(f"checkpoint {path} is corrupt or truncated ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). {how}") from exc
    sd = data.get("model") if isinstance(data, dict) else None
    if isinstance(data, dict) and sd is None and any(isinstance(v, torch.Tensor) for v in data.values()):
        sd = data  # a bare state dict
    if not isinstance(sd, dict) or not sd:
        raise VidmaskError(f"{path} is not a SAM 2 checkpoint (no 'model' weights inside). {how}")
    return sd


def looks_like(sd: dict) -> str:
    """Which model a state dict looks like, from its Hiera width and depth: 'SAM 2.1 tiny', 'SAM 2.0 large'..."""
    w = sd.get("image_encoder.trunk.patch_embed.proj.weight")
    if w is None:
        return "not a SAM 2 model (no Hiera image encoder)"
    blocks = len({k.split(".")[3] for k in sd if k.startswith("image_encoder.trunk.blocks.")})
    version = "2.1" if "no_obj_embed_spatial" in sd else "2.0"
    for spec in MODELS.values():
        if (spec.embed_dim, spec.blocks) == (int(w.shape[0]), blocks):
            return f"SAM {version} {spec.name}"
    return f"an unknown SAM 2 variant (width {int(w.shape[0])}, {blocks} blocks)"


def _check_matches(sd: dict, model, spec: ModelSpec, path: Path) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    wrong = [k for k in expected if k in sd and tuple(sd[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or wrong):
        return
    seems = looks_like(sd)
    hint = ""
    for other in MODELS.values():
        if seems == f"SAM 2.1 {other.name}" and other.name != spec.name:
            hint = f" Load it with model={other.name!r}, or download the {spec.name} checkpoint: {download_command(spec.name)}"
    if seems.startswith("SAM 2.0"):
        hint = (f" This kit uses SAM 2.1 checkpoints: download {spec.checkpoint} with: {download_command(spec.name)}")
    detail = (f"{len(missing)} weights missing, {len(unexpected)} unexpected, {len(wrong)} of the wrong shape"
              f" (e.g. {(missing or unexpected or wrong)[0]})")
    raise VidmaskError(f"checkpoint {path} does not match the {spec.name} model ({spec.config}): it looks like "
                       f"{seems}; {detail}.{hint}")


def load_predictor(model: str = "tiny", checkpoint: str | os.PathLike | None = None, weights: str = "trained",
                   device=None, image_size: int | None = None, vos_optimized: bool = False, seed: int = 0):
    """Build a ``SAM2VideoPredictor`` for one of the four SAM 2.1 models, ready for ``sam.init_state``.

    - ``model``: ``tiny`` | ``small`` | ``base_plus`` | ``large``.
    - ``checkpoint``: a ``.pt`` file or folder; default: the model's file in ``checkpoint_dirs()``.
    - ``weights``: ``"trained"`` (load the checkpoint) or ``"random"`` (untrained, seeded by ``seed``;
      announced loudly; tests and smoke runs only).
    - ``device``: ``None`` (CUDA, else MPS, else CPU), ``"cuda"``, ``"mps"``, ``"cpu"``.
    - ``image_size``: override SAM 2's input size (1024), e.g. 128 or 256 in tests (a multiple of 32).
    - ``vos_optimized``: compile the model for video tracking (CUDA only; first frames are slow).

    The result carries ``predictor.vidmask_identity`` (a ``ModelIdentity``) naming exactly what was
    loaded; the runner keys its mask files with it.

    Example::

        predictor = load_predictor("tiny", weights="random", image_size=128, device="cpu")
    """

    spec = model_spec(model)
    check_weights(weights)
    image_size = check_image_size(image_size)
    dev = resolve_device(device)
    if vos_optimized and dev.type != "cuda":
        raise VidmaskError("vos_optimized compiles SAM 2 for CUDA GPUs; it is not available on "
                           f"{dev.type}. Leave vos_optimized=False")
    path = None
    if weights == "trained":
        path = find_checkpoint(spec.name, checkpoint)  # fails before the (slow) model build
    elif checkpoint is not None:
        raise VidmaskError("weights='random' builds an untrained model: do not give a checkpoint with it "
                           "(or use weights='trained')")
    key = (spec.name, _checkpoint_id(path) if path else None, weights, str(dev), image_size, vos_optimized, seed)
    if key not in _BUILT:  # one model a process: the preview (02), the editor and the tracker (03) share it
        _BUILT.clear()  # the last one only: a model holds hundreds of MB
        _BUILT[key] = _build_model(spec, path, weights, dev, image_size, vos_optimized, seed)
    predictor = _BUILT[key]
    if weights == "random":  # said at every load, built or not: whoever asked for it hears it
        announce_random_weights(f"{spec.name}, image size {predictor.image_size}")
    return predictor


# The model load_predictor built last, by what it was built from. SAM 2's predictor keeps no state of
# its own between videos (each tracking state is its own object), so one model serves every stage.
_BUILT: dict[tuple, object] = {}


def _build_model(spec, path, weights: str, dev, image_size, vos_optimized: bool, seed: int):
    """Build SAM 2 for ``load_predictor``: the config, the weights (or seeded random ones), the device."""
    import torch

    if weights == "trained":
        sd = _read_state_dict(path, spec)

    from sam2.build_sam import build_sam2_video_predictor

    quiet_sam2_warnings()
    overrides = [f"++model.image_size={image_size}"] if image_size else []
    if weights == "random":
        torch.manual_seed(seed)  # the same random model every time, so resumed runs match
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*cannot import name '_C'.*")
        predictor = build_sam2_video_predictor(spec.config, None, device="cpu",
                                               hydra_overrides_extra=overrides, vos_optimized=vos_optimized)
    if weights == "trained":
        _check_matches(sd, predictor, spec, path)
        predictor.load_state_dict(sd)
        del sd
        weights_id = _checkpoint_id(path)
    else:
        weights_id = f"random-seed{seed}"
    predictor = predictor.to(dev).eval()
    if dev.type != "cuda":
        predictor.memory_attention.register_forward_pre_hook(_memory_in_compute_dtype, with_kwargs=True)
    predictor.vidmask_identity = ModelIdentity(
        model=spec.name, config=spec.config, weights=weights, weights_id=weights_id,
        checkpoint=str(path) if path else None, image_size=int(predictor.image_size), device=dev.type)
    return predictor


def _memory_in_compute_dtype(module, args, kwargs):
    """Cast SAM 2's memory to the features' dtype before memory attention (CPU and MPS).

    SAM 2 stores spatial memories in bfloat16 and relies on CUDA autocast to mix them with float32
    features. Without autocast, ``torch.cat`` promotes them to float32 as soon as one float32
    object pointer joins them, but a frame with no pointer yet (an object first prompted on a
    later frame) hands bfloat16 memory to a float32 layer and stock SAM 2 fails. Casting here
    gives exactly what the promotion gives, so no other result changes.
    """
    curr = kwargs.get("curr", args[0] if args else None)
    dtype = (curr[0] if isinstance(curr, (list, tuple)) else curr).dtype
    for name in ("memory", "memory_pos"):
        value = kwargs.get(name)
        if value is not None and value.dtype != dtype:
            kwargs[name] = value.to(dtype)
    return args, kwargs


def _checkpoint_id(path: Path) -> str:
    from vidmask_nb.media.video import fingerprint

    return fingerprint(path)


def model_identity(predictor) -> ModelIdentity:
    """The ``ModelIdentity`` that ``load_predictor`` stored on a predictor."""
    ident = getattr(predictor, "vidmask_identity", None)
    if not isinstance(ident, ModelIdentity):
        raise VidmaskError("this SAM 2 predictor was not made by vidmask_nb.track.model.load_predictor, so its "
                           "weights cannot be named; load it with load_predictor(...)")
    return ident
