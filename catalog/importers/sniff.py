"""Look at the start of a file: is it text, which encoding, which delimiter, is there a header."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .errors import ImportFileError

SAMPLE_BYTES = 1 << 20
SNIFF_RECORDS = 100
DELIMITERS = (",", "\t", ";", "|")
# pyarrow splits on one character only, so '::' (MovieLens 1M) is rewritten to this one.
DOUBLE_COLON_STAND_IN = "\x1f"
# Error handler name: decode invalid UTF-8 bytes as Latin-1 instead of failing.
LATIN1_FALLBACK = "recsite-latin1-fallback"

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
# "user_id", "ID", "movieId", "item id" (but not a data value such as "android").
_ID_NAME = re.compile(r"(?:^|[_\s.\-])(?:id|Id|ID)$|[a-z](?:Id|ID)$")


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(LATIN1_FALLBACK, _latin1_fallback)


@dataclass(frozen=True)
class Sample:
    """The decoded start of a file, cut at the last complete line."""

    text: str
    complete: bool  # the sample is the whole file
    encoding: str  # canonical codec name, "utf-8" or "latin-1" for auto
    is_parquet: bool = False


def canonical_encoding(name: str) -> str:
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise ImportFileError(f"unknown text encoding {name!r}") from None
    return {"iso8859-1": "latin-1", "utf-8-sig": "utf-8"}.get(codec, codec)


def decoder_codec(encoding: str) -> str:
    """The codec to decode with: utf-8-sig so a byte-order mark never reaches a column name."""
    return "utf-8-sig" if encoding == "utf-8" else encoding


def read_sample(path: Path, encoding: str = "auto") -> Sample:
    """Read and decode the first MiB; raise ImportFileError for files that cannot be text data."""
    size = path.stat().st_size
    if size == 0:
        raise ImportFileError("the file is empty (0 bytes)")
    with path.open("rb") as handle:
        raw = handle.read(SAMPLE_BYTES)
    complete = len(raw) == size
    if raw.startswith(b"PAR1"):
        return Sample(text="", complete=complete, encoding="utf-8", is_parquet=True)
    chosen = _choose_encoding(raw, encoding, complete)
    if b"\x00" in raw and not chosen.startswith("utf-16") and not chosen.startswith("utf-32"):
        raise ImportFileError(_binary_message(raw))
    text = _decode_sample(raw, chosen, strict=encoding != "auto", complete=complete)
    if not text.strip():
        raise ImportFileError("the file is empty (it holds only blank space)")
    if not complete:
        cut = text.rfind("\n")
        if cut < 0:
            raise ImportFileError("the first line is longer than 1 MiB; this is not a CSV file")
        text = text[: cut + 1]
    return Sample(text=text, complete=complete, encoding=chosen)


def _binary_message(raw: bytes) -> str:
    if raw.startswith(b"PK\x03\x04"):
        hint = " (it is a ZIP archive, perhaps an Excel workbook: export the sheet as CSV)"
    elif raw.startswith(b"\x1f\x8b"):
        hint = " (it is gzip-compressed: decompress it first)"
    else:
        hint = " (it contains NUL bytes)"
    return f"not a text file{hint}; upload CSV, TSV or Parquet"


def _choose_encoding(raw: bytes, requested: str, complete: bool) -> str:
    if requested != "auto":
        return canonical_encoding(requested)
    if raw.startswith(_UTF16_BOMS):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(raw, final=complete)
    except UnicodeDecodeError:
        # Valid multi-byte sequences mean UTF-8 with a few stray bytes: keep UTF-8 and decode
        # just those bytes as Latin-1. Without any, the file is Latin-1 through and through.
        return "utf-8" if _UTF8_MULTIBYTE.search(raw) else "latin-1"
    return "utf-8"


def _decode_sample(raw: bytes, encoding: str, *, strict: bool, complete: bool) -> str:
    errors = "strict" if strict or encoding != "utf-8" else LATIN1_FALLBACK
    decoder = codecs.getincrementaldecoder(decoder_codec(encoding))(errors)
    try:
        return decoder.decode(raw, final=complete)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportFileError(
            f"the file is not valid {encoding} text (byte {exc.start + 1}); "
            "choose the file's encoding on the upload page",
            line=line,
        ) from None


def split_records(text: str, delimiter: str | None, *, quoting: bool = True) -> list[list[str]]:
    """Parse up to SNIFF_RECORDS non-blank records of the sample with the csv module."""
    if delimiter == "::":
        text, delimiter = text.replace("::", DOUBLE_COLON_STAND_IN), DOUBLE_COLON_STAND_IN
    reader = csv.reader(
        io.StringIO(text),
        delimiter=delimiter or ",",
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
        strict=False,
    )
    records: list[list[str]] = []
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                records.append(record)
            if len(records) >= SNIFF_RECORDS:
                break
    except csv.Error:
        pass  # a field the csv module refuses: judge the delimiter on what was read
    return records


def sniff_delimiter(text: str) -> str | None:
    """Pick the delimiter that splits the sample into the most consistent number of fields."""
    lines = [line for line in text.splitlines()[:SNIFF_RECORDS] if line.strip()]
    if lines and all("::" in line for line in lines):
        return "::"
    best: tuple[float, int] = (0.0, 0)
    chosen = None
    for delimiter in DELIMITERS:
        counts = [len(record) for record in split_records(text, delimiter)]
        if not counts:
            continue
        fields, frequency = Counter(counts).most_common(1)[0]
        score = (frequency / len(counts), fields)
        if fields >= 2 and score[0] >= 0.9 and score > best:
            best, chosen = score, delimiter
    return chosen


def normalise_name(name: str) -> str:
    """'User ID', 'user_id' and 'userId' all become 'userid'."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_header(records: list[list[str]], known_names: frozenset[str]) -> bool:
    """A first record is a header if it names known columns, or holds words above numbers."""
    first, rest = records[0], records[1:]
    if any(normalise_name(cell) in known_names or _ID_NAME.search(cell.strip()) for cell in first):
        return True
    for index, cell in enumerate(first):
        column = [record[index].strip() for record in rest if index < len(record)]
        numeric = sum(1 for value in column if value and is_number(value))
        if column and not is_number(cell.strip()) and numeric >= 0.8 * len(column):
            return True
    return False
