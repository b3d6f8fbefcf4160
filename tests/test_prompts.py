"""Each task's prompt format, pinned exactly: a change of one space changes accuracy (COPA: 13/20 vs 14-15/20)."""

import pandas as pd
import pytest

from svd_icl.prompts import render_example, visible_whitespace
from svd_icl.tasks import TaskData, get_task

ROWS = {
    "sst2": ({"sentence": "a  fine film ", "label": 1}, {"sentence": "dull", "label": 0}),
    "agnews": ({"text": "Goal!", "label": 1}, {"text": "Stocks up", "label": 2}),
    "emoc": ({"text": "i am sad", "label": 1}, {"text": "hello there", "label": 0}),
    "mrpc": ({"sentence1": "A.", "sentence2": "B.", "label": 1}, {"sentence1": "C.", "sentence2": "D.", "label": 0}),
    "rte": ({"premise": "P.", "hypothesis": "H", "label": 0}, {"premise": "Q.", "hypothesis": "J", "label": 1}),
    "cb": ({"premise": "P.", "hypothesis": "H", "label": 2}, {"premise": "Q.", "hypothesis": "J", "label": 0}),
    "copa": (
        {"premise": "The man fell.", "question": "cause", "choice1": "He slipped.", "choice2": "He sang.", "label": 0},
        {"premise": "It rained.", "question": "effect", "choice1": "Ground wet.", "choice2": "Sun out.", "label": 0},
    ),
}

EXPECTED = {
    "sst2": "text: a fine film\nsentiment: positive\ntext: dull\nsentiment: negative",
    "agnews": "text: Goal!\nclassification: sports\ntext: Stocks up\nclassification: world",
    "emoc": "text: i am sad\nsentiment: emotion\ntext: hello there\nsentiment: others",
    "mrpc": "sentence1: A.\nsentence2: B.\nlabel: true\nsentence1: C.\nsentence2: D.\nlabel: false",
    "rte": "P. Does this mean that H is true? select Yes or No? Yes\n"
    "Q. Does this mean that J is true? select Yes or No? Yes",
    "cb": 'Suppose P. Can we infer that "H"? Yes, No, or Maybe? Maybe\n'
    'Suppose Q. Can we infer that "J"? Yes, No, or Maybe? Yes',
    # COPA: the query ends with a newline and the choice follows it with no space
    "copa": "The man fell.\ncause\nHe slipped.\nIt rained.\neffect\nGround wet.",
}


@pytest.mark.parametrize("task", list(ROWS))
def test_each_task_renders_exactly(task):
    demo, query = ROWS[task]
    data = TaskData(get_task(task), pd.DataFrame([demo]), pd.DataFrame([query]), pd.DataFrame([query]), 0)
    assert render_example(data) == EXPECTED[task]


def test_visible_whitespace_marks_spaces_and_newlines():
    assert visible_whitespace("a b\nc") == "a·b⏎\nc"
