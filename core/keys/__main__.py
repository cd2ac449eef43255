import sys

from core.keys.cli import main

sys.exit(main(sys.argv[1:]))
