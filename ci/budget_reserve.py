"""Print the seconds of required work the chapters after CHAPTER still need, from the build plan's estimate file
(``svd-icl plan --save``): what a time budget keeps for them (svd_icl.chapters.confirmation.Budget). 0 when the
file or the chapter is missing (the budget then guards the deadline alone).

    python ci/budget_reserve.py build/default/plan_estimate.json fig1
"""

import json
import sys
from pathlib import Path


def reserve(path: Path, chapter: str) -> float:
    if not path.exists():
        return 0.0
    chapters = json.loads(path.read_text())["chapters"]  # in build order
    names = list(chapters)
    later = names[names.index(chapter) + 1 :] if chapter in names else []
    return sum(chapters[name]["required_seconds"] for name in later)


if __name__ == "__main__":
    print(round(reserve(Path(sys.argv[1]), sys.argv[2])))
