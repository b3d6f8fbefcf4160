"""The results file as a record: header, foreign files refused, one record per key, torn tails, concurrent writers."""

import json
import multiprocessing as mp

import pytest

from svd_icl.results import FORMAT_VERSION, ResultsFileError, ResultStore, check_writable, load_results

KEY = ("a",)


def test_new_file_starts_with_a_header_and_keeps_one_record_per_key(tmp_path):
    store = ResultStore(tmp_path / "r.jsonl", KEY)
    assert store.append({"a": 1, "v": "first"})
    assert not store.append({"a": 1, "v": "second"})  # same key: not written again
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["svd_icl_results"] == FORMAT_VERSION
    assert [json.loads(x)["v"] for x in lines[1:]] == ["first"]


@pytest.mark.parametrize("content", ["my notes\nmore notes\n", '{"split": 3}\n', "\x00\x01binary"])
def test_a_foreign_file_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_text(content)
    with pytest.raises(ResultsFileError, match="notes.txt is not an svd_icl results file"):
        ResultStore(path, KEY).append({"a": 1})
    assert path.read_text() == content


def test_a_results_file_of_another_kind_is_refused(tmp_path):
    ResultStore(tmp_path / "r.jsonl", KEY, kind="algorithm1").append({"a": 1})
    with pytest.raises(ResultsFileError, match="holds 'algorithm1' results, not 'sweep'"):
        ResultStore(tmp_path / "r.jsonl", KEY, kind="sweep").records()


def test_torn_tail_is_repaired_on_open_even_with_nothing_left_to_write(tmp_path):
    path = tmp_path / "r.jsonl"
    ResultStore(path, KEY).append({"a": 1})
    with path.open("a") as fh:
        fh.write('{"format": 2, "a": 2, "tru')  # a kill mid-write
    report = ResultStore(path, KEY).open()
    assert report.torn_lines_repaired == 1 and report.points == 1
    assert all(json.loads(line) for line in path.read_text().splitlines())  # valid JSON lines again


def test_report_counts_duplicates_and_unknown_records(tmp_path):
    path = tmp_path / "r.jsonl"
    ResultStore(path, KEY).append({"a": 1})
    with path.open("a") as fh:
        fh.write(json.dumps({"format": FORMAT_VERSION, "a": 1}) + "\n")  # a duplicate written by an old version
        fh.write(json.dumps({"format": 1, "a": 9}) + "\n")  # an older format: never reused
        fh.write(json.dumps({"format": FORMAT_VERSION, "b": 2}) + "\n")  # lacks the key
    frame, report = load_results(path, KEY)
    assert frame.a.tolist() == [1]
    assert (report.points, report.duplicates, report.unknown_records) == (1, 1, 2)


def _writer(path: str, start: int, barrier) -> None:
    store = ResultStore(path, KEY)
    store.open()
    barrier.wait()
    for i in range(40):
        store.append({"a": (start + i) % 40, "payload": "x" * 500})


def test_two_concurrent_writers_never_duplicate_or_interleave(tmp_path):
    path = str(tmp_path / "r.jsonl")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(path, s, barrier)) for s in (0, 20)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    lines = open(path).read().splitlines()
    records = [json.loads(line) for line in lines[1:]]  # every line parses: nothing interleaved
    assert sorted(r["a"] for r in records) == list(range(40))


def test_unwritable_outputs_are_named(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResultsFileError, match="is a directory"):
        check_writable(tmp_path)
    with pytest.raises(ResultsFileError, match="a parent of it is a file"):
        check_writable(tmp_path / "file" / "r.jsonl")
    assert check_writable(tmp_path / "new" / "dir" / "r.jsonl").parent.is_dir()  # missing parents are created
