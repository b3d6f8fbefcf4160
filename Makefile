.PHONY: help setup book smoke test
help:  ## list the targets
	@grep -E '^[a-z]+:.*##' Makefile | sed 's/:.*## /\t/'
setup:  ## create/refresh .venv (idempotent)
	bash ci/setup.sh --browser
book:  ## build the book at the notebooks' defaults (set SVD_ICL_DATA)
	bash ci/build_book.sh
smoke:  ## build the book with the smoke profile
	bash ci/build_book.sh smoke
test:  ## run all the tests (set SVD_ICL_DATA)
	bash ci/test.sh
