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


def test_queries_are_the_same_for_every_shot_number_and_order(data_dir):
    root = write_tiny_sst2(data_dir.parent / "big", n_train=8200)
    runs = [
        prepare("sst2", shots=k, seed=5, n_validation=30, n_test=30, data_root=root, order=o)
        for k in (0, 4, 10)
        for o in ("shuffled", "interleaved")
    ]
    for run in runs[1:]:
        assert run.test.equals(runs[0].test) and run.validation.equals(runs[0].validation)
    # one seed, two orders: the same demonstrations, rearranged; the 4 shots are among the 10
    ten_shuffled, ten_interleaved, four = runs[4].demos, runs[5].demos, runs[2].demos
    assert sorted(ten_shuffled.sentence) == sorted(ten_interleaved.sentence)
    assert ten_interleaved.label.tolist() == [0, 1] * 5
    assert set(four.sentence) <= set(ten_shuffled.sentence)
    # no demonstration is ever a query
    queries = set(runs[4].test.sentence) | set(runs[4].validation.sentence)
    assert not queries & set(ten_shuffled.sentence)
    # another seed draws other queries
    other = prepare("sst2", shots=4, seed=6, n_validation=30, n_test=30, data_root=root)
    assert not other.test.equals(runs[0].test)


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"sentence": "a", "label": 0}\n{"sentence": "b", "label": 1\n', r"sst2/train\.jsonl line 2: not valid JSON"),
        ('{"sentence": "a"}\n', r"sst2/train\.jsonl: rows lack field 'label' \(sst2 needs sentence, label\)"),
        ('{"text": "a", "label": 0}\n', r"rows lack field 'sentence'"),
        ("", r"sst2/train\.jsonl is empty"),
        ("[1, 2]\n", r"line 1: expected a JSON object"),
        ('{"sentence": "a", "label": 7}\n', r"row 1 has label 7; sst2 labels are 0, 1"),
    ],
)
def test_bad_data_files_are_named_with_line_and_field(tmp_path, content, message):
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "train.jsonl").write_text(content)
    with pytest.raises(ValueError, match=message):
        load_split("sst2", "train", tmp_path)


def test_subsample_sizes_must_be_positive(data_dir):
    with pytest.raises(ValueError, match=r"n_test -5: must be an integer >= 1 \(or unset\)"):
        prepare("sst2", shots=2, n_test=-5, data_root=data_dir)
    with pytest.raises(ValueError, match=r"n_validation 0: must be an integer >= 1 \(or unset\)"):
        prepare("sst2", shots=2, n_validation=0, data_root=data_dir)


def test_an_unreachable_hub_says_how_to_use_local_files(monkeypatch):
    import datasets

    from svd_icl.tasks import load_split

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'super_glue' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.delenv("SVD_ICL_DATA", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(FileNotFoundError, match=r"cannot load super_glue/rte \(train\) .* set SVD_ICL_DATA"):
        load_split("rte", "train")
