"""Stream records out of a file in bounded chunks, each record with its physical line number.

Text files go through pyarrow's streaming CSV reader on one thread: one thread because only
then does pyarrow number the malformed rows it hands to `invalid_row_handler`, and those
numbers anchor the line arithmetic below. Every column is read as binary so that pyarrow
never infers types (ids stay exactly as written) and so that bad UTF-8 can be dealt with per
value instead of failing the whole file.
"""

from __future__ import annotations

import codecs
import io
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .errors import ImportFileError, RowError, row_error
from .options import FileLayout
from .sniff import DOUBLE_COLON_STAND_IN, LATIN1_FALLBACK, decoder_codec

logger = logging.getLogger(__name__)

# pyarrow's streaming reader keeps ~36 blocks in flight (its background readahead), so the
# block size sets the memory used: 1 MiB blocks cap it near 40 MiB, whatever the file's size.
# A single record longer than a block cannot be parsed.
_BLOCK = 1 << 20
_STREAM_BLOCK = 1 << 20
# MovieLens .dat and u.* files are not CSV-quoted: a title may start with '"'.
_UNQUOTED_FORMATS = ("movielens-100k", "movielens-1m")


@dataclass
class RawChunk:
    """Records of one chunk before validation."""

    columns: dict[str, pa.Array]  # the requested columns; text files give pa.string()
    lines: np.ndarray  # int64, physical line (text) or 1-based row number (Parquet)
    errors: list[RowError]  # records with the wrong number of fields
    rows_read: int  # records in this chunk, malformed ones included, blank lines not
    has_line_breaks: bool = False  # some field holds a line break (quoted)


def raw_chunks(
    path: Path, layout: FileLayout, columns: list[str], *, chunk_rows: int, strict: bool
) -> Iterator[RawChunk]:
    """Yield RawChunks of at most `chunk_rows` records holding `columns`.

    Args:
        strict: the encoding was chosen by the operator, so undecodable text is an error
            rather than something to decode as Latin-1.
    """
    if layout.format == "parquet":
        yield from _parquet_chunks(path, columns, chunk_rows)
    else:
        yield from _TextReader(path, layout, columns, chunk_rows, strict).chunks()


# --- Parquet -------------------------------------------------------------------------------


def _parquet_chunks(path: Path, columns: list[str], chunk_rows: int) -> Iterator[RawChunk]:
    offset = 0
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=columns)
        for batch in batches:
            count = batch.num_rows
            lines = np.arange(offset + 1, offset + count + 1, dtype=np.int64)
            offset += count
            arrays = {name: _parquet_column(name, batch.column(name)) for name in columns}
            yield RawChunk(columns=arrays, lines=lines, errors=[], rows_read=count)
    except (pa.ArrowException, OSError) as exc:
        raise ImportFileError(f"could not read the Parquet file: {exc}", line=offset + 1) from None


def _parquet_column(name: str, array: pa.Array) -> pa.Array:
    """A Parquet column in the types validation reads: numbers, booleans, timestamps and dates
    as they are, everything textual as UTF-8 strings; other types fail the file, naming it."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        return _parquet_column(name, array.dictionary_decode())
    if pa.types.is_large_string(kind):
        return array.cast(pa.string())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        # As in text files: bytes that are not UTF-8 are read as Latin-1, value by value.
        values = array.to_pylist()
        decoded = [None if v is None else v.decode("utf-8", LATIN1_FALLBACK) for v in values]
        return pa.array(decoded, pa.string())
    if kind == pa.uint64():  # past int64 for some values: their exact decimal text instead
        return array.cast(pa.string())
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and _is_textual(kind.value_type):
        # A list of genres, say: joined the way text files write them.
        return pc.binary_join(array.cast(pa.list_(pa.string())), "|")
    if _is_textual(kind) or pa.types.is_temporal(kind) or pa.types.is_null(kind):
        return array
    raise ImportFileError(
        f"column {name!r} holds {kind} values, which cannot be imported; "
        "store numbers, text, timestamps or lists of text",
        column=name,
    )


def _is_textual(kind: pa.DataType) -> bool:
    """Types that read as text (or as numbers parsed from it)."""
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind)
    )


# --- delimited text ------------------------------------------------------------------------


@dataclass(frozen=True)
class _BadRow:
    record: int  # 1-based record number from pyarrow (the header counts as record 1)
    text: str
    expected: int
    actual: int


class _LineCounter:
    """Turns record positions into physical line numbers.

    Line of a record = its record number + line breaks inside quoted fields of all earlier
    records. pyarrow drops malformed records from the batches and reports them separately
    (with their record number), so the valid rows of a batch are numbered by merging.
    """

    def __init__(self, first_record: int):
        self.next_record = first_record
        self.extra_lines = 0
        self.pending: deque[_BadRow] = deque()

    def number(
        self, count: int, breaks: np.ndarray
    ) -> tuple[np.ndarray, list[tuple[int, _BadRow]]]:
        """Lines of the next `count` valid records, and the malformed records among them."""
        before = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(breaks, out=before[1:])
        skipped = np.zeros(count + 1, dtype=np.int64)
        skipped_breaks = np.zeros(count + 1, dtype=np.int64)
        bad: list[tuple[int, _BadRow]] = []
        bad_breaks = 0
        while self.pending:
            row = self.pending[0]
            position = row.record - self.next_record - len(bad)  # valid rows before it
            if position >= count:
                break
            self.pending.popleft()
            bad.append((row.record + self.extra_lines + int(before[position]) + bad_breaks, row))
            skipped[position] += 1
            skipped_breaks[position] += row.text.count("\n")
            bad_breaks += row.text.count("\n")
        records = self.next_record + np.arange(count, dtype=np.int64) + np.cumsum(skipped)[:count]
        lines = records + self.extra_lines + before[:count] + np.cumsum(skipped_breaks)[:count]
        if count:
            self.next_record = int(records[-1]) + 1
        self.extra_lines += int(before[count]) + bad_breaks
        return lines, bad

    def flush(self) -> list[tuple[int, _BadRow]]:
        """Malformed records after the last valid one."""
        bad = []
        while self.pending:
            row = self.pending.popleft()
            bad.append((row.record + self.extra_lines, row))
            self.extra_lines += row.text.count("\n")
        return bad


class _TextReader:
    def __init__(
        self, path: Path, layout: FileLayout, columns: list[str], chunk_rows: int, strict: bool
    ):
        self.path, self.layout, self.columns = path, layout, columns
        self.chunk_rows, self.strict = chunk_rows, strict
        self.quoted = layout.format not in _UNQUOTED_FORMATS
        self.counter = _LineCounter(first_record=2 if layout.has_header else 1)

    def chunks(self) -> Iterator[RawChunk]:
        stream = self._open()
        buffer = _Buffer(self.columns)
        try:
            for batch in self._batches(stream):
                buffer.add(*self._number(batch))
                while buffer.rows >= self.chunk_rows:
                    yield self._chunk(*buffer.take(self.chunk_rows))
            buffer.add(None, np.zeros(0, np.int64), self.counter.flush(), False)
            while buffer.rows or buffer.bad:
                yield self._chunk(*buffer.take(self.chunk_rows, final=True))
        finally:
            if isinstance(stream, io.IOBase):
                stream.close()

    def _open(self) -> str | io.RawIOBase:
        transcode = self.layout.encoding != "utf-8"
        double_colon = self.layout.delimiter == "::"
        if not (transcode or double_colon):
            return str(self.path)  # pyarrow reads the file natively: the fast path
        return _Utf8Stream(self.path, self.layout.encoding if transcode else None, double_colon)

    def _batches(self, stream: str | io.RawIOBase) -> Iterator[pa.RecordBatch]:
        names = self.layout.columns
        delimiter = self.layout.delimiter or ","
        try:
            reader = pcsv.open_csv(
                stream,
                read_options=pcsv.ReadOptions(
                    use_threads=False,
                    block_size=_BLOCK,
                    column_names=names,
                    skip_rows=1 if self.layout.has_header else 0,
                ),
                parse_options=pcsv.ParseOptions(
                    delimiter=DOUBLE_COLON_STAND_IN if delimiter == "::" else delimiter,
                    quote_char='"' if self.quoted else False,
                    double_quote=True,
                    newlines_in_values=self.quoted,
                    ignore_empty_lines=False,  # blank lines must keep their record number
                    invalid_row_handler=self._on_invalid_row,
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.binary()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            yield from reader
        except pa.ArrowInvalid as exc:
            hint = ""
            if "straddl" in str(exc):
                hint = f' (a record is longer than {_BLOCK >> 20} MiB: is a quote (") left open?)'
            raise ImportFileError(f"could not parse the file: {exc}{hint}") from None
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"the file is not valid {self.layout.encoding} text ({exc.reason}); "
                "choose the file's encoding on the upload page"
            ) from None

    def _on_invalid_row(self, row: pcsv.InvalidRow) -> str:
        text = row.text.replace(DOUBLE_COLON_STAND_IN, "::")
        self.counter.pending.append(
            _BadRow(row.number, text, row.expected_columns, row.actual_columns)
        )
        return "skip"

    def _number(
        self, batch: pa.RecordBatch
    ) -> tuple[pa.RecordBatch, np.ndarray, list[tuple[int, _BadRow]], bool]:
        """Line numbers of a batch; blank lines dropped, only the wanted columns kept."""
        breaks = self._line_breaks(batch)
        lines, bad = self.counter.number(batch.num_rows, breaks)
        keep = ~_blank(batch)
        if not keep.all():
            batch, lines = batch.filter(pa.array(keep)), lines[keep]
        return batch.select(self.columns), lines, bad, bool(breaks.any())

    def _line_breaks(self, batch: pa.RecordBatch) -> np.ndarray:
        total = np.zeros(batch.num_rows, dtype=np.int64)
        if self.quoted:  # unquoted formats cannot hold a line break inside a field
            for column in batch.columns:
                if _may_hold_line_break(column):
                    total += pc.count_substring(column, "\n").to_numpy()
        return total

    def _chunk(self, table: pa.Table, lines: np.ndarray, bad: list, has_breaks: bool) -> RawChunk:
        decoded = {
            name: self._decode(name, table.column(name).combine_chunks(), lines)
            for name in self.columns
        }
        errors = [row_error(line, None, row.text, _field_count_message(row)) for line, row in bad]
        return RawChunk(decoded, lines, errors, len(lines) + len(errors), has_breaks)

    def _decode(self, name: str, array: pa.Array, lines: np.ndarray) -> pa.Array:
        try:
            return array.cast(pa.string())  # validates UTF-8
        except pa.ArrowInvalid:
            pass
        values = array.to_pylist()
        if self.strict:
            index = next(i for i, value in enumerate(values) if not _is_utf8(value))
            raise ImportFileError(
                f"the file is not valid {self.layout.encoding} text; "
                "choose the file's encoding on the upload page",
                line=int(lines[index]),
                column=name,
            )
        logger.info(
            "%s: column %s has bytes that are not UTF-8; decoded as Latin-1", self.path, name
        )
        return pa.array([value.decode("utf-8", LATIN1_FALLBACK) for value in values], pa.string())


class _Buffer:
    """Parsed batches (about 1 MiB each) waiting to be cut into chunks of chunk_rows records."""

    def __init__(self, columns: list[str]) -> None:
        self.empty = pa.table({name: pa.array([], pa.binary()) for name in columns})
        self.tables: list[pa.Table] = []
        self.lines: list[np.ndarray] = []
        self.rows = 0
        self.bad: list[tuple[int, _BadRow]] = []
        self.has_breaks = False

    def add(
        self,
        batch: pa.RecordBatch | None,
        lines: np.ndarray,
        bad: list[tuple[int, _BadRow]],
        has_breaks: bool,
    ) -> None:
        if batch is not None and batch.num_rows:
            self.tables.append(pa.Table.from_batches([batch]))
            self.lines.append(lines)
            self.rows += batch.num_rows
        self.bad.extend(bad)
        self.has_breaks |= has_breaks

    def take(
        self, count: int, *, final: bool = False
    ) -> tuple[pa.Table, np.ndarray, list[tuple[int, _BadRow]], bool]:
        """The first `count` records, and the malformed ones that come before the last of them."""
        table = pa.concat_tables(self.tables) if self.tables else self.empty
        lines = np.concatenate(self.lines) if self.lines else np.zeros(0, np.int64)
        head, head_lines = table.slice(0, count), lines[:count]
        self.tables = [table.slice(count)] if len(lines) > count else []
        self.lines = [lines[count:]] if len(lines) > count else []
        self.rows = len(lines) - len(head_lines)
        if final and not self.rows:
            bad, self.bad = self.bad, []
        else:
            last = head_lines[-1] if len(head_lines) else 0
            bad = [entry for entry in self.bad if entry[0] <= last]
            self.bad = [entry for entry in self.bad if entry[0] > last]
        return head, head_lines, bad, self.has_breaks


def _field_count_message(row: _BadRow) -> str:
    message = f"expected {row.expected} fields, found {row.actual}"
    return message + ' (is a quote (") left open?)' if "\n" in row.text else message


def _may_hold_line_break(column: pa.Array) -> bool:
    """memchr over the values buffer: far cheaper than counting per value."""
    data = column.buffers()[2]
    return data is not None and data.to_pybytes().find(b"\n") >= 0


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _blank(batch: pa.RecordBatch) -> np.ndarray:
    """Rows whose every field is empty: blank lines, which are skipped silently."""
    if batch.num_rows == 0 or batch.num_columns == 0:
        return np.zeros(batch.num_rows, dtype=bool)
    first = pc.equal(pc.binary_length(batch.column(0)), 0)
    if not pc.any(first).as_py():
        return np.zeros(batch.num_rows, dtype=bool)
    blank = first
    for column in batch.columns[1:]:
        blank = pc.and_(blank, pc.equal(pc.binary_length(column), 0))
    return blank.to_numpy(zero_copy_only=False)


class _Utf8Stream(io.RawIOBase):
    """A file seen as UTF-8 bytes: transcodes other encodings and rewrites '::' to one char."""

    def __init__(self, path: Path, encoding: str | None, double_colon: bool):
        self._file = path.open("rb")
        self._decoder = None
        if encoding is not None:
            self._decoder = codecs.getincrementaldecoder(decoder_codec(encoding))("strict")
        self._double_colon = double_colon
        self._carry: bytes | str = b"" if encoding is None else ""
        self._buffer = memoryview(b"")
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        # Fill the whole target: pyarrow parses each read as a block, and a short block that
        # ends inside a record fails with "straddling object".
        written = 0
        while written < len(target):
            if not len(self._buffer):
                if self._eof:
                    break
                self._fill()
                continue
            count = min(len(target) - written, len(self._buffer))
            target[written : written + count] = self._buffer[:count]
            self._buffer = self._buffer[count:]
            written += count
        return written

    def close(self) -> None:
        self._file.close()
        super().close()

    def _fill(self) -> None:
        block = self._file.read(_STREAM_BLOCK)
        self._eof = not block
        data: bytes | str = block
        if self._decoder is not None:
            data = self._decoder.decode(block, final=self._eof)
        if self._double_colon:
            data = self._replace_double_colons(data)
        self._buffer = memoryview(data.encode("utf-8") if isinstance(data, str) else data)

    def _replace_double_colons(self, data: bytes | str) -> bytes | str:
        # A '::' may straddle two blocks: hold back a trailing run of colons until the next one.
        data = self._carry + data  # type: ignore[operator]
        colon = ":" if isinstance(data, str) else b":"
        held = 0 if self._eof else len(data) - len(data.rstrip(colon))  # type: ignore[arg-type]
        self._carry, data = data[len(data) - held :], data[: len(data) - held]
        stand_in = (
            DOUBLE_COLON_STAND_IN if isinstance(data, str) else DOUBLE_COLON_STAND_IN.encode()
        )
        return data.replace(colon * 2, stand_in)  # type: ignore[arg-type]
