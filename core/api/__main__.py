"""`python -m core.api [--host H] [--port P] [--workers N]`: the API alone, one worker process per core."""

import sys

from core.api.serve import main

sys.exit(main())
