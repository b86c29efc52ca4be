import sys

from neural_render.cli import main

sys.exit(main())
