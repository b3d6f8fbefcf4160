"""Every verdict the book states: the shared decision core (:mod:`svd_icl.claims.core`) and the chapters' claims
(:mod:`svd_icl.claims.chapters`), re-exported here so that a chapter imports ``from svd_icl.claims import ...``."""

from svd_icl.claims.chapters import *  # noqa: F403
from svd_icl.claims.chapters import __all__ as _chapter_names
from svd_icl.claims.core import *  # noqa: F403
from svd_icl.claims.core import __all__ as _core_names

__all__ = sorted({*_chapter_names, *_core_names})
