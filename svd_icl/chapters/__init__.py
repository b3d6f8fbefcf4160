"""What each chapter of the book runs and states, above the claims: the sequential confirmation runner
(:mod:`svd_icl.chapters.confirmation`) and, per chapter, the typed claim records its notebook records."""
