"""Allow ``python -m boundary_mail``."""

import sys

from boundary_mail.cli import main

sys.exit(main())
