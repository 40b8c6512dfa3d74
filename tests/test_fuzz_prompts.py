"""A careless or hostile prompt file (any JSON shape, type, number or depth) is one plain error or a clean
load, never a Python traceback: a seeded fuzz over prompts.json and LabelMe files, called in-process."""
from __future__ import annotations

import json
import math
import random

import pytest

from vidmask_nb.errors import VidmaskError
from vidmask_nb.prompts.sources import load_prompt_source

SEED = 21
CASES = 300  # per format


def _scalar(rng: random.Random):
    return rng.choice([None, True, False, 0, -1, 1, 3, 7, 1e-300, -1e300, 1e300, 2**70, 0.5, float("nan"),
                       float("inf"), -float("inf"), "", "x", "abc", "1", "3.5", "\n", "é", [], {}])


def _value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        return _scalar(rng)
    if roll < 0.7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    keys = ["frame", "obj_id", "box", "points", "point_labels", "pts", "id", "label", "color", "width",
            "height", "frame_count", "fps", "name", "fingerprint", "shape_type", "group_id", "flags", "zzz"]
    return {rng.choice(keys): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


class Raw(str):
    """JSON text written as it is (nesting too deep for Python's own json to build)."""


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def _number(rng):
    return rng.choice([rng.uniform(-50, 250), rng.randint(0, 200), float("nan"), float("inf"), 1e300, -3,
                       "12", None, [1], True])


def _prompts_doc(rng: random.Random, info):
    """A prompts.json that is right, then broken in one to three places."""
    video = {"name": "sample.mp4", "width": info.width, "height": info.height, "frame_count": info.frame_count,
             "fps": "24000/1001", "fingerprint": info.fingerprint}
    doc = {"version": 1, "video": video, "objects": [{"id": 1, "label": "ball", "color": [1, 2, 3]}],
           "prompts": [{"frame": 3, "obj_id": 1, "box": [10, 10, 40, 40], "points": [[20, 20]],
                        "point_labels": [1], "pts": 0}]}
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        where = rng.choice(["top", "version", "video", "video.field", "objects", "object", "object.field",
                            "prompts", "prompt", "prompt.field", "box", "box.value", "points", "deep"])
        if where == "top":
            doc = _value(rng)
            break
        if where == "deep":
            doc = Raw('{"version": 1, "video": %s, "prompts": %s}' % (
                json.dumps(video), _deep(rng.choice([50, 800, 5000, 100000]))))
            break
        if where == "version":
            doc["version"] = _scalar(rng)
        elif where == "video":
            doc["video"] = _value(rng)
        elif where == "video.field" and isinstance(doc.get("video"), dict):
            doc["video"][rng.choice(list(video) + ["zzz"])] = _number(rng) if rng.random() < .5 else _value(rng)
        elif where == "objects":
            doc["objects"] = _value(rng)
        elif where == "object" and isinstance(doc.get("objects"), list):
            doc["objects"].append(_value(rng))
        elif where == "object.field" and isinstance(doc.get("objects"), list) and doc["objects"] \
                and isinstance(doc["objects"][0], dict):
            doc["objects"][0][rng.choice(["id", "label", "color"])] = _value(rng)
        elif where == "prompts":
            doc["prompts"] = _value(rng)
        elif where == "prompt" and isinstance(doc.get("prompts"), list):
            doc["prompts"].append(_value(rng))
        elif where in ("prompt.field", "box", "box.value", "points") and isinstance(doc.get("prompts"), list) \
                and doc["prompts"] and isinstance(doc["prompts"][0], dict):
            p = doc["prompts"][0]
            if where == "prompt.field":
                p[rng.choice(["frame", "obj_id", "box", "points", "point_labels", "pts"])] = _value(rng)
            elif where == "box":
                p["box"] = [_number(rng) for _ in range(rng.randint(0, 6))]
            elif where == "box.value" and isinstance(p.get("box"), list) and p["box"]:
                p["box"][rng.randrange(len(p["box"]))] = _number(rng)
            else:
                p["points"] = [[_number(rng) for _ in range(rng.randint(0, 3))] for _ in range(rng.randint(0, 3))]
    return doc


def _labelme_doc(rng: random.Random, info):
    shape = {"label": "ball", "points": [[10, 10], [40, 40]], "group_id": None, "shape_type": "rectangle",
             "flags": {}}
    doc = {"version": "5.5.0", "flags": {}, "shapes": [shape, {"label": "ball", "points": [[5, 5]],
                                                               "shape_type": "point"}],
           "imagePath": "00003.jpg", "imageData": None, "imageHeight": info.height, "imageWidth": info.width}
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        where = rng.choice(["top", "shapes", "shape", "shape.field", "points", "size", "deep", "imagePath"])
        if where == "top":
            doc = _value(rng)
            break
        if where == "deep":
            doc = Raw('{"shapes": [%s], "imageWidth": %s}' % (_deep(rng.choice([50, 800, 5000, 100000])),
                                                             _deep(rng.choice([2, 3000]))))
            break
        if where == "shapes":
            doc["shapes"] = _value(rng)
        elif where == "shape" and isinstance(doc.get("shapes"), list):
            doc["shapes"].append(_value(rng))
        elif where == "shape.field" and isinstance(doc.get("shapes"), list):
            shape[rng.choice(["label", "points", "group_id", "shape_type", "flags"])] = _value(rng)
        elif where == "points":
            shape["points"] = [[_number(rng) for _ in range(rng.randint(0, 3))] for _ in range(rng.randint(0, 4))]
        elif where == "size":
            doc[rng.choice(["imageWidth", "imageHeight"])] = _number(rng) if rng.random() < .5 else _scalar(rng)
        elif where == "imagePath":
            doc["imagePath"] = _value(rng)
    return doc


def _check_outcome(load, what: str):
    """A clean load whose every prompt is usable, or one VidmaskError: never another exception."""
    try:
        source = load()
    except VidmaskError as exc:
        text = str(exc)
        assert text.strip(), what
        first = text.splitlines()[0]
        # one line, or the fail-closed listing of unusable prompts (one per line, then what to do)
        assert len(text.splitlines()) == 1 or "cannot be used" in first or "could be used" in first, (what, text)
        return "error"
    prompts = source.prompts
    prompts.validate()  # what loaded is usable: finite boxes inside the frame, known objects
    for p in prompts.prompts:
        assert p.box is None or (len(p.box) == 4 and all(math.isfinite(v) for v in p.box)), (what, p)
    json.dumps(prompts.to_json(), allow_nan=False)
    return "loaded"


def test_fuzzed_prompts_json_is_one_error_or_a_clean_load(sample_clip_info, tmp_path):
    rng = random.Random(SEED)
    outcomes = []
    for n in range(CASES):
        doc = _prompts_doc(rng, sample_clip_info)
        path = tmp_path / f"p{n}.json"
        text = doc if isinstance(doc, Raw) else json.dumps(doc)
        path.write_text(text, encoding="utf-8") if rng.random() < 0.95 else \
            path.write_bytes(text.encode()[: rng.randint(0, 60)])  # cut short
        outcomes.append(_check_outcome(lambda: load_prompt_source(path, sample_clip_info,
                                                                  drop_unusable=rng.random() < 0.3), str(doc)[:300]))
    # the fuzz reaches both ends: files that load and files that are refused
    assert outcomes.count("loaded") >= 10 and outcomes.count("error") >= 100, outcomes.count("loaded")


def test_fuzzed_labelme_files_are_one_error_or_a_clean_load(sample_clip_info, tmp_path):
    rng = random.Random(SEED + 1)
    outcomes = []
    for n in range(CASES):
        folder = tmp_path / f"lm{n}"
        folder.mkdir()
        for frame in range(rng.randint(1, 2)):
            doc = _labelme_doc(rng, sample_clip_info)
            (folder / f"{frame + 3:05d}.json").write_text(doc if isinstance(doc, Raw) else json.dumps(doc),
                                                          encoding="utf-8")
        outcomes.append(_check_outcome(lambda: load_prompt_source(folder, sample_clip_info,
                                                                  drop_unusable=rng.random() < 0.5,
                                                                  required=rng.random() < 0.5), str(n)))
    assert outcomes.count("loaded") >= 10 and outcomes.count("error") >= 50, outcomes.count("loaded")


@pytest.mark.parametrize("doc, said", [
    ({"version": 1, "video": {}, "prompts": []}, "must give width"),
    ([], "top level is []" if False else "not a prompt file"),
    (None, "not a prompt file"),
    ({"version": 1, "video": {"width": 160, "height": 120, "frame_count": 48}, "prompts": "x"}, '"prompts" must be a list'),
])
def test_named_prompt_file_shapes_are_one_line(doc, said, sample_clip_info, tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(VidmaskError, match=said) as err:
        load_prompt_source(path, sample_clip_info)
    assert len(str(err.value).splitlines()) == 1
