import sys

from svd_icl.plan.cli import main

sys.exit(main())
