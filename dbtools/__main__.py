"""`python -m dbtools`."""

import gc
import sys

from dbtools.cli import main

code = main()
# The run is over (every connection closed, every `finally` done): what is still alive is torn down by the
# interpreter at exit, and the collector's passes over it then are a tenth of a no-op run. Frozen, they are
# skipped; atexit handlers and the flushing of stdout and stderr happen as before.
gc.freeze()
sys.exit(code)
