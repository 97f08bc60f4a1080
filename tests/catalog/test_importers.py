"""Specs for catalog.importers: layouts, chunked reading, validation and error reports."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.importers import (
    EVENT_TYPES,
    ColumnMap,
    ImportFileError,
    ReadOptions,
    RowError,
    detect_layout,
    errors_to_csv,
    preview,
    read_interactions,
    read_items,
    read_raters,
    sniff,
    source,
)

DATA_DIR = Path(__file__).parent.parent / "data"
HEADER = "user_id,item_id,rating,timestamp\n"


def write(directory: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def read_all(
    path: Path, reader=read_interactions, **options
) -> tuple[pd.DataFrame, list[RowError]]:
    chunks = list(reader(path, ReadOptions(**options)))
    frame = pd.concat([chunk.frame for chunk in chunks], ignore_index=True)
    return frame, [error for chunk in chunks for error in chunk.errors]


def only_error(path: Path, **options) -> RowError:
    frame, errors = read_all(path, **options)
    assert len(errors) == 1, errors
    return errors[0]


# --- frames and ids ------------------------------------------------------------------------


def test_reads_ok_fixture_with_ids_exactly_as_written():
    frame, errors = read_all(DATA_DIR / "ratings_ok.csv")

    assert errors == []
    assert len(frame) == 20
    assert frame.loc[0, ["rater", "item"]].tolist() == ["007", "0042"]
    assert frame["line"].tolist() == list(range(2, 22))


def test_frame_has_exactly_the_agreed_columns_and_dtypes():
    frame, _ = read_all(DATA_DIR / "ratings_ok.csv")

    assert list(frame.columns) == ["line", "rater", "item", "event_type", "value", "occurred_at"]
    assert frame["line"].dtype == np.int64
    assert frame["value"].dtype == np.float64
    assert str(frame["occurred_at"].dtype) == "datetime64[ns, UTC]"
    assert pd.api.types.is_string_dtype(frame["rater"])
    assert pd.api.types.is_string_dtype(frame["event_type"])


def test_ids_are_never_inferred_as_numbers(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "007,12.0,4,1\n1e3, 0x1F ,4,1\n")

    frame, _ = read_all(path)

    assert frame["rater"].tolist() == ["007", "1e3"]
    assert frame["item"].tolist() == ["12.0", "0x1F"]  # surrounding spaces are trimmed


def test_duplicate_rows_are_kept_with_their_lines(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "a,b,4,1\na,b,2,2\n")

    frame, _ = read_all(path)

    assert frame["line"].tolist() == [2, 3]
    assert frame["value"].tolist() == [4.0, 2.0]


def test_chunks_are_bounded_by_chunk_rows(tmp_path):
    rows = "".join(f"u{i},i{i},3,1\n" for i in range(25))
    path = write(tmp_path, "r.csv", HEADER + rows)

    chunks = list(read_interactions(path, ReadOptions(chunk_rows=10)))

    assert [chunk.rows_read for chunk in chunks] == [10, 10, 5]
    assert pd.concat([c.frame for c in chunks])["line"].tolist() == list(range(2, 27))


# --- row errors ----------------------------------------------------------------------------


def test_bad_fixture_reports_each_error_with_line_and_column():
    """The expectations are listed by line in tests/data/README.md."""
    frame, errors = read_all(DATA_DIR / "ratings_bad.csv")

    assert frame["line"].tolist() == [2, 14, 15, 17, 18]
    assert frame["event_type"].tolist() == ["rating", "view", "rating", "click", "like"]
    assert frame["value"].tolist() == [4.0, 3.0, 2.0, 1.0, 4.0]
    assert [(e.line, e.column) for e in errors] == [
        (3, "user_id"),
        (4, "item_id"),
        (5, "rating"),
        (6, "rating"),
        (7, "rating"),
        (8, "rating"),
        (9, "rating"),
        (10, "event"),
        (11, "timestamp"),
        (12, None),
        (13, None),
    ]


def test_reports_line_and_column_of_bad_rating(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "a,b,4,1\na,c,7,1\n")

    error = only_error(path)

    assert (error.line, error.column, error.value) == (3, "rating", "7")
    assert error.message == "rating 7 is outside the scale 0.5–5"


def test_scale_comes_from_options(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "a,b,7,1\na,c,0.5,1\n")

    error = only_error(path, value_min=1, value_max=10)

    assert error.line == 3
    assert error.message == "rating 0.5 is outside the scale 1–10"


def test_scale_applies_to_ratings_only_and_other_events_default_to_one(tmp_path):
    content = "user,item,value,event\na,b,250,purchase\na,c,,view\na,d,,rating\n"
    path = write(tmp_path, "r.csv", content)

    frame, errors = read_all(path)

    assert frame["value"].tolist() == [250.0, 1.0]
    assert [(e.line, e.message) for e in errors] == [(4, "the rating is missing")]


def test_unknown_event_type_lists_the_allowed_ones(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating,action\na,b,4,bought\na,b,, Not Interested\n")

    frame, errors = read_all(path)

    assert frame["event_type"].tolist() == ["not_interested"]
    assert errors[0].column == "action"
    assert errors[0].message.endswith("expected one of: " + ", ".join(EVENT_TYPES))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("four", "'four' is not a number"),
        ("NaN", "'NaN' is not a finite number"),
        ("-inf", "'-inf' is not a finite number"),
        ("", "the rating is missing"),
        ("4,5", "'4,5' is not a number"),
    ],
)
def test_rejects_values_that_are_not_finite_numbers(tmp_path, raw, message):
    path = write(tmp_path, "r.csv", f'{HEADER}a,b,3,1\na,b,"{raw}",1\n')

    error = only_error(path)

    assert (error.line, error.column, error.message) == (3, "rating", message)


def test_numbers_with_spaces_are_fine(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "a,b, 4 , 881250949 \n")

    frame, errors = read_all(path)

    assert errors == []
    assert frame.loc[0, "value"] == 4.0


def test_rating_events_need_a_value_column(tmp_path):
    path = write(tmp_path, "r.csv", "user_id,item_id\na,b\n")

    with pytest.raises(ImportFileError, match="no rating"):
        read_all(path)
    frame, _ = read_all(path, default_event_type="view")
    assert frame[["event_type", "value"]].values.tolist() == [["view", 1.0]]


def test_wrong_number_of_fields_is_reported_with_its_line(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "a,b,4,1\na,b\na,b,4,1,extra\na,c,4,1\n")

    frame, errors = read_all(path)

    assert frame["line"].tolist() == [2, 5]
    assert [(e.line, e.value, e.message) for e in errors] == [
        (3, "a,b", "expected 4 fields, found 2"),
        (4, "a,b,4,1,extra", "expected 4 fields, found 5"),
    ]


def test_quoted_newlines_keep_line_numbers_exact(tmp_path):
    content = (
        "user,item,rating,note\n"
        'a,b,4,"one\nbreak"\n'  # lines 2-3
        'a,c,4,"two\n\nbreaks"\n'  # lines 4-6
        'a,d,9,"bad row\nspanning"\n'  # lines 7-8, rating out of range
        'a,e,4,"x\ny",extra\n'  # lines 9-10, too many fields
        "a,f,4,ok\n"  # line 11
    )
    path = write(tmp_path, "r.csv", content)

    frame, errors = read_all(path)

    assert frame["line"].tolist() == [2, 4, 11]
    assert [e.line for e in errors] == [7, 9]


def test_blank_lines_are_skipped_but_still_counted(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "\na,b,4,1\n\n\na,c,9,1\n\n")

    chunk = next(read_interactions(path))

    assert chunk.frame["line"].tolist() == [3]
    assert [e.line for e in chunk.errors] == [6]
    assert chunk.rows_read == 2


@pytest.mark.parametrize("row", ['a,"b,4,1\na,c,4,1\n', 'a,"b\nc",4,1\n'])
def test_a_line_break_in_a_record_hints_at_an_open_quote(tmp_path, row):
    path = write(tmp_path, "r.csv", HEADER + row)

    _, errors = read_all(path)

    assert len(errors) == 1
    assert 'is a quote (") left open?' in errors[0].message


def _reference_start_lines(text: str) -> list[int]:
    """Start line of every non-blank record, from the csv module's own line counting."""
    reader = csv.reader(io.StringIO(text))
    starts, previous_end = [], 0
    for record in reader:
        if record:
            starts.append(previous_end + 1)
        previous_end = reader.line_num
    return starts[1:]  # without the header


@pytest.mark.parametrize("seed", range(5))
def test_line_numbers_stay_exact_across_chunks_and_parser_blocks(tmp_path, monkeypatch, seed):
    monkeypatch.setattr(source, "_BLOCK", 200)  # many small pyarrow batches
    rnd = random.Random(seed)
    rows = []
    for index in range(300):
        note = rnd.choice(["x", '"a\nb"', '"c\n\nd"', '"q""uote, comma"', ""])
        fields = [f"u{index}", f"i{index}", rnd.choice(["4", "4", "9"]), note]
        if rnd.random() < 0.1:
            fields.append("extra")
        rows.append(",".join(fields) + ("\n\n" if rnd.random() < 0.05 else "\n"))
    text = "user,item,rating,note\n" + "".join(rows)
    path = write(tmp_path, "r.csv", text)

    frame, errors = read_all(path, chunk_rows=7)

    found = sorted([*frame["line"].tolist(), *(e.line for e in errors)])
    assert found == _reference_start_lines(text)


# --- timestamps ----------------------------------------------------------------------------


def test_timestamps_in_seconds_milliseconds_and_iso_all_become_utc(tmp_path):
    content = HEADER + "".join(
        f"a,b,4,{value}\n"
        for value in (
            "1614834367",
            "1614834367000",
            "1614834367.5",
            "2021-03-04T05:06:07Z",
            "2021-03-04T07:06:07+02:00",
            "2021-03-04 05:06:07",
            "2021-03-04",
            "",
        )
    )
    path = write(tmp_path, "r.csv", content)

    frame, errors = read_all(path)

    assert errors == []
    expected = pd.Timestamp("2021-03-04T05:06:07Z")
    times = frame["occurred_at"].tolist()
    assert times[0] == times[1] == times[3] == times[4] == times[5] == expected
    assert times[2] == expected + pd.Timedelta("500ms")
    assert times[6] == pd.Timestamp("2021-03-04", tz="UTC")
    assert pd.isna(times[7])  # an empty timestamp is unknown, not an error


def test_unparseable_and_out_of_range_timestamps_are_row_errors(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "a,b,4,yesterday\na,b,4,99999999999999999\n")

    _, errors = read_all(path)

    assert [(e.line, e.column) for e in errors] == [(2, "timestamp"), (3, "timestamp")]
    assert "not a timestamp" in errors[0].message
    assert "out of range" in errors[1].message


@pytest.mark.parametrize("first", ["1700000000", "9649827081247812473"])
def test_integers_past_int64_are_out_of_range_timestamps(tmp_path, first):
    # 19 digits and more overflow int64: each is a row error, never a crash of the chunk.
    too_long = ("9649827081247812473", "-9999999999999999999", "1" * 25)
    rows = [f"a,b,4,{first}", *(f"a,b,4,{value}" for value in too_long), "a,b,4,1700000001"]
    path = write(tmp_path, "r.csv", HEADER + "\n".join(rows) + "\n")

    frame, errors = read_all(path)

    expected_lines = [2, 3, 4, 5] if first != "1700000000" else [3, 4, 5]
    assert [(e.line, e.column) for e in errors] == [(n, "timestamp") for n in expected_lines]
    assert all("out of range" in e.message for e in errors)
    assert len(frame) == 5 - len(expected_lines)


def test_file_without_timestamp_column_gives_nat(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\na,b,4\n")

    frame, _ = read_all(path)

    assert str(frame["occurred_at"].dtype) == "datetime64[ns, UTC]"
    assert frame["occurred_at"].isna().all()


# --- whole-file errors ---------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"  \n\n\t \r\n"])
def test_empty_file_is_a_file_error(tmp_path, content):
    path = write(tmp_path, "r.csv", content)

    with pytest.raises(ImportFileError, match="empty"):
        detect_layout(path)


def test_header_only_file_says_so(tmp_path):
    path = write(tmp_path, "r.csv", HEADER)

    with pytest.raises(ImportFileError, match="header row but no data rows") as caught:
        read_all(path)
    assert caught.value.line == 1


@pytest.mark.parametrize(
    "content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"PK\x03\x04\x14\x00\x06\x00"]
)
def test_binary_file_renamed_csv_is_not_a_text_file(tmp_path, content):
    path = write(tmp_path, "ratings.csv", content * 10)

    with pytest.raises(ImportFileError, match="not a text file"):
        detect_layout(path)


def test_missing_columns_error_names_the_columns_found(tmp_path):
    path = write(tmp_path, "r.csv", "a,b,c\n1,2,3\n")
    message = (
        "could not find the rater and item columns; found columns: a, b, c "
        "— map them on the upload page"
    )

    layout = detect_layout(path, options=ReadOptions(has_header=True))
    with pytest.raises(ImportFileError) as caught:
        read_all(path, has_header=True)

    # Detection still succeeds, so the upload page can show the columns to map.
    assert (layout.column_map, layout.columns) == (None, ["a", "b", "c"])
    assert layout.description.endswith(message)
    assert caught.value.message == message


def test_missing_item_id_column_is_reported_when_reading(tmp_path):
    path = write(tmp_path, "i.csv", "name,colour\nHeat,red\n")

    with pytest.raises(ImportFileError, match="could not find the item id column; found columns"):
        preview(path, ReadOptions(kind="items"))


def test_undecodable_text_with_explicit_encoding_is_a_file_error(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "a,Mis\xe9rables,4,1\n", encoding="latin-1")

    with pytest.raises(ImportFileError, match="not valid utf-8") as caught:
        detect_layout(path, options=ReadOptions(encoding="utf-8"))
    assert caught.value.line == 2


def test_undecodable_bytes_beyond_the_sample_are_a_file_error_with_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sniff, "SAMPLE_BYTES", 64)
    rows = "".join(f"u{i},i{i},4,1\n" for i in range(20))
    path = write(tmp_path, "r.csv", (HEADER + rows).encode() + b"u,caf\xe9,4,1\n")

    with pytest.raises(ImportFileError, match="not valid utf-8") as caught:
        read_all(path, encoding="utf-8")
    assert (caught.value.line, caught.value.column) == (22, "item_id")


def test_auto_encoding_decodes_stray_latin1_bytes_beyond_the_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(sniff, "SAMPLE_BYTES", 64)
    rows = "".join(f"u{i},i{i},4,1\n" for i in range(20))
    path = write(tmp_path, "r.csv", (HEADER + rows).encode() + b"u,caf\xe9,4,1\n")

    frame, errors = read_all(path)

    assert errors == []
    assert frame["item"].iloc[-1] == "café"


def test_unknown_encoding_name_is_a_file_error(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "a,b,4,1\n")

    with pytest.raises(ImportFileError, match="unknown text encoding"):
        detect_layout(path, options=ReadOptions(encoding="klingon"))


# --- encodings, delimiters, quoting --------------------------------------------------------


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path):
    path = write(tmp_path, "r.csv", "\ufeff" + HEADER + "a,b,4,1\n")

    layout = detect_layout(path)

    assert layout.columns[0] == "user_id"
    assert layout.column_map.rater == "user_id"


def test_utf8_bom_is_not_part_of_the_first_id_without_header(tmp_path):
    path = write(tmp_path, "r.csv", "\ufeff1,2,4,1\n")

    frame, _ = read_all(path)

    assert frame.loc[0, "rater"] == "1"


def test_latin1_text_decodes_under_auto(tmp_path):
    path = write(tmp_path, "i.csv", 'item_id,title\n1,"Misérables, Les"\n', encoding="latin-1")

    layout = detect_layout(path)
    frame, _ = read_all(path, reader=read_items)

    assert layout.encoding == "latin-1"
    assert frame.loc[0, "title"] == "Misérables, Les"


def test_utf16_with_bom_is_read(tmp_path):
    path = write(tmp_path, "r.txt", "user\titem\trating\nä\tb\t4\n", encoding="utf-16")

    frame, _ = read_all(path)

    assert frame[["rater", "item"]].values.tolist() == [["ä", "b"]]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|", "::"])
def test_sniffs_the_delimiter(tmp_path, delimiter):
    lines = ["user", "item", "rating"], ["a", "b", "4"], ["c", "d", "2.5"]
    path = write(tmp_path, "r.txt", "".join(delimiter.join(line) + "\n" for line in lines))

    layout = detect_layout(path)
    frame, _ = read_all(path)

    assert layout.delimiter == delimiter
    assert frame[["rater", "item", "value"]].values.tolist() == [["a", "b", 4.0], ["c", "d", 2.5]]


def test_double_colon_split_across_stream_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(source, "_STREAM_BLOCK", 3)  # every '::' straddles some boundary
    rows = [f"{i}::{100 + i}::{i % 5 + 1}::97825{i:04d}" for i in range(30)]
    path = write(tmp_path, "ratings.dat", "\n".join(rows) + "\n")

    frame, errors = read_all(path)

    assert errors == []
    assert frame["item"].tolist() == [str(100 + i) for i in range(30)]


def test_quoted_fields_hold_delimiters_quotes_and_newlines(tmp_path):
    content = 'item_id;title;genres\n"a;1";"say ""hi""\nthere";Drama\n'
    path = write(tmp_path, "items.csv", content)

    frame, _ = read_all(path, reader=read_items)

    assert frame[["external_id", "title"]].values.tolist() == [["a;1", 'say "hi"\nthere']]


# --- column roles --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("userId,movieId,rating,timestamp", ("userId", "movieId", "rating", "timestamp", None)),
        ("Customer ID,Product,score,date", ("Customer ID", "Product", "score", "date", None)),
        ("rater,item,value,ts,event_type", ("rater", "item", "value", "ts", "event_type")),
        ("sku,user,stars,datetime,action", ("user", "sku", "stars", "datetime", "action")),
    ],
)
def test_header_synonyms_map_the_roles(tmp_path, header, expected):
    path = write(tmp_path, "data.csv", header + "\n" + ",".join(["1"] * len(header.split(","))))

    layout = detect_layout(path)

    assert layout.kind == "interactions"
    assert layout.column_map == ColumnMap(*expected)


def test_explicit_column_map_overrides_detection(tmp_path):
    path = write(tmp_path, "r.csv", "who,what,stars,when\na,b,4,1\n")

    options = ReadOptions(column_map=ColumnMap(rater="who", item="what", value="stars"))
    layout = detect_layout(path, options=options)
    frame, _ = read_all(path, column_map=options.column_map)

    assert layout.column_map == ColumnMap("who", "what", "stars")
    assert frame[["rater", "item", "value"]].values.tolist() == [["a", "b", 4.0]]


def test_column_map_takes_positions_for_a_headerless_file(tmp_path):
    path = write(tmp_path, "r.csv", "4,a,b\n")

    frame, _ = read_all(path, column_map=ColumnMap(rater="1", item="2", value="0"))

    assert frame[["rater", "item", "value"]].values.tolist() == [["a", "b", 4.0]]


def test_unknown_column_in_map_names_the_columns_found(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "a,b,4,1\n")

    with pytest.raises(ImportFileError, match="found columns: user_id, item_id") as caught:
        detect_layout(path, options=ReadOptions(column_map=ColumnMap("who", "item_id")))
    assert caught.value.column == "who"


def test_headerless_generic_file_is_taken_by_position_with_role_in_errors(tmp_path):
    path = write(tmp_path, "r.csv", "1,2,4,881250949\n1,3,x,881250949\n")

    layout = detect_layout(path)
    _, errors = read_all(path)

    assert layout.has_header is False
    assert layout.columns == ["column 1", "column 2", "column 3", "column 4"]
    assert errors[0].column == "column 3 (value)"


# --- MovieLens -----------------------------------------------------------------------------

U_ITEM_ROW = (
    "543|Misérables, Les (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Mis%E9rables"
    "|0|0|0|0|0|0|0|0|1|0|0|0|1|0|0|0|0|0|0\n"
)


@pytest.mark.parametrize(
    ("name", "content", "encoding", "kind", "description"),
    [
        ("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n", "utf-8", "interactions",
         "MovieLens 100K ratings (u.data): tab-separated, no header"),
        ("u1.base", "1\t1\t5\t874965758\n", "utf-8", "interactions",
         "MovieLens 100K ratings (u1.base): tab-separated, no header"),
        ("u.item", U_ITEM_ROW, "latin-1", "items",
         "MovieLens 100K movies (u.item): '|'-separated, no header, Latin-1"),
        ("u.user", "1|24|M|technician|85711\n", "utf-8", "raters",
         "MovieLens 100K users (u.user): '|'-separated, no header"),
        ("ratings.dat", "1::1193::5::978300760\n", "utf-8", "interactions",
         "MovieLens 1M ratings (ratings.dat): '::'-separated, no header"),
        ("movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n", "latin-1", "items",
         "MovieLens 1M movies (movies.dat): '::'-separated, no header, Latin-1"),
        ("users.dat", "1::F::1::10::48067\n", "utf-8", "raters",
         "MovieLens 1M users (users.dat): '::'-separated, no header"),
        ("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n", "utf-8",
         "interactions",
         "MovieLens (latest) ratings (ratings.csv): comma-separated, with a header"),
        ("movies.csv", 'movieId,title,genres\n1,"Toy Story (1995)",Adventure|Animation\n',
         "utf-8", "items",
         "MovieLens (latest) movies (movies.csv): comma-separated, with a header"),
    ],
)  # fmt: skip
def test_detects_movielens_layouts(tmp_path, name, content, encoding, kind, description):
    path = write(tmp_path, name, content, encoding=encoding)

    layout = detect_layout(path)

    assert (layout.kind, layout.description) == (kind, description)
    assert layout.format.startswith("movielens")


def test_filename_argument_names_a_stored_upload(tmp_path):
    path = write(tmp_path, "upload-8f3a.bin", "196\t242\t3\t881250949\n")

    assert detect_layout(path, filename="u.data").format == "movielens-100k"


def test_explicit_column_map_overrides_a_movielens_layout(tmp_path):
    path = write(tmp_path, "u.data", "196\t242\t3\t881250949\n")

    options = ReadOptions(column_map=ColumnMap(rater="1", item="0", value="2"))
    frame, _ = read_all(path, column_map=options.column_map)

    assert frame[["rater", "item", "value"]].values.tolist() == [["242", "196", 3.0]]
    assert frame["occurred_at"].isna().all()


def test_movielens_name_with_other_content_falls_back_to_generic(tmp_path):
    path = write(tmp_path, "ratings.csv", "user,item,score\na,b,4\n")

    layout = detect_layout(path)

    assert (layout.format, layout.column_map.value) == ("csv", "score")


def test_reads_movielens_100k_items_with_genre_flags_in_latin1(tmp_path):
    path = write(tmp_path, "u.item", U_ITEM_ROW, encoding="latin-1")

    frame, errors = read_all(path, reader=read_items)

    row = frame.iloc[0]
    assert errors == []
    assert (row["external_id"], row["title"]) == ("543", "Misérables, Les (1995)")
    assert row["genres"] == ["Drama", "Musical"]
    assert row["attributes"] == {
        "release_date": "1995-01-01",
        "url": "http://us.imdb.com/M/title-exact?Mis%E9rables",
        "year": 1995,
    }


def test_reads_movielens_100k_raters(tmp_path):
    path = write(tmp_path, "u.user", "1|24|M|technician|85711\n2|x|F|other|94043\n")

    frame, errors = read_all(path, reader=read_raters)

    assert frame["external_id"].tolist() == ["1"]
    assert frame.loc[0, "attributes"] == {
        "age": 24,
        "gender": "M",
        "occupation": "technician",
        "zip": "85711",
    }
    assert [(e.line, e.column, e.message) for e in errors] == [
        (2, "column 2 (age)", "age 'x' is not a whole number")
    ]


def test_reads_movielens_1m_movies_and_users(tmp_path):
    content = '2::Jumanji (1995)::Adventure|Children\'s\n73::"Misérables, Les" (1995)::Drama\n'
    movies = write(tmp_path, "movies.dat", content, encoding="latin-1")
    users = write(tmp_path, "users.dat", "1::F::1::10::48067\n")

    frame = read_all(movies, reader=read_items)[0]
    user = read_all(users, reader=read_raters)[0].iloc[0]

    movie = frame.iloc[0]
    assert movie["genres"] == ["Adventure", "Children's"]
    assert movie["attributes"] == {"year": 1995}
    assert frame.loc[1, "title"] == '"Misérables, Les" (1995)'  # not CSV-quoted in .dat files
    assert user["attributes"] == {
        "gender": "F",
        "age": 1,
        "age_group": "Under 18",
        "occupation": "K-12 student",
        "zip": "48067",
    }


def test_reads_movielens_1m_ratings(tmp_path):
    path = write(tmp_path, "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n")

    frame, _ = read_all(path)

    assert frame[["rater", "item", "value"]].values.tolist() == [
        ["1", "1193", 5.0],
        ["1", "661", 3.0],
    ]
    assert frame.loc[0, "occurred_at"] == pd.Timestamp(978300760, unit="s", tz="UTC")


def test_movielens_latest_empty_genre_marker_is_an_empty_list(tmp_path):
    content = (
        "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,X,(no genres listed)\n"
    )
    path = write(tmp_path, "movies.csv", content)

    frame, _ = read_all(path, reader=read_items)

    assert frame["genres"].tolist() == [["Adventure", "Animation"], []]


# --- items and raters ----------------------------------------------------------------------


def test_reads_items_fixture():
    frame, errors = read_all(DATA_DIR / "items_ok.csv", reader=read_items)

    assert errors == []
    assert list(frame.columns) == [
        "line", "external_id", "title", "description", "genres", "attributes",
    ]  # fmt: skip
    assert frame["external_id"].tolist()[:2] == ["0042", "12"]
    assert frame.loc[0, "genres"] == ["Sci-Fi", "Comedy"]
    assert frame.loc[1, "title"] == "Misérables, Les (1995)"
    assert frame.loc[2, "title"] == 'A "Quoted" Title'
    assert frame.loc[3, "genres"] == []


def test_items_keep_extra_columns_as_attributes_and_reject_empty_ids(tmp_path):
    content = "id,name,overview,year,studio\n1,Heat,Cops,1995,WB\n,Nameless,,,\n"
    path = write(tmp_path, "catalogue.csv", content)

    frame, errors = read_all(path, reader=read_items)

    row = frame.iloc[0]
    assert (row["title"], row["description"]) == ("Heat", "Cops")
    assert row["attributes"] == {"year": 1995, "studio": "WB"}
    assert [(e.line, e.column, e.message) for e in errors] == [(3, "id", "the id is empty")]


def test_raters_file_is_detected_from_its_header(tmp_path):
    path = write(tmp_path, "people.csv", "user_id,sex,age\n007,F,31\n")

    layout = detect_layout(path)
    frame, _ = read_all(path, reader=read_raters)

    assert layout.kind == "raters"
    assert frame.loc[0, "external_id"] == "007"
    assert frame.loc[0, "attributes"] == {"gender": "F", "age": 31}


def test_reading_a_file_of_another_kind_is_a_file_error(tmp_path):
    path = write(tmp_path, "people.csv", "user_id,sex,age\n007,F,31\n")
    layout = detect_layout(path)

    with pytest.raises(ImportFileError, match="holds raters, not interactions"):
        next(read_interactions(path, ReadOptions(), layout))


# --- Parquet -------------------------------------------------------------------------------


def test_parquet_fixture_reads_with_row_numbers_and_string_ids():
    layout = detect_layout(DATA_DIR / "ratings.parquet")
    frame, errors = read_all(DATA_DIR / "ratings.parquet")

    assert (layout.format, errors) == ("parquet", [])
    assert frame["line"].tolist() == [1, 2, 3, 4, 5]
    assert frame["rater"].tolist() == ["1", "1", "2", "3", "3"]
    assert frame["item"].tolist() == ["12", "13", "12", "7", "42"]
    assert frame.loc[0, "occurred_at"] == pd.Timestamp(881250949, unit="s", tz="UTC")
    assert pd.isna(frame.loc[3, "occurred_at"])


def test_parquet_ids_become_strings(tmp_path):
    table = pa.table(
        {
            "user": pa.array([1, 2, None], pa.int32()),
            "item": pa.array([12.0, 1.5, 3.0]),
            "rating": pa.array(["4", "x", "5"]).dictionary_encode(),
        }
    )
    pq.write_table(table, tmp_path / "r.parquet")

    frame, errors = read_all(tmp_path / "r.parquet", chunk_rows=2)

    assert frame[["rater", "item"]].values.tolist() == [["1", "12"]]
    assert [(e.line, e.column) for e in errors] == [(2, "rating"), (3, "user")]


def test_format_parquet_on_a_text_file_is_a_file_error(tmp_path):
    path = write(tmp_path, "r.parquet", HEADER + "a,b,4,1\n")

    with pytest.raises(ImportFileError, match="not a Parquet file"):
        detect_layout(path, options=ReadOptions(format="parquet"))


# --- reports -------------------------------------------------------------------------------


def test_errors_to_csv_neutralises_spreadsheet_formulas():
    errors = [
        RowError(2, "rating", "=HYPERLINK(1)", "x"),
        RowError(3, "@col", "+1", "-oops"),
        RowError(None, None, "\tTAB", "plain, with comma"),
    ]

    rows = list(csv.reader(io.StringIO(errors_to_csv(errors))))

    assert rows == [
        ["line", "column", "value", "message"],
        ["2", "rating", "'=HYPERLINK(1)", "x"],
        ["3", "'@col", "'+1", "'-oops"],
        ["", "", "'\tTAB", "plain, with comma"],
    ]


def test_row_error_value_is_truncated_to_200_characters(tmp_path):
    path = write(tmp_path, "r.csv", HEADER + "a,b," + "9" * 500 + ",1\n")

    error = only_error(path)

    assert len(error.value) == 200


def test_import_file_error_str_includes_the_location():
    error = ImportFileError("bad bytes", line=3, column="title")

    assert str(error) == "line 3, column 'title': bad bytes"
    assert (error.message, error.line, error.column) == ("bad bytes", 3, "title")


# --- preview -------------------------------------------------------------------------------


def test_preview_returns_the_first_records_and_their_errors():
    layout, frame, errors = preview(DATA_DIR / "ratings_bad.csv", rows=4)

    assert layout.kind == "interactions"
    assert frame["line"].tolist() == [2]
    assert [e.line for e in errors] == [3, 4, 5]


# --- NUL characters: PostgreSQL text and JSON cannot store them --------------------------


def test_a_nul_in_an_id_deep_in_a_text_file_is_a_row_error(tmp_path):
    # Past the first MiB the upload check for binary files no longer sees it.
    rows = "".join(f"u{n},i{n},4,1700000000\n" for n in range(60_000))
    path = write(tmp_path, "r.csv", HEADER + rows + "u\x00x,i1,4,1700000000\n")

    frame, errors = read_all(path)

    assert [(e.line, e.column, e.value) for e in errors] == [(60_002, "user_id", "u\u2400x")]
    assert "NUL" in errors[0].message
    assert len(frame) == 60_000


def test_nul_characters_in_parquet_values_are_row_errors(tmp_path):
    ratings = pa.table({"user_id": ["u1", "u2"], "item_id": ["i\x00", "i2"], "rating": [4, 5]})
    pq.write_table(ratings, tmp_path / "r.parquet")
    items = pa.table({"item_id": ["i1", "i2"], "title": ["A\x00B", "Fine"], "genres": ["", ""]})
    pq.write_table(items, tmp_path / "items.parquet")
    raters = pa.table({"user_id": ["u1", "u2"], "occupation": ["ok", "x\x00"]})
    pq.write_table(raters, tmp_path / "users.parquet")

    _, rating_errors = read_all(tmp_path / "r.parquet")
    items_frame, item_errors = read_all(tmp_path / "items.parquet", reader=read_items)
    raters_frame, rater_errors = read_all(tmp_path / "users.parquet", reader=read_raters)

    assert [(e.line, e.column) for e in rating_errors] == [(1, "item_id")]
    assert [(e.line, e.column, e.message) for e in item_errors] == [
        (1, "title", "the title holds a NUL character (0x00), which cannot be stored")
    ]
    assert [(e.line, e.column) for e in rater_errors] == [(2, "occupation")]
    assert list(items_frame["external_id"]) == ["i2"]
    assert list(raters_frame["external_id"]) == ["u1"]


# --- values the catalog cannot hold, and Parquet types beyond the usual (found by fuzzing) --


def test_ids_longer_than_the_catalog_holds_are_row_errors(tmp_path):
    long_id = "u" * 256
    ratings = write(tmp_path, "r.csv", HEADER + f"{long_id},i1,4,1\nu2,i2,4,1\n")
    items = write(tmp_path, "items.csv", f"item_id,title\n{'i' * 256},Long\ni2,Fine\n")

    _, rating_errors = read_all(ratings)
    items_frame, item_errors = read_all(items, reader=read_items)

    assert [(e.line, e.column) for e in rating_errors] == [(2, "user_id")]
    assert "longer than 255 characters" in rating_errors[0].message
    assert [(e.line, e.column) for e in item_errors] == [(2, "item_id")]
    assert list(items_frame["external_id"]) == ["i2"]


def test_event_values_beyond_what_the_table_holds_are_row_errors(tmp_path):
    content = "user,item,event,value\nu1,i1,view,1e300\nu2,i2,view,-2e9\nu3,i3,view,7\n"
    path = write(tmp_path, "events.csv", content)

    frame, errors = read_all(path)

    assert [(e.line, e.column) for e in errors] == [(2, "value"), (3, "value")]
    assert "beyond ±1e+09" in errors[0].message
    assert list(frame["value"]) == [7.0]


def test_parquet_integers_past_int64_and_float_precision_are_read_exactly_or_refused(tmp_path):
    big = 2**64 - 5  # uint64 only
    table = pa.table(
        {
            "user_id": pa.array([big, 7], pa.uint64()),
            "item_id": pa.array([1, 2], pa.int64()),
            "rating": pa.array([4, 2**62], pa.int64()),  # past 2**53: no exact float
            "timestamp": pa.array([big, 1_700_000_000], pa.uint64()),
        }
    )
    pq.write_table(table, tmp_path / "r.parquet")

    frame, errors = read_all(tmp_path / "r.parquet")

    assert [(e.line, e.column) for e in errors] == [(1, "timestamp"), (2, "rating")]
    assert frame.empty
    ids_only = ColumnMap(rater="user_id", item="item_id")
    clicks, _ = read_all(tmp_path / "r.parquet", column_map=ids_only, default_event_type="click")
    assert list(clicks["rater"]) == [str(big), "7"]  # the exact decimal id, not a float's


def test_parquet_binary_lists_and_far_timestamps_read_without_a_crash(tmp_path):
    items = pa.table(
        {
            "item_id": pa.array([b"i1", b"caf\xe9"], pa.binary()),  # not UTF-8: read as Latin-1
            "title": ["One", "Two"],
            "genres": pa.array([["Drama", "Comedy"], []], pa.list_(pa.string())),
        }
    )
    pq.write_table(items, tmp_path / "items.parquet")
    raters = pa.table(
        {"user_id": ["u1"], "age": pa.array([10**15], pa.timestamp("ms"))}  # past year 9999
    )
    pq.write_table(raters, tmp_path / "users.parquet")

    items_frame, item_errors = read_all(tmp_path / "items.parquet", reader=read_items)
    _, rater_errors = read_all(tmp_path / "users.parquet", reader=read_raters)

    assert item_errors == []
    assert list(items_frame["external_id"]) == ["i1", "café"]
    assert list(items_frame["genres"]) == [["Drama", "Comedy"], []]
    assert [(e.line, e.column) for e in rater_errors] == [(1, "age")]
    assert "not a whole number" in rater_errors[0].message


def test_a_parquet_column_of_an_unreadable_type_fails_the_file_naming_it(tmp_path):
    nested = pa.array([{"a": 1}], pa.struct([("a", pa.int64())]))
    pq.write_table(
        pa.table({"user_id": nested, "item_id": ["i1"], "rating": [4]}), tmp_path / "r.parquet"
    )

    with pytest.raises(ImportFileError) as caught:
        read_all(tmp_path / "r.parquet")

    assert caught.value.column == "user_id"
    assert "cannot be imported" in caught.value.message


def test_a_message_quoting_a_nul_shows_its_symbol(tmp_path):
    raters = pa.table({"user_id": ["u1"], "age": ["4\x00"]})
    pq.write_table(raters, tmp_path / "users.parquet")

    _, errors = read_all(tmp_path / "users.parquet", reader=read_raters)

    assert all("\x00" not in f"{e.value}{e.message}" for e in errors)
    assert errors
