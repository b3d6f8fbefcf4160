"""Tasks: data loading and its errors, seeded splits and balanced demonstrations, prompt encoding."""

import numpy as np
import pytest

from svd_icl.prompts import encode, label_token_ids
from svd_icl.tasks import TASKS, balanced_demonstrations, get_task, load_split, prepare
from tests.tiny_models import tiny_tokenizer, write_tiny_sst2


@pytest.fixture
def data_dir(tmp_path):
    return write_tiny_sst2(tmp_path)


def test_all_seven_tasks_are_defined():
    assert set(TASKS) == {"sst2", "agnews", "emoc", "mrpc", "rte", "cb", "copa"}


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown task 'sst5'.*sst2.*copa"):
        get_task("sst5")


def test_missing_file_names_path_and_both_fixes(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"rte/train\.jsonl.*SVD_ICL_DATA.*Hugging Face Hub"):
        load_split("rte", "train", tmp_path)


def test_environment_variable_is_the_default_data_dir(data_dir, monkeypatch):
    monkeypatch.setenv("SVD_ICL_DATA", str(data_dir))
    assert len(load_split("sst2", "validation")) == 40


def test_prepare_is_deterministic_and_disjoint(data_dir):
    root = write_tiny_sst2(data_dir.parent / "big", n_train=8100)
    a = prepare("sst2", shots=4, seed=3, n_validation=10, n_test=10, data_root=root)
    b = prepare("sst2", shots=4, seed=3, n_validation=10, n_test=10, data_root=root)
    c = prepare("sst2", shots=4, seed=4, n_validation=10, n_test=10, data_root=root)
    assert a.demos.equals(b.demos) and a.test.equals(b.test) and a.validation.equals(b.validation)
    assert not a.demos.equals(c.demos)
    # SST-2 draws demonstrations, validation and test all from train: no sentence may be reused
    assert not set(a.demos.sentence) & set(a.test.sentence)
    assert sorted(a.demos.label) == [0, 0, 1, 1]


@pytest.mark.parametrize("order", ["interleaved", "shuffled"])
def test_balanced_demonstrations(order):
    import pandas as pd

    pool = pd.DataFrame({"label": [0] * 10 + [1] * 10 + [2] * 3})
    idx = balanced_demonstrations(pool, 7, 3, np.random.default_rng(0), order)
    labels = pool.label[idx].tolist()
    assert sorted(labels) == [0, 0, 0, 1, 1, 2, 2]
    if order == "interleaved":
        assert labels == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError, match="class 2 has only 3"):
        balanced_demonstrations(pool, 12, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="order 'random'"):
        balanced_demonstrations(pool, 3, 3, np.random.default_rng(0), "random")


def test_empty_split_is_an_error(data_dir):
    # 60 train rows: the 8,000-row validation rule takes them all and leaves SST-2's test split empty
    with pytest.raises(ValueError, match="sst2: the test split is empty"):
        prepare("sst2", shots=2, data_root=data_dir)


def test_encode_builds_prefix_queries_and_label_tokens(data_dir):
    write_tiny_sst2(data_dir.parent / "big", n_train=8100)
    tok = tiny_tokenizer()
    data = prepare("sst2", shots=2, seed=0, n_validation=5, data_root=data_dir.parent / "big")
    p = encode(data, "validation", tok)
    assert len(p) == 5 and p.labels.tolist() == data.validation.label.tolist()
    assert tok.decode(p.prefix).count("sentiment:") == 2
    assert tok.decode(p.queries[0]).startswith("text: ") and tok.decode(p.queries[0]).endswith("sentiment:")
    assert [tok.decode(c) for c in p.candidates[0]] == [" negative", " positive"]


def test_odd_label_words_are_refused():
    tok = tiny_tokenizer()
    with pytest.raises(ValueError, match="same tokens"):
        label_token_ids(tok, ("good", "good"))
    with pytest.raises(ValueError, match="is empty"):
        label_token_ids(tok, ("good", " "))

    class UnknownMapping:  # a tokenizer that maps an unseen word to <unk>
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [7]}

        def decode(self, ids):
            return "<unk>"

    with pytest.raises(ValueError, match="tokenizes oddly"):
        label_token_ids(UnknownMapping(), ("zebra",))
