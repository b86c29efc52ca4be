"""Pose-conditioned generator: passes (skeleton, parts, normals, depth, mask, UV) -> frames of one person.

In the Everybody-Dance-Now / pix2pixHD line, made small enough to train from scratch on a CPU:

- `neural_texture.NeuralTexture`: a learnable multi-resolution feature texture in the body's UV
  space, sampled through the UV pass with `grid_sample` (does most of the work: appearance is tied
  to the body surface, so it transfers to poses never seen in training).
- `networks.Generator`: ResNet encoder-decoder (with skips) that turns [sampled texture, passes,
  previous generated frame] into RGB; `networks.CropRefiner` adds residuals on face and hand crops.
- `discriminators`: multiscale PatchGAN on consecutive-frame pairs, plus a crop discriminator.
- `losses`: L1, (MS-)SSIM, LSGAN, feature matching, optional VGG (only with local weights).
- `data`: the paired dataset reader (frames/ + pass folders + legend.json).
- `train`, `infer`, `metrics`, `checkpoint` (safetensors, exact resume), `video`, `cli`, `bench`.

Torch is imported by these modules; nothing here is imported by Blender-side code.
"""
