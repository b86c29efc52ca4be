"""Headless synthetic datasets: seeded scene randomization, labels (COCO, OpenPose, SMPL), resumable
serial / process-pool / Ray runners, and `neural-render batch` / `neural-render dataset check`."""
