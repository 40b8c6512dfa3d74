"""The masks store: streaming reads equal the whole-file JSON, random access, the index beside
masks.json (used when fresh, rebuilt when missing or stale), one-line errors, O(1) memory."""
from __future__ import annotations

import json
import os
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from vidmask_nb.track import masks as masks_mod
from vidmask_nb.errors import VidmaskError
from vidmask_nb.track.masks import FrameMasks, MaskStore, ObjectMask, encode_rle, index_path, write_masks_json
from vidmask_nb.runfolder.folder import atomic_output

W, H = 64, 48
OBJECTS = [{"id": 1, "label": "face", "color": [230, 25, 75]}, {"id": 2, "label": "plate", "color": [60, 180, 75]}]


def _rles(count: int = 16) -> list[dict]:
    out = []
    for k in range(count):
        m = np.zeros((H, W), bool)
        m[k:k + 10 + k, 2 * k:2 * k + 12] = True
        out.append(encode_rle(m))
    return out


RLES = _rles()


def synthetic_frames(n: int, seed: int = 0):
    """Frames with varied (precomputed) RLE, scores and one empty mask now and then: no video needed."""
    rng = np.random.default_rng(seed)
    empty = encode_rle(np.zeros((H, W), bool))
    for i in range(n):
        r = int(rng.integers(len(RLES)))
        yield FrameMasks(i, i * 1001, (ObjectMask(1, "face", round(float(rng.random()), 4), RLES[r]),
                                       ObjectMask(2, "plate", 0.5, empty if i % 7 == 3 else RLES[-1 - r])))


def video_ref(n: int) -> dict:
    return {"width": W, "height": H, "frame_count": n, "fps": "30000/1001", "fingerprint": ""}


def write(path: Path, n: int, seed: int = 0, key: str = "test") -> Path:
    with atomic_output(path) as tmp:  # the way propagate writes it
        write_masks_json(tmp, video_ref(n), OBJECTS, synthetic_frames(n, seed), key=key)
    return path


def count_scans(monkeypatch) -> list[int]:
    calls = []
    real = masks_mod._scan

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(masks_mod, "_scan", counting)
    return calls


def test_streaming_equals_whole_file_json_and_random_access(tmp_path):
    path = write(tmp_path / "masks.json", 120)
    whole = json.loads(path.read_text())  # the documented export is still one JSON document
    old = [FrameMasks.from_json(f) for f in whole["frames"]]
    with MaskStore.load(path) as store:
        assert len(store) == 120 and store.header["key"] == "test" and store.objects == OBJECTS
        assert store.size == (W, H) and store.header["video"] == video_ref(120)
        assert not store.in_memory and store._frames is None and store.frames[4] == old[4]
        assert list(store) == old
        for i in (0, 77, 3, 119, -1):
            assert store[i] == old[i]
        assert store[5:8] == old[5:8]
        with pytest.raises(IndexError):
            store[120]
        areas, scores = store.areas()
        assert areas.shape == (120, 2) and scores.dtype == np.float32
        assert areas[:, 0].tolist() == [o.objects[0].area for o in old]
        assert np.allclose(scores[:, 0], [o.objects[0].score for o in old])
        assert areas[3, 1] == 0  # the empty mask
        memory = MaskStore.from_frames(video_ref(120), OBJECTS, old, key="test")
        assert all(np.array_equal(a, b) for a, b in zip(memory.areas(), (areas, scores)))
    with pytest.raises(VidmaskError, match="closed"):
        store[0]


def test_one_frame_per_line_layout(tmp_path):
    lines = write(tmp_path / "masks.json", 5).read_text().splitlines()
    assert len(lines) == 1 + 5 + 1 and lines[0].endswith('"frames": [') and lines[-1] == "]}"
    assert json.loads(lines[1])["frame"] == 0 and json.loads(lines[2].lstrip(","))["frame"] == 1


def test_index_written_with_masks_used_when_fresh_rebuilt_when_missing_or_stale(tmp_path, monkeypatch):
    path = write(tmp_path / "masks.json", 40)
    assert index_path(path).is_file() and not list(tmp_path.glob(".*partial*")), "no temporary file left"
    scans = count_scans(monkeypatch)
    MaskStore.load(path).close()
    assert scans == [], "a fresh index is used as is"

    index_path(path).unlink()
    with MaskStore.load(path) as store:
        assert scans == [1] and len(store) == 40 and index_path(path).is_file()
    MaskStore.load(path).close()
    assert scans == [1], "the rebuilt index was saved"

    # another tool rewrites masks.json (other frames, same count): the old index must not serve it
    stale = index_path(path).read_bytes()
    other = write(tmp_path / "other.json", 40, seed=7)
    os.replace(other, path)
    index_path(path).write_bytes(stale)
    with MaskStore.load(path) as store:
        assert scans == [1, 1]
        assert list(store) == list(synthetic_frames(40, seed=7))

    # same size, mtime put back, the last frame edited: the digest of the tail still tells
    st = path.stat()
    text = path.read_text()
    cut = text.rindex('"score": ') + len('"score": ')
    edited = text[:cut] + ("1" if text[cut] != "1" else "0") + text[cut + 1:]
    path.write_text(edited)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    with MaskStore.load(path) as store:
        assert len(scans) == 3 and store.areas()[1][-1, -1] == json.loads(edited.splitlines()[-2].lstrip(","))[
            "objects"][-1]["score"]

    # a damaged index is rebuilt too
    index_path(path).write_bytes(b"not an index")
    with MaskStore.load(path) as store:
        assert len(scans) == 4 and store[39].objects[1].score == 1.5 and store[38] == list(synthetic_frames(40, seed=7))[38]


def test_save_writes_both_atomically_and_in_memory_roundtrip(tmp_path):
    frames = list(synthetic_frames(30))
    out = MaskStore.from_frames(video_ref(30), OBJECTS, frames, key="k").save(tmp_path / "m.json")
    assert index_path(out).is_file()
    with MaskStore.load(out) as store:
        assert list(store) == frames
        store.save(tmp_path / "copy.json")  # a loaded store saves by streaming itself
    assert (tmp_path / "copy.json").read_bytes() == out.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.json", "copy.json.idx", "m.json", "m.json.idx"]


def test_failed_write_leaves_the_previous_masks_and_a_usable_index(tmp_path):
    path = write(tmp_path / "masks.json", 20)

    def broken():
        yield from synthetic_frames(5, seed=3)
        raise RuntimeError("tracker died")

    with pytest.raises(RuntimeError):
        with atomic_output(path) as tmp:
            write_masks_json(tmp, video_ref(20), OBJECTS, broken())
    with MaskStore.load(path) as store:  # the old masks, served correctly
        assert list(store) == list(synthetic_frames(20))


@pytest.mark.parametrize("damage,words", [
    (lambda t: t[:len(t) * 2 // 3], "truncated"),
    (lambda t: t.replace('"frames": [\n', '"frames": [\n{not json}\n,', 1), "line 2 is not a frame"),
    (lambda t: t.replace('"version": 1', '"version": 9', 1), "masks version 9"),
    (lambda t: "", "empty"),
    (lambda t: json.dumps(json.loads(t)), "not a vidmask-nb masks file"),
])
def test_damaged_files_give_one_line(tmp_path, damage, words):
    path = write(tmp_path / "masks.json", 12)
    text = path.read_text()
    index_path(path).unlink()
    path.write_text(damage(text))
    with pytest.raises(VidmaskError, match=words) as err:
        MaskStore.load(path)
    assert "\n" not in str(err.value)
    with pytest.raises(VidmaskError, match="no masks at"):
        MaskStore.load(tmp_path / "nowhere.json")


def test_pickles_as_its_path(tmp_path):
    import pickle

    path = write(tmp_path / "masks.json", 10)
    with MaskStore.load(path) as store, pickle.loads(pickle.dumps(store)) as again:
        assert again.path == path and list(again) == list(store)
    memory = MaskStore.from_frames(video_ref(3), OBJECTS, list(synthetic_frames(3)))
    assert list(pickle.loads(pickle.dumps(memory))) == list(memory)


def test_reads_from_many_threads(tmp_path):
    path = write(tmp_path / "masks.json", 200)
    expected = list(synthetic_frames(200))
    errors = []
    with MaskStore.load(path) as store:
        def worker(seed):
            rng = np.random.default_rng(seed)
            for i in rng.integers(0, 200, 150):
                if store[int(i)] != expected[int(i)]:
                    errors.append(int(i))

        threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def _open_under(root) -> list[str]:
    """The files under ``root`` this process holds open (none where /proc is absent)."""
    if not os.path.isdir("/proc/self/fd"):
        return []
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(root)):
            out.append(target)
    return out


def test_memory_while_reading_does_not_grow_with_length(tmp_path):
    """Reading every frame holds O(1) frames: the peak for 8N frames is that of N (plus the index)."""
    peaks = {}
    for n in (400, 3200):
        path = write(tmp_path / f"masks_{n}.json", n)
        tracemalloc.start()
        with MaskStore.load(path) as store:
            loaded, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            count = sum(1 for _ in store)
            store[n // 2]
            _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == n
        peaks[n] = (loaded, peak - loaded)
    # iterating: a frame at a time (a few KB), not the whole file
    assert peaks[3200][1] < 64 * 1024 and peaks[3200][1] < 2 * peaks[400][1] + 16 * 1024, peaks
    # what stays loaded is the index: tens of bytes per frame, far less than the file
    assert peaks[3200][0] < 64 * 3200 + 64 * 1024, peaks
    assert peaks[3200][0] < (tmp_path / "masks_3200.json").stat().st_size / 4
    assert _open_under(tmp_path) == [], "every file opened was closed"


def test_header_reads_back_as_typed_records(tmp_path):
    from vidmask_nb.prompts.records import TrackedObject, VideoRef

    path = tmp_path / "masks.json"
    objects = [TrackedObject(1, "face", (230, 25, 75)), TrackedObject(2, "plate", (60, 180, 75))]
    with atomic_output(path) as tmp:
        write_masks_json(tmp, VideoRef(width=W, height=H, frame_count=5, fps="30"), objects, synthetic_frames(5),
                         key="sam2.1-tiny/RANDOM-WEIGHTS/128px/cpu/0", weights="trained")
    with MaskStore.load(path) as store:
        assert store.object_infos == tuple(objects) and store.objects == OBJECTS  # records; raw entries kept
        assert store.video == VideoRef(width=W, height=H, frame_count=5, fps="30")
        assert store.weights == "trained" and not store.is_random  # the field, not a search in the key
    old = MaskStore.from_frames(video_ref(3), [{"id": 4}], [], key="sam2.1-tiny/RANDOM-WEIGHTS/128px/cpu/0")
    assert old.is_random and old.object_infos[0].label == "" and old.object_infos[0].color  # an older file
    with pytest.raises(ValueError, match="weights must be"):
        MaskStore.from_frames(video_ref(3), OBJECTS, [], weights="RANDOM-WEIGHTS")
