"""``python -m deepsets_trigger``."""

import sys

from deepsets_trigger.cli import main

sys.exit(main())
