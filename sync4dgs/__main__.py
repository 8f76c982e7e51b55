import sys

from sync4dgs.cli.main import main

sys.exit(main())
