import sys

from eegmi.cli import main

sys.exit(main())
