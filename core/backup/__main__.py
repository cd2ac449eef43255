import sys

from core.backup.cli import main

sys.exit(main(sys.argv[1:]))
