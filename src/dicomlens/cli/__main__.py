"""``python -m dicomlens.cli``: the same as the ``dicomlens`` command."""

import sys

from dicomlens.cli.main import main

sys.exit(main())
