from config_center.console.diff_rows import Row, side_by_side
from config_center.content.diff import unified


def test_a_replacement_is_paired_and_context_kept():
    old = "a: 1\nb: 2\nc: 3\n"
    new = "a: 1\nb: 20\nb2: 21\nc: 3\n"
    rows = side_by_side(unified(old, new))
    assert rows[0].kind == "hunk"
    assert rows[1:] == [
        Row("same", 1, "a: 1", 1, "a: 1"),
        Row("change", 2, "b: 2", 2, "b: 20"),
        Row("change", None, None, 3, "b2: 21"),
        Row("same", 3, "c: 3", 4, "c: 3"),
    ]


def test_an_added_file_numbers_from_one_and_equal_texts_give_no_rows():
    rows = side_by_side(unified("", "x: 1\ny: 2\n"))
    assert [(r.kind, r.old_number, r.new_number, r.new_text) for r in rows[1:]] == [
        ("change", None, 1, "x: 1"), ("change", None, 2, "y: 2")]
    assert side_by_side(unified("same\n", "same\n")) == []
