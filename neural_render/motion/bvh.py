"""BVH files: a strict parser (any channel order, 3- or 6-channel joints, End Sites) and a writer.

Every problem in a file is an `InputError` naming the file and the line. Angles in the file are
degrees; this module keeps the file's own length units (the retargeter detects them).
BVH semantics: a joint's local transform is translate(offset, or its position channels when it
has them) then rotate by its rotation channels in the order listed (intrinsic), so
"Zrotation Yrotation Xrotation" means R = Rz @ Ry @ Rx.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_render.errors import InputError

# Limits (SECURITY.md): real rigs nest < 60 joints deep and have < 1,000 joints; positions in any
# unit (mm included) and angles in degrees stay far below MAX_ABS_VALUE.
MAX_DEPTH = 256
MAX_JOINTS = 10_000
MAX_ABS_VALUE = 1e7
MAX_FILE_BYTES = 2 << 30

VALID_CHANNELS = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
END_SUFFIX = "_end"


@dataclass
class BVH:
    """A parsed BVH file. J joints including End Sites (which have no channels)."""

    names: list[str]
    parents: np.ndarray            # (J,) int, -1 for the root
    offsets: np.ndarray            # (J, 3) file units
    channels: list[list[str]]      # per joint, e.g. ["Xposition", ..., "Zrotation", ...]; [] for End Sites
    is_end: np.ndarray             # (J,) bool
    frame_time: float              # seconds
    frames: np.ndarray             # (T, C) float64, C = total channel count
    path: str = ""
    channel_start: list[int] = field(default_factory=list)

    def __post_init__(self):
        if not self.channel_start:
            starts, c = [], 0
            for ch in self.channels:
                starts.append(c)
                c += len(ch)
            self.channel_start = starts

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    def local_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame local rotations (T, J, 3, 3) and translations (T, J, 3) in file units."""
        from neural_render.motion.rotations import axis_rotation

        T, J = self.num_frames, len(self.names)
        R = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
        t = np.broadcast_to(self.offsets, (T, J, 3)).copy()
        for j, chans in enumerate(self.channels):
            if not chans:
                continue
            s = self.channel_start[j]
            pos_idx = [(k, "XYZ".index(c[0])) for k, c in enumerate(chans) if c.endswith("position")]
            if pos_idx:
                # Position channels replace the offset (root translation; rare translating joints).
                t[:, j] = 0.0
                for k, ax in pos_idx:
                    t[:, j, ax] = self.frames[:, s + k]
            Rj = np.broadcast_to(np.eye(3), (T, 3, 3))
            for k, c in enumerate(chans):
                if c.endswith("rotation"):
                    Rj = Rj @ axis_rotation(c[0], np.deg2rad(self.frames[:, s + k]))
            R[:, j] = Rj
        return R, t

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """Global rotations (T, J, 3, 3) and positions (T, J, 3) in file units."""
        R, t = self.local_transforms()
        G = np.empty_like(R)
        P = np.empty_like(t)
        for j, p in enumerate(self.parents):
            if p < 0:
                G[:, j] = R[:, j]
                P[:, j] = t[:, j]
            else:
                G[:, j] = G[:, p] @ R[:, j]
                P[:, j] = P[:, p] + np.einsum("tab,tb->ta", G[:, p], t[:, j])
        return G, P

    def rest_positions(self) -> np.ndarray:
        """(J, 3) global joint positions of the rest pose (all rotations identity, offsets only)."""
        P = np.zeros((len(self.names), 3))
        for j, p in enumerate(self.parents):
            P[j] = self.offsets[j] + (P[p] if p >= 0 else 0.0)
        return P


class _Lines:
    """Token reader over the file's lines that remembers line numbers for error messages."""

    def __init__(self, text: str, path):
        self.lines = text.splitlines()
        self.path = path
        self.i = 0          # next line index
        self.tokens: list[str] = []
        self.line_no = 0

    def error(self, msg: str, fix: str | None = None, line: int | None = None) -> InputError:
        return InputError(msg, path=self.path, where=f"line {line or self.line_no}", fix=fix)

    def next_token(self, what: str) -> str:
        while not self.tokens:
            if self.i >= len(self.lines):
                raise InputError(f"file ends while expecting {what}", path=self.path,
                                 where=f"line {len(self.lines)}", fix="the file looks truncated")
            self.tokens = self.lines[self.i].split()
            self.i += 1
            self.line_no = self.i
        return self.tokens.pop(0)

    def rest_of_line(self) -> list[str]:
        toks, self.tokens = self.tokens, []
        return toks


def _float(tok: str, lines: _Lines, what: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise lines.error(f"expected a number for {what}, got {tok[:40]!r}") from None
    if not math.isfinite(v):
        raise lines.error(f"{what} is {tok[:40]!r} (not finite)")
    if abs(v) > MAX_ABS_VALUE:
        raise lines.error(f"{what} is {v:g}, outside +-{MAX_ABS_VALUE:g}", fix="the file's values are corrupt")
    return v


def read_bvh(path: str | Path, max_frames: int | None = None) -> BVH:
    """Parse a BVH file. Raises InputError naming the file and line for any malformed content."""
    path = Path(path)
    if not path.exists():
        raise InputError("BVH file not found", path=path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"BVH file of {size:,} bytes (limit {MAX_FILE_BYTES:,})", path=path)
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError("file is empty", path=path, fix="expected a BVH file starting with HIERARCHY")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return parse_bvh(text, path, max_frames=max_frames)


def parse_bvh(text: str, path: str | Path = "<string>", max_frames: int | None = None) -> BVH:
    """A BVH file's text -> BVH (hierarchy, then at most `max_frames` frames); bad text raises an
    InputError naming the line."""
    lines = _Lines(text.lstrip("\ufeff"), path)
    tok = lines.next_token("HIERARCHY")
    if tok.upper() != "HIERARCHY":
        raise lines.error(f"expected HIERARCHY, got {tok[:40]!r}", fix="is this a BVH file?")
    names, parents, offsets, channels, is_end = _read_hierarchy(lines)
    n_frames, frame_time = _read_motion_header(lines)
    frames = _read_frames(lines, path, n_frames, sum(len(c) for c in channels), max_frames)
    return BVH(names=names, parents=np.array(parents, np.int64), offsets=np.array(offsets, np.float64),
               channels=channels, is_end=np.array(is_end, bool), frame_time=frame_time, frames=frames,
               path=str(path))


def _read_hierarchy(lines: _Lines):
    """The HIERARCHY section after its keyword: (names, parents, offsets, channels, is_end), one
    entry per joint or End Site, depth first."""
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    is_end: list[bool] = []

    tok = lines.next_token("ROOT")
    if tok.upper() != "ROOT":
        raise lines.error(f"expected ROOT, got {tok[:40]!r}")
    stack: list[int] = []

    def read_joint(name: str, parent: int, end: bool, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise lines.error(f"the hierarchy nests deeper than {MAX_DEPTH} joints",
                              fix="real skeletons nest a few dozen joints; the file is damaged or hostile")
        if len(names) >= MAX_JOINTS:
            raise lines.error(f"more than {MAX_JOINTS:,} joints", fix="the file is damaged or hostile")
        j = len(names)
        names.append(name)
        parents.append(parent)
        is_end.append(end)
        channels.append([])
        offsets.append([0.0, 0.0, 0.0])
        brace = lines.next_token("'{'")
        if brace != "{":
            raise lines.error(f"expected '{{' after joint {name!r}, got {brace[:40]!r}")
        seen_offset = False
        while True:
            tok = lines.next_token(f"OFFSET, CHANNELS, JOINT, End Site or '}}' in joint {name!r}")
            up = tok.upper()
            if up == "OFFSET":
                offsets[j] = [_float(lines.next_token("offset x"), lines, f"OFFSET of {name!r}"),
                              _float(lines.next_token("offset y"), lines, f"OFFSET of {name!r}"),
                              _float(lines.next_token("offset z"), lines, f"OFFSET of {name!r}")]
                seen_offset = True
            elif up == "CHANNELS":
                if end:
                    raise lines.error(f"End Site under {names[parent]!r} has CHANNELS")
                n_tok = lines.next_token("channel count")
                try:
                    n = int(n_tok)
                except ValueError:
                    raise lines.error(f"expected a channel count, got {n_tok[:40]!r}") from None
                if n < 0 or n > 6:
                    raise lines.error(f"joint {name!r} declares {n} channels (0..6 allowed)")
                chans = [lines.next_token(f"{n} channel names for {name!r}") for _ in range(n)]
                for c in chans:
                    if c not in VALID_CHANNELS:
                        raise lines.error(f"unknown channel {c[:40]!r} in joint {name!r}",
                                          fix=f"channels are {', '.join(VALID_CHANNELS)}")
                if len(set(chans)) != len(chans):
                    raise lines.error(f"joint {name!r} repeats a channel: {chans}")
                channels[j] = chans
            elif up == "JOINT":
                if end:
                    raise lines.error("an End Site cannot have child joints")
                child = " ".join(lines.rest_of_line()) or lines.next_token("joint name")
                read_joint(child, j, False, depth + 1)
            elif up == "END":
                site = lines.next_token("Site")
                if site.upper() != "SITE":
                    raise lines.error(f"expected 'End Site', got 'End {site[:40]}'")
                if end:
                    raise lines.error("an End Site cannot have an End Site")
                read_joint(name + END_SUFFIX, j, True, depth + 1)
            elif tok == "}":
                if not seen_offset:
                    raise lines.error(f"joint {name!r} has no OFFSET")
                return
            elif tok.startswith("{"):
                raise lines.error(f"unexpected '{{' in joint {name!r}")
            else:
                raise lines.error(f"unexpected {tok[:40]!r} in joint {name!r}",
                                  fix="expected OFFSET, CHANNELS, JOINT, End Site or '}'")

    root_name = " ".join(lines.rest_of_line()) or lines.next_token("root name")
    read_joint(root_name, -1, False)
    del stack

    return names, parents, offsets, channels, is_end


def _read_motion_header(lines: _Lines) -> tuple[int, float]:
    """'MOTION', 'Frames: N' and 'Frame Time: t': returns (N, t seconds per frame)."""
    tok = lines.next_token("MOTION")
    if tok.upper() != "MOTION":
        raise lines.error(f"expected MOTION after the hierarchy, got {tok[:40]!r}",
                          fix="only one ROOT per file is supported")
    tok = lines.next_token("Frames:")
    if tok.rstrip(":").upper() != "FRAMES":
        raise lines.error(f"expected 'Frames:', got {tok[:40]!r}")
    if not tok.endswith(":"):
        colon = lines.next_token("':'")
        if colon != ":":
            raise lines.error(f"expected 'Frames:', got {tok} {colon[:40]}")
    n_tok = lines.next_token("frame count")
    try:
        n_frames = int(n_tok)
    except ValueError:
        raise lines.error(f"expected an integer frame count, got {n_tok[:40]!r}") from None
    if n_frames < 1:
        raise lines.error(f"Frames: {n_frames} (a motion needs at least one frame)")
    t1 = lines.next_token("'Frame Time:'")
    t2 = lines.next_token("'Frame Time:'")
    if t1.upper() != "FRAME" or t2.rstrip(":").upper() != "TIME":
        raise lines.error(f"expected 'Frame Time:', got {t1[:20]!r} {t2[:20]!r}")
    if not t2.endswith(":"):
        colon = lines.next_token("':'")
        if colon != ":":
            raise lines.error("expected 'Frame Time:'")
    frame_time = _float(lines.next_token("frame time"), lines, "Frame Time")
    if frame_time <= 0:
        raise lines.error(f"Frame Time is {frame_time}; it must be positive seconds per frame")
    if lines.tokens:
        raise lines.error(f"unexpected {lines.tokens[0][:40]!r} after Frame Time")

    return n_frames, frame_time


def _read_frames(lines: _Lines, path, n_frames: int, C: int, max_frames: int | None) -> np.ndarray:
    """(min(n_frames, max_frames), C) channel values, one line per frame; checked against the count."""
    take = n_frames if max_frames is None else min(n_frames, max_frames)
    # Never allocate on the header's word: each frame needs a line, so the lines left bound it.
    left = sum(1 for k in range(lines.i, len(lines.lines)) if lines.lines[k].strip()) \
        if take > len(lines.lines) - lines.i else take
    if take > left:
        raise InputError(f"Frames: {n_frames} declared but only {left} frame lines present",
                         path=path, where=f"line {lines.line_no}", fix="the file looks truncated, or fix the count")
    frames = np.empty((take, C), np.float64)
    t = 0
    i = lines.i
    data_lines = lines.lines
    while t < take:
        if i >= len(data_lines):
            raise InputError(f"Frames: {n_frames} declared but only {t} frame lines present",
                             path=path, where=f"line {len(data_lines)}", fix="the file looks truncated")
        row = data_lines[i].split()
        i += 1
        if not row:
            continue
        if len(row) != C:
            raise InputError(f"frame {t + 1} has {len(row)} values, the hierarchy declares {C} channels",
                             path=path, where=f"line {i}", fix="the channel counts do not match the data")
        try:
            vals = np.array(row, dtype=np.float64)
        except ValueError:
            bad = next(x for x in row if not _is_float(x))
            raise InputError(f"frame {t + 1} has a non-number {bad[:40]!r}", path=path,
                             where=f"line {i}") from None
        if not np.all(np.isfinite(vals)):
            raise InputError(f"frame {t + 1} has a non-finite value", path=path, where=f"line {i}")
        if np.abs(vals).max(initial=0.0) > MAX_ABS_VALUE:
            raise InputError(f"frame {t + 1} has a value outside +-{MAX_ABS_VALUE:g}", path=path,
                             where=f"line {i}", fix="the file's values are corrupt")
        frames[t] = vals
        t += 1
    if max_frames is None:
        for k in range(i, len(data_lines)):
            if data_lines[k].strip():
                raise InputError(f"data after the {n_frames} declared frames", path=path,
                                 where=f"line {k + 1}", fix="fix the 'Frames:' count")
    return frames


def _is_float(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


def format_bvh(bvh: BVH, precision: int = 6) -> str:
    """BVH text for `bvh` (End Sites are the joints flagged is_end)."""
    children: dict[int, list[int]] = {j: [] for j in range(len(bvh.names))}
    roots = []
    for j, p in enumerate(bvh.parents):
        (children[int(p)] if p >= 0 else roots).append(j)
    if len(roots) != 1:
        raise ValueError("a BVH needs exactly one root")
    out = ["HIERARCHY"]
    fmt = f"{{:.{precision}f}}"

    def emit(j: int, depth: int) -> None:
        ind = "\t" * depth
        if bvh.is_end[j]:
            out.append(f"{ind}End Site")
        else:
            out.append(f"{ind}{'ROOT' if bvh.parents[j] < 0 else 'JOINT'} {bvh.names[j]}")
        out.append(ind + "{")
        out.append(f"{ind}\tOFFSET " + " ".join(fmt.format(v) for v in bvh.offsets[j]))
        if not bvh.is_end[j]:
            out.append(f"{ind}\tCHANNELS {len(bvh.channels[j])} " + " ".join(bvh.channels[j]))
        for c in children[j]:
            emit(c, depth + 1)
        out.append(ind + "}")

    emit(roots[0], 0)
    out.append("MOTION")
    out.append(f"Frames: {bvh.num_frames}")
    out.append(f"Frame Time: {bvh.frame_time:.8f}")
    for row in bvh.frames:
        out.append(" ".join(fmt.format(v) for v in row))
    return "\n".join(out) + "\n"


def write_bvh(path: str | Path, bvh: BVH, precision: int = 6) -> Path:
    """Write atomically."""
    from neural_render.fileio import write_text

    write_text(path, format_bvh(bvh, precision))
    return Path(path)
