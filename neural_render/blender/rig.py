"""The body as a real rigged Blender object, and motions keyframed onto it.

`build_body(body)` makes two objects in the current scene:
  * an armature `<name>` with 24 bones named as SMPL joints (SMPL_JOINT_NAMES), heads at the rest
    joints of the current shape, parented as SMPL's kinematic tree;
  * a mesh `<name>_mesh` (child of the armature) skinned by vertex groups (one per joint, SMPL's
    weights) through an Armature modifier (linear blend: preserve volume off), with shape keys
    `shape_000..` (one per shape component; key value = beta) and, for models that have them, pose
    corrective keys `pose_000..pose_206` whose values are keyframed per frame.
Everything is in Blender's world frame (Z-up, metres): the SMPL model-space (Y-up) arrays go through
`neural_render.body.axes.Y_UP_TO_Z_UP` once, here. The rest body stands upright, facing -y.

`set_shape(armature, betas)` sets the shape keys and regenerates the joints (the bone heads) from
the joint regressor, which is linear in beta, so the joint basis J = J_t + J_dirs @ beta is stored
on the armature as custom properties and no body file is needed later. Bone rest orientations never
change with shape (tails move with heads by a fixed offset), so existing keyframes stay valid.

Bodies with hands (the default body, SMPL-H / SMPL-X files) also get SMPL-H's 30 finger bones
(`neural_render.blender.finger_rig`): children of SMPL's hand bones that take the hand bones'
vertex weights finger by finger, at rest in the body's relaxed hand pose.

`keyframe_motion(armature, motion)` writes one new Action per call (rotation quaternions of all
bones, the root bone's location, the corrective key values), editable and NLA-friendly. With the
rest frames R_b of the bones (armature space) and SMPL local rotations R_j, the bone-space pose is
L_j = R_b^T R'_j R_b, where R'_j is R_j expressed in the armature's (Z-up) frame. The deformed mesh
then equals SMPL linear blend skinning (`BodyModel.forward`) of the same motion (tested < 1 mm).

This module imports only numpy at the top (bpy inside functions) so it can be imported anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neural_render.body.axes import Y_UP_TO_Z_UP
from neural_render.motion import rotations
from neural_render.body.skeletons import NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS

C = Y_UP_TO_Z_UP  # model (Y-up) -> Blender world (Z-up)

# The child joint each bone points at; leaves (None) get a fixed direction in model space instead.
BONE_TARGET: dict[int, int | None] = {
    0: 3, 1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 9: 12, 10: None, 11: None, 12: 15,
    13: 16, 14: 17, 15: None, 16: 18, 17: 19, 18: 20, 19: 21, 20: 22, 21: 23, 22: None, 23: None,
}
# Leaf bone directions and lengths in model space (metres): feet forward (+z), head up (+y), hands
# continue the wrist->hand direction.
LEAF_DIRECTION = {10: (0.0, 0.0, 0.1), 11: (0.0, 0.0, 0.1), 15: (0.0, 0.18, 0.0)}
LEAF_CONTINUE_LENGTH = 0.08

SHAPE_KEY_PREFIX = "shape_"
POSE_KEY_PREFIX = "pose_"
SHAPE_SLIDER_RANGE = 10.0
BODY_MARK = "neural_render_body"      # custom property on the armature object
MESH_MARK = "neural_render_mesh"      # custom property on the mesh object


@dataclass
class RiggedBody:
    armature: object   # bpy.types.Object (ARMATURE)
    mesh: object       # bpy.types.Object (MESH)


# ----------------------------------------------------------------------------------------------
# numpy helpers (no bpy)

def joint_basis(body) -> tuple[np.ndarray, np.ndarray]:
    """Rest joints as a linear function of beta, model space: J_t (24, 3) and J_dirs (24, 3, B)."""
    J_t = body.J_regressor @ body.v_template
    J_dirs = np.einsum("jv,vcb->jcb", body.J_regressor, body.shapedirs)
    return J_t.astype(np.float64), J_dirs.astype(np.float64)


def joints_for_betas(J_t: np.ndarray, J_dirs: np.ndarray, betas) -> np.ndarray:
    """(24, 3) model-space rest joints for `betas` (shorter vectors are zero-padded)."""
    b = _fit_betas(betas, J_dirs.shape[-1])
    return J_t + J_dirs @ b


def bone_tails(joints_model: np.ndarray) -> np.ndarray:
    """(24, 3) model-space bone tail points for rest joints (24, 3): each bone points at its child."""
    tails = np.empty_like(joints_model)
    for j in range(NUM_JOINTS):
        target = BONE_TARGET[j]
        if target is not None:
            tails[j] = joints_model[target]
        elif j in LEAF_DIRECTION:
            tails[j] = joints_model[j] + np.asarray(LEAF_DIRECTION[j])
        else:
            p = SMPL_PARENTS[j]
            d = joints_model[j] - joints_model[p]
            tails[j] = joints_model[j] + LEAF_CONTINUE_LENGTH * d / max(np.linalg.norm(d), 1e-9)
        if np.linalg.norm(tails[j] - joints_model[j]) < 1e-4:  # degenerate: Blender drops 0-length bones
            tails[j] = joints_model[j] + np.array([0.0, 0.05, 0.0])
    return tails


def motion_to_bone_channels(poses: np.ndarray, trans: np.ndarray, up: str, rest_rot: np.ndarray,
                            rest_pelvis_model: np.ndarray):
    """Convert SMPL parameters to Blender pose-bone channels.

    Args:
        poses: (T, 72) axis-angle, SMPL order, root first (radians).
        trans: (T, 3) metres; world Z-up when up == "z" (AMASS), model Y-up when up == "y".
        up: "z" or "y" (see DESIGN.md: with "z" the root already holds the Y-up -> Z-up turn).
        rest_rot: (24, 3, 3) rest rotation of each bone in armature space (bone.matrix_local).
        rest_pelvis_model: (3,) the rest pelvis joint for the current shape, model space.
    Returns:
        quaternions (T, 24, 4) (w, x, y, z) for pose_bone.rotation_quaternion, and the root bone's
        location (T, 3) for pose_bone.location (bone-local rest frame).
    """
    poses = np.asarray(poses, np.float64).reshape(-1, NUM_JOINTS, 3)
    trans = np.asarray(trans, np.float64).reshape(-1, 3)
    U = np.eye(3) if up == "z" else C
    R = rotations.rodrigues(poses)                                     # (T, 24, 3, 3) model-space locals
    Rw = np.einsum("ab,tjbc,dc->tjad", C, R, C)              # C R C^T: locals in the Z-up frame
    Rw[:, 0] = np.einsum("ab,tbc,dc->tad", U, R[:, 0], C)   # root: U R0 C^T (rest data is C-rotated)
    L = np.einsum("jba,tjbc,jcd->tjad", rest_rot, Rw, rest_rot)  # R_b^T R' R_b
    quats = rotations.quat_continuous(rotations.matrix_to_quat(L))
    J0 = np.asarray(rest_pelvis_model, np.float64)
    delta = (J0[None] + trans) @ U.T - (C @ J0)[None]       # posed pelvis - rest pelvis (world)
    loc = delta @ rest_rot[0]                                # R_b0^T delta
    return quats, loc


def pose_corrective_values(poses: np.ndarray) -> np.ndarray:
    """(T, 207) SMPL pose-corrective weights (R_j - I for joints 1..23, model space)."""
    R = rotations.rodrigues(np.asarray(poses, np.float64).reshape(-1, NUM_JOINTS, 3))
    return (R[:, 1:] - np.eye(3)).reshape(R.shape[0], -1)


def _fit_betas(betas, n: int) -> np.ndarray:
    b = np.zeros(n)
    if betas is not None:
        src = np.asarray(betas, np.float64).ravel()[:n]
        b[:src.size] = src
    return b


# ----------------------------------------------------------------------------------------------
# bpy side

def build_body(body, name: str = "SMPL", betas=None, collection=None, pose_correctives: bool = True,
               location=(0.0, 0.0, 0.0)) -> RiggedBody:
    """Create the rigged body (armature + skinned mesh with shape keys) in the current scene.

    Args:
        body: a `neural_render.body.BodyModel`.
        betas: optional initial shape (B,).
        collection: bpy collection to link into (default: the active collection).
        pose_correctives: add SMPL's pose-corrective shape keys when the model has them.
        location: armature object location (metres, world).
    """
    import bpy

    collection = collection or bpy.context.collection or bpy.context.scene.collection
    hands = getattr(body, "hands", None) is not None
    verts = body.v_template.astype(np.float64) @ C.T                 # rest template, world Z-up
    mesh_obj = _body_mesh_object(body, name, verts)
    _add_skin_weights(mesh_obj, body, hands)
    _add_shape_keys(mesh_obj, body, verts, pose_correctives)
    arm_obj = bpy.data.objects.new(name, bpy.data.armatures.new(f"{name}_rig"))
    arm_obj.location = location
    arm_obj.show_in_front = True
    collection.objects.link(arm_obj)
    collection.objects.link(mesh_obj)
    bones = _add_bones(arm_obj, body, hands)
    _skin_to_armature(mesh_obj, arm_obj)
    _store_body_properties(arm_obj, mesh_obj, body, bones)
    rig = RiggedBody(arm_obj, mesh_obj)
    if betas is not None:
        set_shape(arm_obj, betas)
    return rig


def _body_mesh_object(body, name: str, verts: np.ndarray):
    """The body's rest mesh (verts (V, 3) world), smooth shaded, with its part labels as the
    `smpl_part` point attribute, as an object not yet linked to a collection."""
    import bpy

    from neural_render.blender.bpy_util import new_triangle_mesh

    faces = np.asarray(body.faces, np.int64)
    mesh = new_triangle_mesh(f"{name}_mesh", verts, faces, body.vt, body.ft, calc_edges=True)
    mesh.polygons.foreach_set("use_smooth", np.ones(faces.shape[0], dtype=bool))
    if body.parts is not None:
        attr = mesh.attributes.new("smpl_part", "INT", "POINT")
        attr.data.foreach_set("value", np.asarray(body.parts, np.int32))
    mesh_obj = bpy.data.objects.new(f"{name}_mesh", mesh)
    mesh_obj[MESH_MARK] = True
    return mesh_obj


def _add_skin_weights(mesh_obj, body, hands: bool) -> None:
    """One vertex group per SMPL joint with SMPL's weights (zeros skipped); with hands, the hand
    joints' weights split over the finger bones."""
    from neural_render.blender import finger_rig

    W = finger_rig.rig_weights(body) if hands else np.asarray(body.weights, np.float64)
    names = list(SMPL_JOINT_NAMES) + (list(finger_rig.FINGER_BONES) if hands else [])
    for j, jname in enumerate(names):
        vg = mesh_obj.vertex_groups.new(name=jname)
        idx = np.flatnonzero(W[:, j] > 0)
        w = W[idx, j]
        # Group equal weights into one call (SMPL weights repeat a lot: 1.0 inside each part).
        order = np.argsort(w, kind="stable")
        w_sorted, idx_sorted = w[order], idx[order]
        cuts = np.flatnonzero(np.diff(w_sorted)) + 1
        for ids, ws in zip(np.split(idx_sorted, cuts), np.split(w_sorted, cuts)):
            if len(ids):
                vg.add(ids.tolist(), float(ws[0]), "REPLACE")


def _add_shape_keys(mesh_obj, body, verts: np.ndarray, pose_correctives: bool) -> None:
    """Basis = the template; one key per shape component (value = beta), then SMPL's
    pose-corrective keys when asked for and present."""
    mesh_obj.shape_key_add(name="Basis", from_mix=False)
    shapedirs = np.asarray(body.shapedirs, np.float64)
    for k in range(shapedirs.shape[-1]):
        key = mesh_obj.shape_key_add(name=f"{SHAPE_KEY_PREFIX}{k:03d}", from_mix=False)
        key.data.foreach_set("co", (verts + shapedirs[:, :, k] @ C.T).astype(np.float32).ravel())
        key.slider_min, key.slider_max = -SHAPE_SLIDER_RANGE, SHAPE_SLIDER_RANGE
        key.value = 0.0  # new keys are not reliably 0 (Blender 5 starts them at 1)
    if pose_correctives and body.posedirs is not None:
        posedirs = np.asarray(body.posedirs, np.float64)
        for k in range(posedirs.shape[-1]):
            key = mesh_obj.shape_key_add(name=f"{POSE_KEY_PREFIX}{k:03d}", from_mix=False)
            key.data.foreach_set("co", (verts + posedirs[:, :, k] @ C.T).astype(np.float32).ravel())
            key.slider_min, key.slider_max = -2.0, 2.0
            key.value = 0.0


@dataclass
class _Bones:
    """The rest bones as built (world, Z-up, metres) and the joint bases behind them (model space):
    J_t (24, 3) / J_dirs (24, 3, B) for the body joints, F_t / F_dirs for the finger joints (None
    without hands); heads/tails (24, 3) and f_heads/f_tails (30, 3); rolls of every bone in order."""

    J_t: np.ndarray
    J_dirs: np.ndarray
    heads: np.ndarray
    tails: np.ndarray
    rolls: list
    F_t: np.ndarray | None = None
    F_dirs: np.ndarray | None = None
    f_heads: np.ndarray | None = None
    f_tails: np.ndarray | None = None


def _add_bones(arm_obj, body, hands: bool) -> _Bones:
    """Edit bones with heads at the rest joints and tails toward the children (then the finger
    bones under the wrists); pose bones rotate by quaternion."""
    from neural_render.blender import finger_rig

    arm = arm_obj.data
    J_t, J_dirs = joint_basis(body)
    joints = joints_for_betas(J_t, J_dirs, None)
    out = _Bones(J_t, J_dirs, joints @ C.T, bone_tails(joints) @ C.T, [])
    with _edit_mode(arm_obj):
        ebs = []
        for j, jname in enumerate(SMPL_JOINT_NAMES):
            eb = arm.edit_bones.new(jname)
            eb.head, eb.tail, eb.roll = out.heads[j], out.tails[j], 0.0
            eb.use_deform = True
            if j > 0:
                eb.parent = ebs[SMPL_PARENTS[j]]
                eb.use_connect = False
            ebs.append(eb)
        if hands:
            out.F_t, out.F_dirs = finger_rig.finger_joint_basis(body)
            out.f_heads = out.F_t @ C.T
            out.f_tails = finger_rig.finger_tails(out.F_t, joints[22:24]) @ C.T
            for k, fname in enumerate(finger_rig.FINGER_BONES):
                eb = arm.edit_bones.new(fname)
                eb.head, eb.tail, eb.roll = out.f_heads[k], out.f_tails[k], 0.0
                eb.use_deform = True
                eb.parent = ebs[finger_rig.finger_parent(k)]
                eb.use_connect = False
                ebs.append(eb)
        out.rolls = [eb.roll for eb in ebs]
    for pb in arm_obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    return out


def _skin_to_armature(mesh_obj, arm_obj) -> None:
    """Parent the mesh to the armature with an Armature modifier (vertex groups, plain LBS)."""
    mesh_obj.parent = arm_obj
    mod = mesh_obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm_obj
    mod.use_vertex_groups = True
    mod.use_bone_envelopes = False
    mod.use_deform_preserve_volume = False  # SMPL is linear blend skinning


def _store_body_properties(arm_obj, mesh_obj, body, bones: _Bones) -> None:
    """The custom properties later steps read back (shape changes, keyframing, the model's path)."""
    num_betas = int(np.asarray(body.shapedirs).shape[-1])
    arm_obj[BODY_MARK] = True
    arm_obj["nr_joint_template"] = bones.J_t.ravel().tolist()
    arm_obj["nr_joint_dirs"] = bones.J_dirs.ravel().tolist()
    arm_obj["nr_num_betas"] = num_betas
    arm_obj["nr_betas"] = [0.0] * num_betas
    arm_obj["nr_bone_offsets"] = (bones.tails - bones.heads).ravel().tolist()
    arm_obj["nr_bone_rolls"] = [float(r) for r in bones.rolls[:NUM_JOINTS]]
    if bones.F_t is not None:
        arm_obj["nr_finger_joint_template"] = bones.F_t.ravel().tolist()
        arm_obj["nr_finger_joint_dirs"] = bones.F_dirs.ravel().tolist()
        arm_obj["nr_finger_offsets"] = (bones.f_tails - bones.f_heads).ravel().tolist()
        arm_obj["nr_finger_rolls"] = [float(r) for r in bones.rolls[NUM_JOINTS:]]
        arm_obj["nr_hands_mean"] = np.asarray(body.hands.hands_mean, np.float64).tolist()
    arm_obj["nr_body_path"] = body.path or "default"
    arm_obj["nr_body_name"] = body.name
    arm_obj["nr_gender"] = body.gender
    mesh_obj["nr_body_path"] = body.path or "default"


def find_mesh(arm_obj):
    """The body mesh object skinned to `arm_obj`."""
    for child in arm_obj.children:
        if child.get(MESH_MARK) and child.type == "MESH":
            return child
    raise LookupError(f"{arm_obj.name}: no neural_render body mesh among its children")


def find_armature(obj):
    """The body armature for `obj` (the armature itself, or the parent of a body mesh), or None."""
    while obj is not None:
        if obj.get(BODY_MARK) and obj.type == "ARMATURE":
            return obj
        obj = obj.parent
    return None


def joint_arrays(arm_obj) -> tuple[np.ndarray, np.ndarray]:
    """The stored joint basis (J_t (24, 3), J_dirs (24, 3, B)), model space."""
    B = int(arm_obj["nr_num_betas"])
    J_t = np.asarray(arm_obj["nr_joint_template"], np.float64).reshape(NUM_JOINTS, 3)
    J_dirs = np.asarray(arm_obj["nr_joint_dirs"], np.float64).reshape(NUM_JOINTS, 3, B)
    return J_t, J_dirs


def get_betas(arm_obj) -> np.ndarray:
    return np.asarray(arm_obj["nr_betas"], np.float64)


def set_shape(arm_obj, betas) -> None:
    """Set the shape (shape key values) and regenerate the joints (bone heads) for it."""
    import bpy

    B = int(arm_obj["nr_num_betas"])
    b = _fit_betas(betas, B)
    mesh_obj = find_mesh(arm_obj)
    blocks = mesh_obj.data.shape_keys.key_blocks
    for k in range(B):
        blocks[f"{SHAPE_KEY_PREFIX}{k:03d}"].value = float(b[k])
    J_t, J_dirs = joint_arrays(arm_obj)
    heads = joints_for_betas(J_t, J_dirs, b) @ C.T
    offsets = np.asarray(arm_obj["nr_bone_offsets"], np.float64).reshape(NUM_JOINTS, 3)
    rolls = list(arm_obj["nr_bone_rolls"])
    with _edit_mode(arm_obj):
        for j, jname in enumerate(SMPL_JOINT_NAMES):
            eb = arm_obj.data.edit_bones[jname]
            # Fixed offset and roll keep every bone's rest orientation, so keyframes stay valid.
            eb.head, eb.tail, eb.roll = heads[j], heads[j] + offsets[j], rolls[j]
        if has_fingers(arm_obj):
            from neural_render.blender.finger_rig import FINGER_BONES

            F_t = np.asarray(arm_obj["nr_finger_joint_template"], np.float64).reshape(30, 3)
            F_dirs = np.asarray(arm_obj["nr_finger_joint_dirs"], np.float64).reshape(30, 3, B)
            f_heads = joints_for_betas(F_t, F_dirs, b) @ C.T
            f_off = np.asarray(arm_obj["nr_finger_offsets"], np.float64).reshape(30, 3)
            f_rolls = list(arm_obj["nr_finger_rolls"])
            for k, fname in enumerate(FINGER_BONES):
                eb = arm_obj.data.edit_bones[fname]
                eb.head, eb.tail, eb.roll = f_heads[k], f_heads[k] + f_off[k], f_rolls[k]
    arm_obj["nr_betas"] = b.tolist()
    # The evaluated copies must see the new rest bones (else the modifier deforms with stale ones).
    arm_obj.data.update_tag()
    arm_obj.update_tag()
    mesh_obj.update_tag()
    bpy.context.view_layer.update()


def has_fingers(arm_obj) -> bool:
    """Whether the rig has SMPL-H's finger bones (built from a body with hands)."""
    return "nr_finger_joint_template" in arm_obj.keys()


def rest_rotations(arm_obj) -> np.ndarray:
    """(24, 3, 3) rest rotation of each bone in armature space."""
    return np.array([np.array(arm_obj.data.bones[n].matrix_local.to_3x3()) for n in SMPL_JOINT_NAMES])


def keyframe_motion(arm_obj, motion, frame_start: int = 1, name: str | None = None,
                    apply_shape: bool = True, set_scene_range: bool = True):
    """Keyframe a motion onto the body as a new Action (one per call); returns the action.

    Args:
        motion: a `neural_render.motion.Motion` (or any object with poses (T, 72), trans (T, 3),
            betas, fps, up); frame i of the motion lands on scene frame `frame_start + i`.
        apply_shape: set the body's shape to the motion's betas first (when it has non-zero ones).
        set_scene_range: make the scene's frame range cover the motion.
    """
    import bpy

    poses = np.asarray(motion.poses, np.float64).reshape(-1, NUM_JOINTS * 3)
    T = poses.shape[0]
    trans = np.asarray(motion.trans, np.float64).reshape(T, 3)
    up = str(getattr(motion, "up", "z") or "z")
    motion_betas = getattr(motion, "betas", None)
    if apply_shape and motion_betas is not None and np.any(np.asarray(motion_betas) != 0):
        set_shape(arm_obj, motion_betas)
    J_t, J_dirs = joint_arrays(arm_obj)
    J0 = joints_for_betas(J_t, J_dirs, get_betas(arm_obj))[0]
    hand_poses = getattr(motion, "hand_poses", None)
    if hand_poses is not None and has_fingers(arm_obj):
        # The finger bones carry the hands; SMPL's hand joints only summarise them.
        poses = poses.copy()
        poses[:, 66:72] = 0.0
    quats, loc = motion_to_bone_channels(poses, trans, up, rest_rotations(arm_obj), J0)
    frames = frame_start + np.arange(T, dtype=np.float64)

    action_name = name or "motion"
    action = bpy.data.actions.new(action_name)
    action.use_fake_user = True  # kept when another import replaces it (stack it in the NLA)
    channels = {}
    for j, jname in enumerate(SMPL_JOINT_NAMES):
        for i in range(4):
            channels[(f'pose.bones["{jname}"].rotation_quaternion', i, jname)] = quats[:, j, i]
    for i in range(3):
        channels[(f'pose.bones["{SMPL_JOINT_NAMES[0]}"].location', i, SMPL_JOINT_NAMES[0])] = loc[:, i]
    if has_fingers(arm_obj):  # finger bones: the hand poses, or the relaxed rest without them
        from neural_render.blender.finger_rig import FINGER_BONES, finger_local_rotations

        L = finger_local_rotations(hand_poses, np.asarray(arm_obj["nr_hands_mean"], np.float64), T)
        Rb = np.array([np.array(arm_obj.data.bones[n].matrix_local.to_3x3()) for n in FINGER_BONES])
        Lw = np.einsum("ab,tjbc,dc->tjad", C, L, C)
        fq = rotations.quat_continuous(rotations.matrix_to_quat(np.einsum("jba,tjbc,jcd->tjad", Rb, Lw, Rb)))
        for k, fname in enumerate(FINGER_BONES):
            for i in range(4):
                channels[(f'pose.bones["{fname}"].rotation_quaternion', i, fname)] = fq[:, k, i]
    _write_action(arm_obj, action, channels, frames)
    for pb in arm_obj.pose.bones:
        pb.rotation_mode = "QUATERNION"

    mesh_obj = find_mesh(arm_obj)
    keys = mesh_obj.data.shape_keys
    if keys is not None and f"{POSE_KEY_PREFIX}000" in keys.key_blocks:
        vals = pose_corrective_values(poses)
        corr = bpy.data.actions.new(f"{action_name}_correctives")
        corr.use_fake_user = True
        ch = {(f'key_blocks["{POSE_KEY_PREFIX}{k:03d}"].value', 0, "correctives"): vals[:, k]
              for k in range(vals.shape[1])}
        _write_action(keys, corr, ch, frames, id_type="KEY")

    fps = float(getattr(motion, "fps", getattr(motion, "mocap_framerate", 0)) or 0)
    action["nr_fps"] = fps
    action["nr_frames"] = T
    scene = bpy.context.scene
    if set_scene_range:
        scene.frame_start = int(frame_start)
        scene.frame_end = int(frame_start + T - 1)
    scene.frame_set(scene.frame_current)
    return action


def _write_action(id_data, action, channels: dict, frames: np.ndarray, id_type: str = "OBJECT") -> None:
    """Fill `action` with linear-interpolated keys and assign it to `id_data`.

    Works on Blender 4.2 (flat `action.fcurves`) and 4.4+/5.x (slotted actions: a slot and its
    channelbag; the flat API is gone in 5.0).
    """
    from bpy_extras import anim_utils

    ad = id_data.animation_data or id_data.animation_data_create()
    if hasattr(anim_utils, "action_ensure_channelbag_for_slot"):
        slot = action.slots.new(id_type=id_type, name=id_data.name)
        bag = anim_utils.action_ensure_channelbag_for_slot(action, slot)
        ad.action = action
        ad.action_slot = slot
        new_curve = lambda path, index, group: bag.fcurves.new(path, index=index, group_name=group)  # noqa: E731
    else:
        ad.action = action
        new_curve = lambda path, index, group: action.fcurves.new(path, index=index, action_group=group)  # noqa: E731
    T = len(frames)
    for (path, index, group), values in channels.items():
        fc = new_curve(path, index, group)
        fc.keyframe_points.add(T)
        co = np.empty((T, 2), np.float32)
        co[:, 0] = frames
        co[:, 1] = values
        fc.keyframe_points.foreach_set("co", co.ravel())
        # Linear keys every frame: exact at frames, no overshoot between them.
        fc.keyframe_points.foreach_set("interpolation", np.ones(T, np.int32))
        fc.update()
    if getattr(ad, "action_slot", False) is None and len(getattr(action, "slots", ())):
        # Blender 4.4/4.5: the flat API made a legacy slot that is not assigned by itself.
        ad.action_slot = action.slots[0]


class _edit_mode:
    """Enter edit mode on `obj` (made active) and restore the previous active object and mode."""

    def __init__(self, obj):
        self.obj = obj

    def __enter__(self):
        import bpy

        vl = bpy.context.view_layer
        self.prev_active = vl.objects.active
        self.prev_mode = self.prev_active.mode if self.prev_active is not None else "OBJECT"
        if self.prev_active is not None and self.prev_mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        vl.objects.active = self.obj
        bpy.ops.object.mode_set(mode="EDIT")
        return self

    def __exit__(self, *exc):
        import bpy

        bpy.ops.object.mode_set(mode="OBJECT")
        vl = bpy.context.view_layer
        if self.prev_active is not None and self.prev_active.name in vl.objects:
            vl.objects.active = self.prev_active
            if self.prev_mode != "OBJECT":
                try:
                    bpy.ops.object.mode_set(mode=self.prev_mode)
                except RuntimeError:
                    pass
        return False


def evaluated_vertices(mesh_obj, world: bool = True) -> np.ndarray:
    """(V, 3) vertices of the evaluated (deformed) mesh at the current frame, world coordinates."""
    import bpy

    dg = bpy.context.evaluated_depsgraph_get()
    ev = mesh_obj.evaluated_get(dg)
    me = ev.to_mesh()
    try:
        co = np.empty(len(me.vertices) * 3, np.float32)
        me.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3).astype(np.float64)
    finally:
        ev.to_mesh_clear()
    if world:
        M = np.array(mesh_obj.matrix_world)
        co = co @ M[:3, :3].T + M[:3, 3]
    return co


def posed_joints(arm_obj) -> np.ndarray:
    """(24, 3) world positions of the posed joints (bone heads) at the current frame."""
    M = np.array(arm_obj.matrix_world)
    heads = np.array([np.array(arm_obj.pose.bones[n].head) for n in SMPL_JOINT_NAMES])
    return heads @ M[:3, :3].T + M[:3, 3]
