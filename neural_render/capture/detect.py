"""The built-in person detector: MediaPipe 0.10.14's bundled pose, segmentation and hand models.

Python API (other code calls this; mediapipe is imported lazily, on first use):

    from neural_render.capture.detect import detect_image, iter_detections
    det = detect_image(rgb)                  # Detection | None for one (H, W, 3) uint8 RGB image
    for i, det in iter_detections("clip.mp4"):   # one subject tracked through a video / frames
        ...                                  # det is None where the subject is lost (never invented)

A `Detection` holds one person: 33 MediaPipe landmarks in source pixels (+ visibility), the same 33
as metric world coordinates (origin between the hips), the person mask and the hands' 21 landmarks
where MediaPipe found a hand at that person's wrist. `Detection.coco17` gives the COCO-17 subset.

Why a private install folder: mediapipe 0.10.14 is the last release whose wheel carries its .tflite
models, and its generated protobuf code needs protobuf < 5, while the rest of the environment
(ray's dashboard stack) needs protobuf >= 6. scripts/setup.sh therefore installs mediapipe and
protobuf 4 (no other dependency: OpenCV, absl-py, attrs, flatbuffers and matplotlib come from the
main environment, so exactly one cv2 is present) into `<venv>/mediapipe`, and this module puts that
folder first on sys.path when it loads the detector. A process that already imported protobuf >= 5
cannot load it; `neural-render detect` (its own process) always can.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from neural_render.errors import InputError

MEDIAPIPE_VERSION = "0.10.14"
ENV_DIR = "NEURAL_RENDER_MEDIAPIPE"  # overrides the private install folder

# MediaPipe Pose landmark index of each COCO-17 keypoint (COCO order: nose, eyes, ears, shoulders,
# elbows, wrists, hips, knees, ankles; left before right).
COCO17_FROM_MP33: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
MP_LEFT_WRIST, MP_RIGHT_WRIST = 15, 16


# protobuf 4 warns on every result MediaPipe reads back; the call is what 0.10.14 does, not ours.
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")


class DetectorUnavailable(InputError):
    """mediapipe cannot be loaded (not installed, or this process holds a newer protobuf)."""


@dataclass
class Detection:
    """One person in one image.

    landmarks: (33, 4) x px, y px, z (MediaPipe's relative depth, in the x pixel scale; smaller =
               nearer the camera, origin at the hips), visibility 0..1. MediaPipe landmark order.
    world:     (33, 4) x, y, z metres (x right, y down, z away from the camera, origin between the
               hips), visibility 0..1.
    mask:      (H, W) float32 person probability 0..1, or None when segmentation was off.
    hands:     "left" / "right" (the person's own sides) -> (21, 3) x px, y px, z (relative depth),
               MediaPipe hand-landmark order; only hands found at this person's wrists.
    image_size: (width, height) of the source image in pixels.
    """

    landmarks: np.ndarray
    world: np.ndarray
    image_size: tuple[int, int]
    mask: np.ndarray | None = None
    hands: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def coco17(self) -> np.ndarray:
        """(17, 3) x px, y px, visibility in COCO keypoint order."""
        return self.landmarks[list(COCO17_FROM_MP33)][:, [0, 1, 3]].copy()

    @property
    def score(self) -> float:
        """Mean visibility of the COCO-17 keypoints (0..1)."""
        return float(self.landmarks[list(COCO17_FROM_MP33), 3].mean())

    def bbox(self, min_visibility: float = 0.3) -> np.ndarray:
        """(4,) x0, y0, x1, y1 px around the landmarks (all of them when few are visible)."""
        ok = self.landmarks[:, 3] >= min_visibility
        xy = self.landmarks[ok if ok.sum() >= 4 else slice(None), :2]
        return np.concatenate([xy.min(0), xy.max(0)])


# ------------------------------------------------------------------------------ loading mediapipe

def mediapipe_dir() -> Path:
    """The private folder mediapipe 0.10.14 + protobuf 4 are installed into (scripts/setup.sh)."""
    return Path(os.environ.get(ENV_DIR) or Path(sys.prefix) / "mediapipe")


def _import_mediapipe():
    """Import mediapipe from the private folder (or the environment), or raise DetectorUnavailable."""
    if "mediapipe" in sys.modules:
        return sys.modules["mediapipe"]
    fix = "run `bash scripts/setup.sh`, which installs mediapipe 0.10.14 into .venv/mediapipe"
    private = mediapipe_dir()
    if (private / "mediapipe").is_dir():
        pb = sys.modules.get("google.protobuf")
        if pb is not None and not getattr(pb, "__file__", "").startswith(str(private)):
            raise DetectorUnavailable(
                f"this process already loaded protobuf {getattr(pb, '__version__', '?')}, which mediapipe "
                f"{MEDIAPIPE_VERSION} cannot use", fix="run the detector in its own process: `neural-render detect`")
        if str(private) not in sys.path:
            sys.path.insert(0, str(private))
    os.environ.setdefault("GLOG_minloglevel", "2")   # MediaPipe's C++ start-up chatter
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mediapipe as mp  # noqa: F401
    except ImportError as e:
        raise DetectorUnavailable(f"the pose detector cannot be loaded ({e})", fix=fix) from None
    if getattr(mp, "__version__", "") != MEDIAPIPE_VERSION:
        raise DetectorUnavailable(f"mediapipe {mp.__version__} found; the detector needs {MEDIAPIPE_VERSION} "
                                  "(later releases ship no models)", fix=fix)
    return mp


def detector_available() -> bool:
    """True when the detector can be loaded in this process."""
    try:
        _import_mediapipe()
        return True
    except DetectorUnavailable:
        return False


# ---------------------------------------------------------------------------------- the detector

class PoseDetector:
    """MediaPipe Pose (full model, bundled) + segmentation + hands, for one image or a frame stream.

    video=True keeps MediaPipe's landmark tracking between calls (frames must be consecutive);
    video=False treats every call as an unrelated photo. Use as a context manager or call close().
    """

    def __init__(self, video: bool = True, segmentation: bool = True, hands: bool = True,
                 min_confidence: float = 0.5):
        mp = _import_mediapipe()
        with warnings.catch_warnings(), _quiet_native_stderr():
            warnings.simplefilter("ignore")
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=not video, model_complexity=1,  # 1 = the "full" model the wheel carries
                smooth_landmarks=video, enable_segmentation=segmentation, smooth_segmentation=video,
                min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence)
            self._hands = mp.solutions.hands.Hands(
                static_image_mode=not video, max_num_hands=2, model_complexity=1,
                min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence) if hands else None
        self._started: set[int] = set()  # graphs that ran once (their first run prints C++ start-up warnings)
        self._static = None  # a photo-mode Pose for re-finding the subject in a crop (made on demand)
        self.segmentation = segmentation
        self._mp = mp

    def __enter__(self) -> "PoseDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for s in (self._pose, self._hands, self._static):
            if s is not None:
                s.close()
        self._pose = self._hands = self._static = None

    def __call__(self, rgb: np.ndarray) -> Detection | None:
        """The person MediaPipe finds in `rgb` ((H, W, 3) uint8 RGB), or None."""
        rgb = _check_rgb(rgb)
        det = self._run_pose(self._pose, rgb)
        if det is not None and self._hands is not None:
            det.hands = self._find_hands(rgb, det)
        return det

    def in_box(self, rgb: np.ndarray, box: Sequence[float]) -> Detection | None:
        """The person inside `box` (x0, y0, x1, y1 px, grown 25 % and squared), found as in a photo.

        Used to keep following one subject when MediaPipe's own tracker jumps to someone else.
        """
        rgb = _check_rgb(rgb)
        H, W = rgb.shape[:2]
        x0, y0, x1, y1 = (float(v) for v in box)
        side = max(x1 - x0, y1 - y0) * 1.25
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        a0, b0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        a1, b1 = int(min(W, cx + side / 2)), int(min(H, cy + side / 2))
        if a1 - a0 < 16 or b1 - b0 < 16:
            return None
        if self._static is None:
            self._static = self._new_static()
        det = self._run_pose(self._static, np.ascontiguousarray(rgb[b0:b1, a0:a1]))
        if det is None:
            return None
        det.landmarks[:, 0] += a0
        det.landmarks[:, 1] += b0
        det.image_size = (W, H)
        if det.mask is not None:
            full = np.zeros((H, W), np.float32)
            full[b0:b1, a0:a1] = det.mask
            det.mask = full
        if self._hands is not None:
            det.hands = self._find_hands(rgb, det)
        return det

    def find_people(self, rgb: np.ndarray, max_people: int = 4) -> list[tuple[Detection, np.ndarray]]:
        """Everyone MediaPipe finds in one image, as (Detection, the image with everyone else
        painted out) pairs, most confident first.

        MediaPipe's pose model returns one person per image, the one its detector is surest of,
        which need not be the subject. So: detect, paint that person out (its mask and landmark
        box, grown, in the image's median colour), detect again, up to `max_people` times.
        """
        import cv2

        rgb = _check_rgb(rgb)
        H, W = rgb.shape[:2]
        if self._static is None:
            self._static = self._new_static()
        fill = np.median(rgb.reshape(-1, 3), 0).astype(np.uint8)
        found, regions = [], []
        work = rgb.copy()
        for _ in range(max_people):
            d = self._run_pose(self._static, work)
            if d is None or any(_iou(d.bbox(), f.bbox()) > 0.3 for f in found):
                break
            region = _person_region(d, W, H)
            found.append(d)
            regions.append(region)
            work[region] = fill
        out = []
        for i, d in enumerate(found):
            others = np.zeros((H, W), bool)
            for j, r in enumerate(regions):
                if j != i:
                    others |= r
            alone = rgb.copy()
            alone[others & ~cv2.dilate(regions[i].astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)] = fill
            out.append((d, alone))
        return out

    def subject(self, rgb: np.ndarray) -> Detection | None:
        """The subject of one image: of everyone found (find_people), the most prominent (largest
        and most central, see `prominence`), detected again with the others painted out."""
        rgb = _check_rgb(rgb)
        people = self.find_people(rgb)
        if not people:
            return None
        H, W = rgb.shape[:2]
        d, alone = max(people, key=lambda p: prominence(p[0].bbox(), W, H))
        if len(people) > 1:  # landmarks and mask of the subject alone (the first pass saw the others too)
            again = self._run_pose(self._pose, alone)
            d = again if again is not None and _iou(again.bbox(), d.bbox()) > 0.3 else d
        if self._hands is not None:
            d.hands = self._find_hands(rgb, d)
        return d

    def _new_static(self):
        with warnings.catch_warnings(), _quiet_native_stderr():
            warnings.simplefilter("ignore")
            return self._mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                                enable_segmentation=self.segmentation)

    def _process(self, graph, rgb: np.ndarray):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
            if id(graph) in self._started:
                return graph.process(rgb)
            self._started.add(id(graph))
            with _quiet_native_stderr():
                return graph.process(rgb)

    def _run_pose(self, pose, rgb: np.ndarray) -> Detection | None:
        H, W = rgb.shape[:2]
        res = self._process(pose, rgb)
        if res.pose_landmarks is None:
            return None
        lm = np.array([[p.x * W, p.y * H, p.z * W, p.visibility] for p in res.pose_landmarks.landmark], np.float64)
        wl = np.array([[p.x, p.y, p.z, p.visibility] for p in res.pose_world_landmarks.landmark], np.float64)
        mask = None
        if getattr(res, "segmentation_mask", None) is not None:
            mask = np.asarray(res.segmentation_mask, np.float32).copy()
        return Detection(lm, wl, (W, H), mask)

    def _find_hands(self, rgb: np.ndarray, det: Detection) -> dict[str, np.ndarray]:
        """Hands whose wrist lies near this person's pose wrist (within 40 % of the forearm length)."""
        H, W = rgb.shape[:2]
        res = self._process(self._hands, rgb)
        if not res.multi_hand_landmarks:
            return {}
        hands = [np.array([[p.x * W, p.y * H, p.z * W] for p in h.landmark]) for h in res.multi_hand_landmarks]
        out: dict[str, np.ndarray] = {}
        for side, wrist, elbow in (("left", MP_LEFT_WRIST, 13), ("right", MP_RIGHT_WRIST, 14)):
            if det.landmarks[wrist, 3] < 0.3:
                continue
            forearm = np.linalg.norm(det.landmarks[wrist, :2] - det.landmarks[elbow, :2]) + 1e-6
            d = [np.linalg.norm(h[0, :2] - det.landmarks[wrist, :2]) for h in hands]
            k = int(np.argmin(d))
            if d[k] < 0.4 * forearm + 4:
                out[side] = hands[k]
        if len(out) == 2 and out["left"] is out["right"]:  # one hand claimed by both wrists: keep the nearer
            dl = np.linalg.norm(out["left"][0, :2] - det.landmarks[MP_LEFT_WRIST, :2])
            dr = np.linalg.norm(out["right"][0, :2] - det.landmarks[MP_RIGHT_WRIST, :2])
            del out["right" if dl <= dr else "left"]
        return out


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence the C++ start-up warnings TFLite / MediaPipe print on fd 2 while graphs are built
    (they bypass Python and GLOG settings); Python exceptions still propagate."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def detect_image(rgb: np.ndarray, segmentation: bool = True, hands: bool = True) -> Detection | None:
    """The most prominent person (largest, most central; see `prominence`) in one RGB image
    ((H, W, 3) uint8), or None when there is none."""
    with PoseDetector(video=False, segmentation=segmentation, hands=hands) as det:
        return det.subject(rgb)


# -------------------------------------------------------------------------------- following one subject

def prominence(box: np.ndarray, width: int, height: int) -> float:
    """How much a person with landmark box `box` (x0, y0, x1, y1 px) looks like the subject of a
    width x height image: the box's area as a fraction of the image's, times 1 at the centre
    falling to 0.5 at a corner (so someone at the edge must be twice as large to win)."""
    area = max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]) / float(width * height)
    off = np.hypot((box[0] + box[2]) / 2 - width / 2, (box[1] + box[3]) / 2 - height / 2) / np.hypot(width / 2, height / 2)
    return area * (1.0 - 0.5 * min(1.0, off))


def _person_region(d: Detection, width: int, height: int) -> np.ndarray:
    """(H, W) bool: where person `d` is, generously (mask > 0.3 and its landmark box, grown 15 %
    and 10 px): painting it out must leave nothing the detector would take for a person."""
    import cv2

    region = np.zeros((height, width), bool)
    x0, y0, x1, y1 = d.bbox(min_visibility=0.0)
    gx, gy = 0.15 * (x1 - x0) + 10, 0.15 * (y1 - y0) + 10
    region[int(max(0, y0 - gy)):int(min(height, y1 + gy)), int(max(0, x0 - gx)):int(min(width, x1 + gx))] = True
    if d.mask is not None:
        region |= cv2.dilate((d.mask > 0.3).astype(np.uint8), np.ones((21, 21), np.uint8)) > 0
    return region


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def parse_person(text: str | None) -> np.ndarray | None:
    """`--person`: "X,Y" (a pixel on the subject in its first frame) or "X0,Y0,X1,Y1" (a box), px."""
    if not text:
        return None
    try:
        v = [float(x) for x in text.split(",")]
    except ValueError:
        v = []
    if len(v) not in (2, 4):
        raise InputError(f"bad --person '{text}'", where="--person",
                         fix="give a pixel on the subject X,Y or a box X0,Y0,X1,Y1 in the first frame")
    return np.array(v)


def same_person(prev: np.ndarray, cur: np.ndarray, gap: int = 1) -> bool:
    """Whether box `cur` continues box `prev` (x0, y0, x1, y1) after `gap` frames.

    A body moves well under half its own size per frame; the allowance grows with the gap.
    """
    if _iou(prev, cur) > 0.2:
        return True
    size = max(prev[2] - prev[0], prev[3] - prev[1], 1.0)
    shift = np.linalg.norm((prev[:2] + prev[2:]) / 2 - (cur[:2] + cur[2:]) / 2)
    scale = max(cur[2] - cur[0], cur[3] - cur[1], 1.0) / size
    return shift < 0.5 * size * min(gap, 10) and 0.5 < scale < 2.0


def iter_detections(src: str | Path | Sequence[np.ndarray], person: np.ndarray | None = None,
                    segmentation: bool = True, hands: bool = True, start: int = 0, stop: int | None = None,
                    progress: bool = False) -> Iterator[tuple[int, Detection | None]]:
    """(frame index, Detection | None) for frames start..stop-1 of a video, folder of frames or a
    sequence of RGB arrays, following one subject.

    The subject is, in the first frame where anyone is found, the most prominent person (largest
    and most central, `prominence`, among everyone `PoseDetector.find_people` finds), or the one
    at / inside `person` (see parse_person). A frame whose
    detection is someone else (the box jumps) is searched again around the subject's last box; when
    the subject is not found there either, the frame is yielded as None (lost, never invented).
    """
    from neural_render.video import frame_info, iter_frames

    if isinstance(src, (str, Path)):
        n = frame_info(src)["frames"]
        frames = iter_frames(src, start, stop)
        total = max(0, (min(stop, n) if stop is not None else n) - start) if n else None
    else:
        frames = iter(list(src)[start:stop])
        total = len(src[start:stop])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="frame", desc="detect", leave=False)
    last_box, last_t = None, None
    with PoseDetector(video=True, segmentation=segmentation, hands=hands) as det:
        for t, rgb in enumerate(frames, start=start):
            rgb = _check_rgb(rgb)
            if last_box is None and person is not None:
                H, W = rgb.shape[:2]
                box = person if len(person) == 4 else np.array([person[0] - 0.3 * H, person[1] - 0.5 * H,
                                                                person[0] + 0.3 * H, person[1] + 0.5 * H])
                d = det.in_box(rgb, box)
            elif last_box is None:
                d = _first_subject(det, rgb)
            else:
                d = det(rgb)
                if d is not None and last_box is not None and not same_person(last_box, d.bbox(), t - last_t):
                    d = det.in_box(rgb, last_box)
                    if d is not None and not same_person(last_box, d.bbox(), t - last_t):
                        d = None
            if d is not None:
                last_box, last_t = d.bbox(), t
            if bar is not None:
                bar.update(1)
            yield t, d
    if bar is not None:
        bar.close()


def _first_subject(det: PoseDetector, rgb: np.ndarray) -> Detection | None:
    """The subject in the first frame that has anyone: the most prominent person. The tracking
    graph is shown that frame with everyone else painted out, so it locks onto the subject and
    follows it in the next frames (instead of the person its detector is surest of)."""
    people = det.find_people(rgb)
    if not people:
        return None
    H, W = rgb.shape[:2]
    first, alone = max(people, key=lambda p: prominence(p[0].bbox(), W, H))
    d = det._run_pose(det._pose, alone)
    if d is None or _iou(d.bbox(), first.bbox()) <= 0.3:
        d = first
    if det._hands is not None:
        d.hands = det._find_hands(rgb, d)
    return d
