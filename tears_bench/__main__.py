import sys

from tears_bench.cli import main

sys.exit(main())
