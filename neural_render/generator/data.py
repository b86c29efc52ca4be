"""Paired dataset reader: ground-truth frames + guidance passes in the folder layout below.

    DIR/frames/000001.png        RGB ground truth (absent for inference-only pass folders)
    DIR/<pass>/000001.png        skeleton, parts, normal, depth, mask, uv (encodings: passes.spec)
    DIR/person_mask/000001.png   optional 0/255 person with garments and hair (`actor render` v2):
                                 then the foreground `fg` (crops, plate, metrics) is it, else `mask`
    DIR/legend.json              written by the passes renderer (read for sizes / cameras)
    DIR/split.json               optional {"train": [frame numbers], "test": [...]}, time-contiguous
    DIR/skeleton/keypoints.npz   optional projected BODY_25 keypoints + visibility (face/hand crops)
    DIR/background.png           optional static plate

Frame numbers are the integer file stems (000001.png -> 1). Everything is decoded once into
memory at the requested size (labels and UV resized nearest, images area-averaged), then served as
torch tensors (see `PairedDataset.item`). Tensor conventions (C, H, W), float32 unless stated:
  target/background/prev  RGB in [-1, 1]        skeleton  [0, 1]
  parts                   int64 (H, W) 0..24    normal    [-1, 1], 0 on background
  depth                   [0, 1] (1 = nearest)  mask/fg   {0, 1}
  uv                      (2, H, W) u, v in [0, 1]
  boxes                   int64 (3, 2) top-left (x0, y0) of face, left-hand, right-hand crops
  box_valid               bool (3,)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.errors import InputError

PASS_DIRS = ("skeleton", "parts", "normal", "depth", "mask", "uv")
# SMPL part labels (joint index + 1) used to locate crops when no keypoints file exists.
HEAD_LABEL, LHAND_LABELS, RHAND_LABELS = 16, (23, 21), (24, 22)
# BODY_25 indices
_FACE_KP = (0, 15, 16, 17, 18)
_R_WRIST, _R_ELBOW, _L_WRIST, _L_ELBOW = 4, 3, 7, 6


def _imread(path: Path, mode: str) -> np.ndarray:
    """`fileio.read_image` (mode "rgb" / "unchanged" / "gray") with this reader's fix in the error."""
    from neural_render.fileio import read_image

    try:
        return read_image(path, mode)
    except InputError:
        raise InputError("cannot read image", path=str(path), fix="re-render the pass folder") from None


def _resize(img: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    import cv2

    if img.shape[:2] == (size[1], size[0]):
        return img
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    out = cv2.resize(img, size, interpolation=interp)
    return out if out.ndim == img.ndim else out[..., None]


def frame_numbers(folder: Path) -> list[int]:
    return sorted(int(p.stem) for p in folder.glob("*.png") if p.stem.isdigit())


def crop_boxes_from_keypoints(kp: np.ndarray, vis: np.ndarray, height: int, width: int, side: int,
                              wholebody: tuple[np.ndarray, np.ndarray] | None = None):
    """Crop corners from projected BODY_25 keypoints (and COCO-WholeBody's finger points).

    Args:
        kp: (25, 2) pixel coordinates at the dataset's resolution. vis: (25,) > 0 where usable.
        wholebody: optional ((133, 2) pixels, (133,) visibility): a hand crop is then centred on
            the hand's own 21 points (wrist and fingers) when at least 3 are usable, instead of a
            point extrapolated past the wrist.
    Returns:
        boxes (3, 2) int (x0, y0) and valid (3,) bool for face, left hand, right hand.
    """
    centers, valid = [], []
    face = [i for i in _FACE_KP if vis[i] > 0]
    centers.append(kp[face].mean(0) if face else np.zeros(2))
    valid.append(bool(face))
    for s, (wrist, elbow) in enumerate(((_L_WRIST, _L_ELBOW), (_R_WRIST, _R_ELBOW))):
        if wholebody is not None:
            uv, v = wholebody
            h = slice(91 + 21 * s, 112 + 21 * s)
            ok_pts = np.flatnonzero((np.asarray(v[h]) > 0) & np.all(np.isfinite(uv[h]), 1))
            if len(ok_pts) >= 3:
                centers.append(np.asarray(uv[h], np.float64)[ok_pts].mean(0))
                valid.append(True)
                continue
        ok = vis[wrist] > 0
        c = kp[wrist] + (0.3 * (kp[wrist] - kp[elbow]) if vis[elbow] > 0 else 0)
        centers.append(c if ok else np.zeros(2))
        valid.append(bool(ok))
    return _corners(np.asarray(centers), height, width, side), np.asarray(valid)


def crop_boxes_from_parts(parts: np.ndarray, side: int):
    """Crop corners from the parts label image (centroid of head / hand pixels)."""
    h, w = parts.shape
    centers, valid = [], []
    for labels in ((HEAD_LABEL,), LHAND_LABELS, RHAND_LABELS):
        c, ok = np.zeros(2), False
        for lab in labels:
            ys, xs = np.nonzero(parts == lab)
            if len(xs):
                c, ok = np.array([xs.mean(), ys.mean()]), True
                break
        centers.append(c)
        valid.append(ok)
    return _corners(np.asarray(centers), h, w, side), np.asarray(valid)


def _corners(centers: np.ndarray, h: int, w: int, side: int) -> np.ndarray:
    x0 = np.clip(np.round(centers[:, 0] - side / 2), 0, w - side)
    y0 = np.clip(np.round(centers[:, 1] - side / 2), 0, h - side)
    return np.stack([x0, y0], 1).astype(np.int64)


def _split_numbers(path: Path, split: str) -> set[int]:
    """Frame numbers of `split` in a split.json ({"train": [1, 2, ...], "test": [...]})."""
    from neural_render.fileio import read_json

    data = read_json(path)
    nums = data.get(split) if isinstance(data, dict) else None
    if not isinstance(nums, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in nums):
        raise InputError(f"no list of frame numbers named '{split}'", path=path,
                         fix="split.json maps split names to lists of frame numbers")
    return set(nums)


def _load_keypoints(root: Path) -> tuple[dict, dict] | None:
    """{frame number: (25, 2) px} and {frame number: (25,) visibility} at native resolution, plus
    {frame number: ((133, 2) px, (133,) visibility)} when the file has COCO-WholeBody points; or None."""
    path = root / "skeleton" / "keypoints.npz"
    if not path.is_file():
        return None
    try:
        from neural_render.fileio import load_npz

        z = load_npz(path)  # declared sizes checked before inflating
    except Exception:
        return None
    keys = set(z)
    # passes.writer.PassWriter: uv (T, P, 25, 2) pixels, visibility (T, P, 25) COCO flags, frames = motion
    # frame indices (file number - 1)
    kp_key = next((k for k in ("uv", "body25", "keypoints", "xy") if k in keys), None)
    if kp_key is None:
        return None
    kp = np.asarray(z[kp_key], np.float64)
    if kp.ndim == 4:          # (T, P, 25, D): first person
        kp = kp[:, 0]
    if kp.ndim != 3 or kp.shape[1] != 25:
        return None
    vis_key = next((k for k in ("visibility", "vis") if k in keys), None)
    vis = np.asarray(z[vis_key]) if vis_key else np.full(kp.shape[:2], 2)
    if vis.ndim == 3:
        vis = vis[:, 0]
    if vis.shape != kp.shape[:2]:
        vis = np.full(kp.shape[:2], 2)
    # visibility 0 = outside the image; occluded (1) keypoints still locate the crop
    vis = np.where(np.isfinite(kp).all(-1), vis, 0)
    kp = np.nan_to_num(kp)
    fkey = next((k for k in ("frames", "frame_numbers", "frame_index") if k in keys), None)
    nums = np.asarray(z[fkey]).astype(int) if fkey else np.arange(1, len(kp) + 1)
    if fkey in ("frames", "frame_index"):
        nums = nums + 1
    if len(nums) != len(kp):
        return None
    out = ({int(n): kp[i, :, :2] for i, n in enumerate(nums)},
           {int(n): vis[i] for i, n in enumerate(nums)})
    if "wholebody_uv" in keys and "wholebody_visibility" in keys:  # bodies with hands: 133 points
        wuv, wvis = np.asarray(z["wholebody_uv"], np.float64), np.asarray(z["wholebody_visibility"])
        if wuv.ndim == 4 and wuv.shape[0] == len(nums) and wuv.shape[2] == 133 and wvis.shape == wuv.shape[:3]:
            out = out + ({int(n): (wuv[i, 0], wvis[i, 0]) for i, n in enumerate(nums)},)
    return out


class PairedDataset:
    """All frames of one paired (or pass-only) folder, decoded in memory.

    Args:
        root: the dataset folder.
        passes: pass names to load as generator inputs (mask and uv are always loaded when present:
            they define the foreground and drive the neural texture).
        size: output height = width in pixels (None: native).
        split: None (all frames), "train" or "test" (from split.json; all frames if absent).
        require_frames: False for inference on a pass-only folder.
        crop_fraction: crop side as a fraction of the height (must match the model's config).
    """

    def __init__(self, root: str | Path, passes=("skeleton", "parts", "normal", "uv"), size: int | None = None,
                 split: str | None = None, require_frames: bool = True, crop_fraction: float = 0.125,
                 frames: list[int] | None = None):
        root = Path(root)
        if not root.is_dir():
            raise InputError("dataset folder not found", path=str(root), fix="pass a folder written by "
                             "`neural-render actor render`, `prepare` or `passes`")
        self.root = root
        self.passes = list(passes)
        self.has_frames = (root / "frames").is_dir() and bool(frame_numbers(root / "frames"))
        if require_frames and not self.has_frames:
            raise InputError("no ground-truth frames", path=str(root / "frames"),
                             fix="train/eval need DIR/frames/000001.png ...; render with `neural-render actor render`")
        load = set(self.passes) | {p for p in ("mask", "uv", "parts") if (root / p).is_dir()}
        missing = [p for p in self.passes if not (root / p).is_dir()]
        if missing:
            raise InputError(f"pass folder(s) {missing} missing", path=str(root),
                             fix="render those passes, or choose other passes (--passes)")
        ref = root / ("frames" if self.has_frames else next(p for p in PASS_DIRS if p in load))
        nums = frame_numbers(ref)
        if frames is not None:
            nums = [n for n in nums if n in set(frames)]
        elif split is not None and (root / "split.json").is_file():
            sel = _split_numbers(root / "split.json", split)
            nums = [n for n in nums if n in sel]
        if not nums:
            raise InputError("no frames to load", path=str(ref), fix="check the folder and split.json")
        self.numbers = nums
        first = _imread(ref / f"{nums[0]:06d}.png", "unchanged")
        self.native_hw = first.shape[:2]
        h = size or self.native_hw[0]
        w = int(round(self.native_hw[1] * h / self.native_hw[0]))
        self.hw = (h, w)
        self.crop_side = max(8, int(round(h * crop_fraction / 2)) * 2)
        self.arrays: dict[str, np.ndarray] = {}
        self._decode(load)
        bg = root / "background.png"
        self.background = _resize(_imread(bg, "rgb"), (w, h), False) if bg.is_file() else None
        self.backgrounds = None  # (N, H, W, 3) per-frame plates of a merged multi-view set
        self._boxes()

    # -- decoding ---------------------------------------------------------------------------------
    def _read_all(self, folder: str, mode: str, nearest: bool) -> np.ndarray:
        h, w = self.hw
        out = []
        for n in self.numbers:
            p = self.root / folder / f"{n:06d}.png"
            if not p.is_file():
                raise InputError("frame missing", path=str(p), fix="every pass folder needs the same frame numbers")
            img = _resize(_imread(p, mode), (w, h), nearest)
            out.append(img)
        return np.stack(out)

    def _decode(self, load: set[str]) -> None:
        if self.has_frames:
            self.arrays["frames"] = self._read_all("frames", "rgb", False)
        if "skeleton" in load:
            self.arrays["skeleton"] = self._read_all("skeleton", "rgb", False)
        if "parts" in load:
            parts = self._read_all("parts", "unchanged", True)
            if parts.ndim == 4:   # champ RGB profile -> labels via the palette
                parts = _rgb_parts_to_labels(parts)
            self.arrays["parts"] = parts.astype(np.uint8)
        if "normal" in load:
            self.arrays["normal"] = self._read_all("normal", "unchanged", True)
        if "depth" in load:
            self.arrays["depth"] = self._read_all("depth", "unchanged", True)
        if "mask" in load:
            m = self._read_all("mask", "gray", True)
            self.arrays["mask"] = (m > 127).astype(np.uint8)
        if "uv" in load:
            self.arrays["uv"] = self._read_all("uv", "rgb", True)
        if (self.root / "person_mask").is_dir():
            # The person as seen (garments and hair included, `actor render` v2): crops, the backdrop
            # plate and the foreground metrics cover the whole person, not only the body passes' mask.
            pm = (self._read_all("person_mask", "gray", True) > 127).astype(np.uint8)
            self.arrays["fg"] = np.maximum(pm, self.arrays["mask"]) if "mask" in self.arrays else pm
        elif "mask" in self.arrays:
            self.arrays["fg"] = self.arrays["mask"]
        elif "uv" in self.arrays:
            self.arrays["fg"] = (self.arrays["uv"][..., 0] > 0).astype(np.uint8)
        elif "parts" in self.arrays:
            self.arrays["fg"] = (self.arrays["parts"] > 0).astype(np.uint8)
        else:
            self.arrays["fg"] = np.ones((len(self.numbers),) + self.hw, np.uint8)

    def _boxes(self) -> None:
        h, w = self.hw
        side = self.crop_side
        kps = _load_keypoints(self.root)
        boxes, valid = [], []
        sx, sy = w / self.native_hw[1], h / self.native_hw[0]
        for i, n in enumerate(self.numbers):
            if kps is not None and n in kps[0]:
                kp = kps[0][n] * np.array([sx, sy])
                wb = None
                if len(kps) > 2 and n in kps[2]:
                    wb = (kps[2][n][0] * np.array([sx, sy]), kps[2][n][1])
                b, v = crop_boxes_from_keypoints(kp, np.asarray(kps[1][n]), h, w, side, wb)
            elif "parts" in self.arrays:
                b, v = crop_boxes_from_parts(self.arrays["parts"][i], side)
            else:
                b, v = np.zeros((3, 2), np.int64), np.zeros(3, bool)
            boxes.append(b)
            valid.append(v)
        self.boxes = np.stack(boxes)
        self.box_valid = np.stack(valid)

    # -- access -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.numbers)

    def prev_index(self, i: int) -> int | None:
        """Index of the previous frame (frame number - 1) or None at a sequence start / gap."""
        return i - 1 if i > 0 and self.numbers[i - 1] == self.numbers[i] - 1 else None

    def item(self, i: int) -> dict:
        """Tensors of frame i (no batch dimension); see the module docstring."""
        import torch

        a = self.arrays
        d = {"fg": torch.from_numpy(a["fg"][i][None].astype(np.float32)),
             "boxes": torch.from_numpy(self.boxes[i]), "box_valid": torch.from_numpy(self.box_valid[i])}
        if "frames" in a:
            d["target"] = torch.from_numpy(a["frames"][i].astype(np.float32) / 127.5 - 1).permute(2, 0, 1)
        if "skeleton" in a:
            d["skeleton"] = torch.from_numpy(a["skeleton"][i].astype(np.float32) / 255).permute(2, 0, 1)
        if "parts" in a:
            d["parts"] = torch.from_numpy(a["parts"][i].astype(np.int64))
        if "normal" in a:
            n = a["normal"][i]
            scale = 65535.0 if n.dtype == np.uint16 else 255.0
            nt = torch.from_numpy(n.astype(np.float32) / scale * 2 - 1).permute(2, 0, 1)
            d["normal"] = nt * d["fg"]
        if "depth" in a:
            dp = a["depth"][i]
            if dp.ndim == 3:
                dp = dp[..., 0]
            scale = 65535.0 if dp.dtype == np.uint16 else 255.0
            d["depth"] = torch.from_numpy(dp.astype(np.float32) / scale)[None]
        if "mask" in a:
            d["mask"] = torch.from_numpy(a["mask"][i][None].astype(np.float32))
        if "uv" in a:
            uv = a["uv"][i]
            d["uv"] = torch.from_numpy(uv[..., 1:3].astype(np.float32) / 255).permute(2, 0, 1)
        bg = self.background if self.backgrounds is None else self.backgrounds[i]
        if bg is not None:
            d["background"] = torch.from_numpy(bg.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)
        return d

    def batch(self, indices) -> dict:
        return collate([self.item(int(i)) for i in indices])

    def face_box(self, i: int):
        """(x0, y0, side) of the face crop of frame i, or None when the face is not located."""
        if not self.box_valid[i, 0]:
            return None
        return (int(self.boxes[i, 0, 0]), int(self.boxes[i, 0, 1]), self.crop_side)

    def frame_uint8(self, i: int) -> np.ndarray:
        return self.arrays["frames"][i]


# Frame numbers of view k of a merged multi-view set are offset by k * VIEW_STRIDE, so no frame of
# one view counts as the previous frame of another.
VIEW_STRIDE = 1_000_000


def view_folders(root: str | Path) -> list[Path]:
    """The per-camera folders of a multi-view paired set (`prepare` writes DIR/views/<camera>/)."""
    views = Path(root) / "views"
    return sorted(p for p in views.iterdir() if p.is_dir()) if views.is_dir() else []


def open_paired(root: str | Path, passes=("skeleton", "parts", "normal", "uv"), size: int | None = None,
                split: str | None = None, require_frames: bool = True, crop_fraction: float = 0.125,
                frames: list[int] | None = None) -> PairedDataset:
    """A paired folder, or every view of a multi-view capture merged into one dataset (views whose
    split selects no frame, e.g. a held-out camera, are left out). Same arguments as PairedDataset."""
    views = view_folders(root)
    if not views:
        return PairedDataset(root, passes, size, split, require_frames, crop_fraction, frames)
    parts = []
    for v in views:
        try:
            parts.append(PairedDataset(v, passes, size, split, require_frames, crop_fraction, frames))
        except InputError as e:
            if "no frames to load" not in str(e):
                raise
    if not parts:
        raise InputError(f"no view of the multi-view set has frames in split '{split}'", path=str(root))
    return merge_views(parts, Path(root))


def merge_views(parts: list[PairedDataset], root: Path) -> PairedDataset:
    """One PairedDataset holding the frames of several same-size views, view after view."""
    if len({p.hw for p in parts}) != 1:
        raise InputError(f"views differ in size {[p.hw for p in parts]}", path=str(root),
                         fix="prepare every view with the same --size")
    m = object.__new__(PairedDataset)
    m.__dict__.update(parts[0].__dict__)
    m.root = root
    m.numbers = [k * VIEW_STRIDE + n for k, p in enumerate(parts) for n in p.numbers]
    keys = set.intersection(*(set(p.arrays) for p in parts))
    m.arrays = {key: np.concatenate([p.arrays[key] for p in parts]) for key in keys}
    m.boxes = np.concatenate([p.boxes for p in parts])
    m.box_valid = np.concatenate([p.box_valid for p in parts])
    m.has_frames = all(p.has_frames for p in parts)
    if all(p.background is not None for p in parts):
        m.background = None
        m.backgrounds = np.concatenate([np.repeat(p.background[None], len(p), 0) for p in parts])
    return m


def collate(items: list[dict]) -> dict:
    import torch

    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def _rgb_parts_to_labels(rgb: np.ndarray) -> np.ndarray:
    from neural_render.passes.spec import parts_colors

    table = parts_colors("champ").astype(np.int32)
    flat = rgb.reshape(-1, 3).astype(np.int32)
    d = ((flat[:, None, :] - table[None]) ** 2).sum(-1)
    return d.argmin(1).astype(np.uint8).reshape(rgb.shape[:-1])


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
