"""``python -m examples.demo``: see :mod:`examples.demo.run`."""

import sys

from examples.demo.run import main

sys.exit(main())
