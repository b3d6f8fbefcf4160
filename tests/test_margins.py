"""Margins live in one dated file: every margin has a reason, a date and says whether it was set after the data it
decides; changing a value without a dated history entry fails here."""

import datetime

import yaml

from svd_icl.claims.core import MARGINS, MARGINS_FILE, margins_set_after_data


def _spec():
    return yaml.safe_load(MARGINS_FILE.read_text())


def test_every_margin_has_a_reason_a_date_and_a_data_flag():
    for name, entry in _spec()["margins"].items():
        assert entry["reason"].strip(), name
        assert isinstance(entry["set"], datetime.date), name
        assert isinstance(entry["after_data"], bool), name
        assert entry["value"] > 0, name


def test_the_values_in_force_are_the_last_dated_entry():
    """A change of a margin needs a new entry at the end of the history, with its date and why."""
    history = _spec()["history"]
    dates = [h["date"] for h in history]
    assert dates == sorted(dates) and all(h["note"].strip() for h in history)
    assert {k: float(v) for k, v in history[-1]["values"].items()} == MARGINS
    for name, entry in _spec()["margins"].items():  # a margin's date is the first entry that has its value
        first = next(h["date"] for h in history if name in h["values"] and h["values"][name] == entry["value"])
        assert first <= entry["set"], name


def test_margins_set_after_the_data_are_named():
    assert set(margins_set_after_data()) == {"rho", "share"}
