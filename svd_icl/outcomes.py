"""The words a verdict is stated in: a case's outcome, a claim's status and its quantifier, as enums.

They sit below every other module (a table's sentence may name an outcome without importing the decision core);
:mod:`svd_icl.claims.core` decides them.
"""

from __future__ import annotations

from enum import Enum


class _Text(str, Enum):
    """A string-valued enum that formats, prints, compares and serialises as its value (JSON, pandas, f-strings),
    so records written before the enum existed read back equal to its members."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Outcome(_Text):
    """The decision on one case."""

    HOLDS = "holds"
    FAILS = "does not hold"
    UNDETERMINED = "undetermined"
    NOT_INFORMATIVE = "not informative"


class Status(_Text):
    """A claim's status over its cases, from its quantifier (:func:`claim_status`)."""

    REPRODUCED = "reproduced"
    REFUTED = "not reproduced"
    UNDETERMINED = "undetermined"


class Quantifier(_Text):
    """What a claim says of its cases: that the effect is there in every case, or in at least one."""

    EVERY = "every case"
    SOME = "some case"
