"""The off-Blender renderer: OpenGL offscreen through pyrender's headless platforms (EGL, OSMesa).

One draw per frame writes two float32 colour targets at once (multiple render targets):
``(n_x, n_y, n_z, depth)`` and ``(u, v, part, instance)``. Frames are batched as tiles of one big
framebuffer and read back together. Conventions are those of `neural_render.passes.spec`:
camera-space normals (x right, y up, z toward the camera; flipped toward the viewer on back
faces, as Cycles does), planar metric depth (OpenCV camera z), face part labels from
`spec.face_parts`, perspective-correct interpolated UVs, no antialiasing (one sample at each
pixel centre), so the labels are exact.

Platform: $PYOPENGL_PLATFORM (egl or osmesa) if set, else EGL (the GPU's driver, or Mesa's llvmpipe on
CPU; measured here: EGL + llvmpipe works, OSMesa is not installed). PyOpenGL fixes the platform at its
first import, so set the variable before anything imports OpenGL. `available()` says whether a context
can be made here and why not (tests skip the raster renderer with that reason).

EGL device: the first one EGL lists, unless `egl_device` (or $NEURAL_RENDER_EGL_DEVICE) names one: an
index into `egl_devices()`, "gpu" (the first hardware device) or "cpu" (the first software one,
Mesa llvmpipe/softpipe). A machine with an NVIDIA driver and Mesa lists both.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from neural_render.camera import CV_TO_BLENDER_CAM, Camera
from neural_render.passes.scene import vertex_normals

_VS = """
#version 330 core
layout(location = 0) in vec3 a_pos;
layout(location = 1) in vec3 a_nrm;
layout(location = 2) in vec2 a_uv;
layout(location = 3) in vec2 a_ids;
uniform mat4 u_w2c;      // world -> OpenCV camera
uniform mat4 u_proj;     // OpenCV camera -> clip
uniform mat3 u_nrm;      // world -> pass camera space (x right, y up, z toward the camera)
out vec3 v_nrm;
out float v_z;
out vec2 v_uv;
flat out vec2 v_ids;
void main() {
    vec4 pc = u_w2c * vec4(a_pos, 1.0);
    v_z = pc.z;
    v_nrm = u_nrm * a_nrm;
    v_uv = a_uv;
    v_ids = a_ids;
    gl_Position = u_proj * pc;
}
"""

_FS = """
#version 330 core
in vec3 v_nrm;
in float v_z;
in vec2 v_uv;
flat in vec2 v_ids;
layout(location = 0) out vec4 o_nd;
layout(location = 1) out vec4 o_uvid;
void main() {
    vec3 n = normalize(v_nrm);
    if (!gl_FrontFacing) n = -n;
    o_nd = vec4(n, v_z);
    o_uvid = vec4(v_uv, v_ids);
}
"""

_ATLAS_MAX = 4096


def _platform_name() -> str:
    return os.environ.get("PYOPENGL_PLATFORM", "") or "egl"


def available() -> tuple[bool, str]:
    """(True, platform) if an offscreen GL context can be created here, else (False, reason)."""
    try:
        r = RasterRenderer(8, 8)
        r.close()
        return True, r.platform_name
    except Exception as e:  # noqa: BLE001 - any failure means "not available", with the reason
        return False, f"{type(e).__name__}: {e}"


_SOFTWARE = ("llvmpipe", "softpipe", "swrast", "software")


def _is_software(gl_renderer: str) -> bool:
    return any(k in gl_renderer.lower() for k in _SOFTWARE)


@functools.lru_cache(maxsize=1)
def egl_devices() -> tuple[tuple[int, str], ...]:
    """(index, GL_RENDERER string) of every EGL device a context can be made on ("" when it fails)."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    from pyrender.platforms import egl

    out = []
    for i, dev in enumerate(egl.query_devices()):
        p = egl.EGLPlatform(8, 8, device=dev)
        try:
            p.init_context()
            p.make_current()
            from OpenGL import GL

            out.append((i, GL.glGetString(GL.GL_RENDERER).decode()))
        except Exception:  # noqa: BLE001 - a device without a usable GL context
            out.append((i, ""))
        finally:
            _egl_delete_context_only(p)
    return tuple(out)


def resolve_egl_device(choice: int | str | None) -> int | None:
    """Index of the EGL device for `choice` (None/"" = EGL's default; int/"N", "gpu", "cpu").

    Raises RuntimeError naming the devices found when no device fits.
    """
    if choice is None or str(choice).strip() == "":
        return None
    text = str(choice).strip().lower()
    if text.isdigit():
        return int(text)
    devs = egl_devices()
    if text in ("cpu", "gpu"):
        for i, name in devs:
            if name and _is_software(name) == (text == "cpu"):
                return i
    raise RuntimeError(f"no EGL {text} device (found: {[n or '?' for _, n in devs] or 'none'}); "
                       f"set NEURAL_RENDER_EGL_DEVICE to one of the indices 0..{max(len(devs) - 1, 0)}, cpu or gpu")


class RasterRenderer:
    """Offscreen GL renderer of pass buffers. Not thread-safe; one per process is enough."""

    name = "raster"  # as legend.json states it

    def __init__(self, width: int, height: int, max_tiles: int = 16, egl_device: int | str | None = None):
        os.environ.setdefault("PYOPENGL_PLATFORM", _platform_name())
        self.platform_name = os.environ["PYOPENGL_PLATFORM"]
        self.width, self.height = int(width), int(height)
        self.tiles_x = max(1, min(max_tiles, _ATLAS_MAX // self.width))
        self.tiles_y = max(1, min(max(1, max_tiles // self.tiles_x), _ATLAS_MAX // self.height))
        if egl_device is None:
            egl_device = os.environ.get("NEURAL_RENDER_EGL_DEVICE")
        device = resolve_egl_device(egl_device) if self.platform_name == "egl" else None
        self._platform = _make_platform(self.platform_name, self.width, self.height, device)
        self._gl_setup()
        self.gl_renderer = self.gl.glGetString(self.gl.GL_RENDERER).decode()

    @property
    def batch_size(self) -> int:
        return self.tiles_x * self.tiles_y

    # --- GL plumbing ---------------------------------------------------------------------------

    def _gl_setup(self) -> None:
        from OpenGL import GL as gl
        from OpenGL.GL import shaders

        self.gl = gl
        self._platform.make_current()
        self.prog = shaders.compileProgram(shaders.compileShader(_VS, gl.GL_VERTEX_SHADER),
                                           shaders.compileShader(_FS, gl.GL_FRAGMENT_SHADER),
                                           validate=False)
        self.loc = {n: gl.glGetUniformLocation(self.prog, n) for n in ("u_w2c", "u_proj", "u_nrm")}
        AW, AH = self.tiles_x * self.width, self.tiles_y * self.height
        self.atlas = (AW, AH)
        self.fbo = gl.glGenFramebuffers(1)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        self.rbos = gl.glGenRenderbuffers(3)
        for i, fmt in enumerate((gl.GL_RGBA32F, gl.GL_RGBA32F, gl.GL_DEPTH_COMPONENT32F)):
            gl.glBindRenderbuffer(gl.GL_RENDERBUFFER, self.rbos[i])
            gl.glRenderbufferStorage(gl.GL_RENDERBUFFER, fmt, AW, AH)
            att = gl.GL_DEPTH_ATTACHMENT if i == 2 else gl.GL_COLOR_ATTACHMENT0 + i
            gl.glFramebufferRenderbuffer(gl.GL_FRAMEBUFFER, att, gl.GL_RENDERBUFFER, self.rbos[i])
        if gl.glCheckFramebufferStatus(gl.GL_FRAMEBUFFER) != gl.GL_FRAMEBUFFER_COMPLETE:
            raise RuntimeError("offscreen framebuffer incomplete")
        gl.glDrawBuffers(2, [gl.GL_COLOR_ATTACHMENT0, gl.GL_COLOR_ATTACHMENT1])
        self.vao = gl.glGenVertexArrays(1)
        gl.glBindVertexArray(self.vao)
        self.vbo_dyn, self.vbo_static = gl.glGenBuffers(2)
        self._static_key = None
        gl.glEnable(gl.GL_DEPTH_TEST)
        gl.glDepthFunc(gl.GL_LESS)
        gl.glDisable(gl.GL_CULL_FACE)
        gl.glDisable(gl.GL_BLEND)
        gl.glDisable(gl.GL_MULTISAMPLE)
        gl.glDisable(gl.GL_DITHER)

    def close(self) -> None:
        try:
            self._platform.make_current()
            gl = self.gl
            gl.glDeleteFramebuffers(1, [self.fbo])
            gl.glDeleteRenderbuffers(3, self.rbos)
            gl.glDeleteBuffers(2, [self.vbo_dyn, self.vbo_static])
            gl.glDeleteVertexArrays(1, [self.vao])
            gl.glDeleteProgram(self.prog)
        except Exception:  # noqa: BLE001 - closing a dead context is not an error
            pass
        _delete_context(self._platform, self.platform_name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _set_static(self, instances) -> None:
        """Per-corner UVs and (part, instance) ids: uploaded once per set of instances."""
        # Holding the instances themselves (not their ids) so a recycled id never matches.
        if self._static_key is not None and len(self._static_key) == len(instances) and all(
                a is b for a, b in zip(self._static_key, instances)):
            return
        gl = self.gl
        chunks = []
        for inst in instances:
            F = len(inst.faces)
            uv = (inst.vt[inst.ft].reshape(-1, 2) if inst.vt is not None and inst.ft is not None
                  else np.zeros((3 * F, 2)))
            ids = np.empty((3 * F, 2), np.float32)
            ids[:, 0] = np.repeat(inst.face_parts, 3)
            ids[:, 1] = inst.instance_id
            chunks.append(np.concatenate([uv.astype(np.float32), ids], 1))
        data = np.ascontiguousarray(np.concatenate(chunks), np.float32)
        self._num_corners = len(data)
        gl.glBindBuffer(gl.GL_ARRAY_BUFFER, self.vbo_static)
        gl.glBufferData(gl.GL_ARRAY_BUFFER, data.nbytes, data, gl.GL_STATIC_DRAW)
        for loc, off in ((2, 0), (3, 8)):
            gl.glEnableVertexAttribArray(loc)
            gl.glVertexAttribPointer(loc, 2, gl.GL_FLOAT, False, 16, _ptr(off))
        self._static_key = list(instances)

    # --- rendering -----------------------------------------------------------------------------

    def render(self, instances, vertices: list[np.ndarray], camera: Camera) -> dict:
        """Buffers of one frame; see `render_batch`."""
        return self.render_batch(instances, [vertices], [camera])[0]

    def render_batch(self, instances, vertices_per_frame: list[list[np.ndarray]],
                     cameras: list[Camera]) -> list[dict]:
        """Render frames.

        Args:
            instances: the scene's `BodyInstance`s (topology, parts, UVs, ids).
            vertices_per_frame: per frame, one (V_i, 3) world vertex array per instance.
            cameras: per frame, a `Camera` of this renderer's size.
        Returns: per frame a dict of numpy arrays (H, W...): "normal" float32 (.., 3) camera space,
            "depth" float32 metres (0 = background), "uv" float32 (.., 2), "parts" uint8,
            "instance" uint8, "mask" bool.
        """
        out = []
        B = self.batch_size
        for s in range(0, len(cameras), B):
            out += self._render_tiles(instances, vertices_per_frame[s:s + B], cameras[s:s + B])
        return out

    def _render_tiles(self, instances, verts_list, cameras) -> list[dict]:
        gl = self.gl
        self._platform.make_current()
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        gl.glBindVertexArray(self.vao)
        gl.glUseProgram(self.prog)
        self._set_static(instances)
        gl.glViewport(0, 0, *self.atlas)
        gl.glClearColor(0, 0, 0, 0)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT | gl.GL_DEPTH_BUFFER_BIT)
        W, H = self.width, self.height
        for t, (verts, cam) in enumerate(zip(verts_list, cameras)):
            if (cam.width, cam.height) != (W, H):
                raise ValueError(f"camera is {cam.width}x{cam.height}, renderer {W}x{H}")
            dyn = []
            zs = []
            for inst, v in zip(instances, verts):
                v = np.asarray(v, np.float32)
                n = vertex_normals(v, inst.faces)
                dyn.append(np.concatenate([v[inst.faces].reshape(-1, 3), n[inst.faces].reshape(-1, 3)], 1))
                zs.append(cam.to_camera(v)[:, 2])
            data = np.ascontiguousarray(np.concatenate(dyn), np.float32)
            z = np.concatenate(zs)
            zf = z[z > 0]
            near = max(1e-3, 0.5 * float(zf.min())) if len(zf) else 0.01
            far = max(near * 2, 2.0 * float(z.max()) + 1.0)
            gl.glBindBuffer(gl.GL_ARRAY_BUFFER, self.vbo_dyn)
            gl.glBufferData(gl.GL_ARRAY_BUFFER, data.nbytes, data, gl.GL_STREAM_DRAW)
            for loc, off in ((0, 0), (1, 12)):
                gl.glEnableVertexAttribArray(loc)
                gl.glVertexAttribPointer(loc, 3, gl.GL_FLOAT, False, 24, _ptr(off))
            gl.glUniformMatrix4fv(self.loc["u_w2c"], 1, gl.GL_TRUE, cam.world_to_camera.astype(np.float32))
            gl.glUniformMatrix4fv(self.loc["u_proj"], 1, gl.GL_TRUE, cam.gl_projection(near, far).astype(np.float32))
            gl.glUniformMatrix3fv(self.loc["u_nrm"], 1, gl.GL_TRUE, (CV_TO_BLENDER_CAM @ cam.R).astype(np.float32))
            tx, ty = t % self.tiles_x, t // self.tiles_x
            gl.glViewport(tx * W, ty * H, W, H)
            gl.glDrawArrays(gl.GL_TRIANGLES, 0, len(data))
        n_rows = (len(cameras) + self.tiles_x - 1) // self.tiles_x
        read_h = n_rows * H
        bufs = []
        for i in range(2):
            gl.glReadBuffer(gl.GL_COLOR_ATTACHMENT0 + i)
            raw = gl.glReadPixels(0, 0, self.atlas[0], read_h, gl.GL_RGBA, gl.GL_FLOAT)
            bufs.append(np.frombuffer(raw, np.float32).reshape(read_h, self.atlas[0], 4))
        frames = []
        for t in range(len(cameras)):
            tx, ty = t % self.tiles_x, t // self.tiles_x
            nd = bufs[0][ty * H:(ty + 1) * H, tx * W:(tx + 1) * W][::-1]
            ui = bufs[1][ty * H:(ty + 1) * H, tx * W:(tx + 1) * W][::-1]
            inst = np.rint(ui[..., 3]).astype(np.uint8)
            mask = inst > 0
            frames.append({
                "normal": np.ascontiguousarray(nd[..., :3]),
                "depth": np.ascontiguousarray(nd[..., 3]),
                "uv": np.ascontiguousarray(ui[..., :2]),
                "parts": np.rint(ui[..., 2]).astype(np.uint8),
                "instance": inst,
                "mask": mask,
            })
        return frames


def _ptr(offset: int):
    import ctypes

    return ctypes.c_void_p(offset)


def _delete_context(platform, name: str) -> None:
    platform.delete_context()


def _egl_delete_context_only(platform) -> None:
    """Destroy only this context. pyrender's EGL delete_context (also run by its __del__) terminates
    the display, which every context in the process shares: other live renderers would die."""
    from OpenGL import EGL

    if getattr(platform, "_egl_context", None) is None or platform._egl_display is None:
        return
    try:
        EGL.eglMakeCurrent(platform._egl_display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
        EGL.eglDestroyContext(platform._egl_display, platform._egl_context)
    except Exception:  # noqa: BLE001 - already gone
        pass
    platform._egl_context = None


def _make_platform(name: str, width: int, height: int, device: int | None = None):
    if name == "egl":
        from pyrender.platforms.egl import EGLPlatform, get_device_by_index

        p = EGLPlatform(width, height, device=None if device is None else get_device_by_index(device))
        p.delete_context = functools.partial(_egl_delete_context_only, p)  # see _egl_delete_context_only
    elif name == "osmesa":
        from pyrender.platforms.osmesa import OSMesaPlatform

        p = OSMesaPlatform(width, height)
    else:
        raise RuntimeError(f"PYOPENGL_PLATFORM={name} is not supported for offscreen rendering (use egl or osmesa)")
    p.init_context()
    p.make_current()
    return p
