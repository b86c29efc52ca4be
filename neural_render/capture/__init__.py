"""Real video -> paired training data: fit the body to the person, render passes at the video's
camera, crop/undistort the real frames to match, estimate the background, split by time."""
