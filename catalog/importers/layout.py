"""Decide what a file is: kind, format, delimiter, header, encoding and which column is what."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ImportFileError
from .options import DEFAULT_OPTIONS, ColumnMap, FileLayout, ReadOptions, check_options
from .sniff import (
    Sample,
    looks_like_header,
    normalise_name,
    read_sample,
    sniff_delimiter,
    split_records,
)

logger = logging.getLogger(__name__)

# Synonyms in normalised form (see sniff.normalise_name), most specific first.
RATER_NAMES = (
    "userid", "user", "raterid", "rater", "customerid", "customer", "clientid", "client",
    "memberid", "member", "visitorid", "visitor", "accountid", "account", "reviewerid",
    "reviewer", "personid", "person", "uid",
)  # fmt: skip
ITEM_NAMES = (
    "itemid", "item", "movieid", "movie", "productid", "product", "sku", "articleid", "article",
    "bookid", "book", "isbn", "asin", "trackid", "track", "songid", "song", "videoid", "video",
    "contentid", "content", "iid",
)  # fmt: skip
VALUE_NAMES = ("rating", "value", "score", "stars", "rate", "grade", "weight")
TIMESTAMP_NAMES = (
    "timestamp", "datetime", "time", "ts", "date", "ratedat", "createdat", "occurredat",
    "eventtime", "unixtime",
)  # fmt: skip
EVENT_NAMES = (
    "eventtype", "event", "action", "interactiontype", "interaction", "behavior", "behaviour",
    "type",
)  # fmt: skip
ITEM_FIELD_NAMES = {
    "external_id": (*ITEM_NAMES, "id"),
    "title": ("title", "name", "movietitle", "itemname", "productname"),
    "description": ("description", "desc", "overview", "summary", "plot", "synopsis"),
    "genres": ("genres", "genre", "categories", "category", "tags"),
}
RATER_FIELD_NAMES = {
    "external_id": (*RATER_NAMES, "id"),
    "age": ("age",),
    "gender": ("gender", "sex"),
    "occupation": ("occupation", "job", "profession"),
    "zip": ("zip", "zipcode", "postcode", "postalcode"),
}
KNOWN_NAMES = frozenset(
    name
    for names in (
        RATER_NAMES, ITEM_NAMES, VALUE_NAMES, TIMESTAMP_NAMES, EVENT_NAMES,
        *ITEM_FIELD_NAMES.values(), *RATER_FIELD_NAMES.values(),
    )
    for name in names
)  # fmt: skip

ML_100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
ML_100K_GENRE_FLAGS = "column 6–column 24 (genre flags)"

_DELIMITER_WORDS = {
    ",": "comma-separated",
    "\t": "tab-separated",
    ";": "semicolon-separated",
    "|": "'|'-separated",
    "::": "'::'-separated",
}
_KIND_WORDS = {"interactions": "ratings", "items": "movies", "raters": "users"}


def synthetic_columns(count: int) -> list[str]:
    return [f"column {index}" for index in range(1, count + 1)]


@dataclass(frozen=True)
class _MovieLensFile:
    format: str
    kind: str
    filename: str
    fields: int
    header: tuple[str, ...] | None
    latin1: bool
    column_map: ColumnMap | dict[str, str]


_ML_FILES = (
    _MovieLensFile(
        "movielens-100k", "interactions", "u.data", 4, None, False,
        ColumnMap("column 1", "column 2", "column 3", "column 4"),
    ),
    _MovieLensFile(
        "movielens-100k", "items", "u.item", 24, None, True,
        {"external_id": "column 1", "title": "column 2", "release_date": "column 3",
         "video_release_date": "column 4", "url": "column 5", "genres": ML_100K_GENRE_FLAGS},
    ),
    _MovieLensFile(
        "movielens-100k", "raters", "u.user", 5, None, False,
        {"external_id": "column 1", "age": "column 2", "gender": "column 3",
         "occupation": "column 4", "zip": "column 5"},
    ),
    _MovieLensFile(
        "movielens-1m", "interactions", "ratings.dat", 4, None, False,
        ColumnMap("column 1", "column 2", "column 3", "column 4"),
    ),
    _MovieLensFile(
        "movielens-1m", "items", "movies.dat", 3, None, True,
        {"external_id": "column 1", "title": "column 2", "genres": "column 3"},
    ),
    _MovieLensFile(
        "movielens-1m", "raters", "users.dat", 5, None, False,
        {"external_id": "column 1", "gender": "column 2", "age": "column 3",
         "occupation": "column 4", "zip": "column 5"},
    ),
    _MovieLensFile(
        "movielens-latest", "interactions", "ratings.csv", 4,
        ("userId", "movieId", "rating", "timestamp"), False,
        ColumnMap("userId", "movieId", "rating", "timestamp"),
    ),
    _MovieLensFile(
        "movielens-latest", "items", "movies.csv", 3, ("movieId", "title", "genres"), False,
        {"external_id": "movieId", "title": "title", "genres": "genres"},
    ),
)  # fmt: skip
# The 100K split files (u1.base, ua.test, ...) have the u.data layout.
_ML_100K_SPLIT = re.compile(r"^u[1-5ab]\.(base|test)$")
_ML_LABELS = {
    "movielens-100k": "MovieLens 100K",
    "movielens-1m": "MovieLens 1M",
    "movielens-latest": "MovieLens (latest)",
}


def detect_layout(
    path: str | Path, filename: str | None = None, options: ReadOptions = DEFAULT_OPTIONS
) -> FileLayout:
    """Work out the file's layout from its name and first MiB; options override what they set.

    When the rater and item (or id) columns cannot be found, the layout's column_map is None
    and its description says so: the upload page can then show the columns to map, and
    reading the file raises the same message as an ImportFileError.

    Raises:
        ImportFileError: the file is empty, not text, not decodable in the chosen encoding,
            has only a header, or an explicit column map names a column it lacks.
    """
    check_options(options)
    path = Path(path)
    name = Path(filename).name if filename else path.name
    sample = read_sample(path, options.encoding)
    if sample.is_parquet or options.format == "parquet":
        if not sample.is_parquet:
            raise ImportFileError("the file is not a Parquet file (it lacks the PAR1 signature)")
        return _parquet_layout(path, options)
    layout = _movielens_layout(name, sample, options) or _text_layout(sample, options)
    logger.debug("detected layout of %s: %s", name, layout.description)
    return layout


# --- MovieLens -----------------------------------------------------------------------------


def _movielens_candidates(name: str, options: ReadOptions) -> list[_MovieLensFile]:
    lower = name.lower()
    if options.format == "auto":
        found = [f for f in _ML_FILES if f.filename == lower]
        if _ML_100K_SPLIT.match(lower):
            found = [_ML_FILES[0]]
    elif options.format.startswith("movielens"):
        same_format = [f for f in _ML_FILES if f.format == options.format]
        found = [f for f in same_format if f.filename == lower] or same_format
    else:
        found = []
    return [f for f in found if options.kind in ("auto", f.kind)]


def _movielens_layout(name: str, sample: Sample, options: ReadOptions) -> FileLayout | None:
    for entry in _movielens_candidates(name, options):
        if entry.format == "movielens-1m":
            delimiter = options.delimiter or "::"
        else:
            delimiter = options.delimiter or sniff_delimiter(sample.text) or ","
        records = split_records(sample.text, delimiter, quoting=entry.header is not None)
        if _matches(entry, records):
            _require_data(records, has_header=entry.header is not None, complete=sample.complete)
            return _movielens_file_layout(entry, delimiter, sample, name, options)
    if options.format.startswith("movielens"):
        raise ImportFileError(
            f"this does not look like a {_ML_LABELS[options.format]} file; "
            "choose another format on the upload page"
        )
    return None


def _matches(entry: _MovieLensFile, records: list[list[str]]) -> bool:
    if not records or len(records[0]) != entry.fields:
        return False
    if entry.header is not None:
        return tuple(cell.strip() for cell in records[0]) == entry.header
    return records[0][0].strip().isdigit()


def _movielens_file_layout(
    entry: _MovieLensFile, delimiter: str, sample: Sample, name: str, options: ReadOptions
) -> FileLayout:
    encoding = sample.encoding
    if entry.latin1 and encoding == "utf-8" and sample.text.isascii():
        encoding = "latin-1"  # the sample happened to be ASCII; the rest of the file is Latin-1
    has_header = entry.header is not None
    columns = list(entry.header) if has_header else synthetic_columns(entry.fields)
    column_map: ColumnMap | dict[str, str] | None = entry.column_map
    if options.column_map is not None:
        _, column_map = map_columns(columns, has_header=has_header, options=options)
    parts = [_DELIMITER_WORDS.get(delimiter, f"{delimiter!r}-separated")]
    parts.append("with a header" if has_header else "no header")
    if encoding != "utf-8":
        parts.append(_encoding_word(encoding))
    shown = name if name.lower() == entry.filename or _ML_100K_SPLIT.match(name.lower()) else ""
    label = f"{_ML_LABELS[entry.format]} {_KIND_WORDS[entry.kind]} ({shown or entry.filename})"
    return FileLayout(
        kind=entry.kind,
        format=entry.format,
        delimiter=delimiter,
        has_header=has_header,
        encoding=encoding,
        columns=columns,
        column_map=column_map,
        description=f"{label}: {', '.join(parts)}",
    )


# --- generic delimited text ----------------------------------------------------------------


def _text_layout(sample: Sample, options: ReadOptions) -> FileLayout:
    delimiter = _choose_delimiter(sample, options)
    records = split_records(sample.text, delimiter)
    if not records:
        raise ImportFileError("could not split the first lines of the file into fields")
    has_header = options.has_header
    if has_header is None:
        has_header = looks_like_header(records, KNOWN_NAMES)
    _require_data(records, has_header=has_header, complete=sample.complete)
    if has_header:
        columns = _unique_names(records[0])
    else:
        widths = Counter(len(record) for record in records)
        columns = synthetic_columns(widths.most_common(1)[0][0])
    kind, column_map = map_columns(columns, has_header=has_header, options=options)
    fmt = "tsv" if delimiter == "\t" else "csv"
    mapping = describe_map(column_map, kind, columns)
    parts = [
        _DELIMITER_WORDS.get(delimiter, f"{delimiter!r}-separated"),
        "with a header" if has_header else "no header (columns taken by position)",
        _encoding_word(sample.encoding),
    ]
    return FileLayout(
        kind=kind,
        format=fmt,
        delimiter=delimiter,
        has_header=has_header,
        encoding=sample.encoding,
        columns=columns,
        column_map=column_map,
        description=f"{kind.capitalize()}: {', '.join(parts)}; {mapping}",
    )


def parse_delimiter(text: str) -> str:
    """Accept the spellings an operator types for tab."""
    return "\t" if text.lower() in ("\\t", "tab", "tsv") else text


def _choose_delimiter(sample: Sample, options: ReadOptions) -> str:
    if options.delimiter:
        return parse_delimiter(options.delimiter)
    if options.format == "tsv":
        return "\t"
    return sniff_delimiter(sample.text) or ","


def _require_data(records: list[list[str]], *, has_header: bool, complete: bool) -> None:
    if complete and has_header and len(records) < 2:
        raise ImportFileError("the file has a header row but no data rows", line=1)


def _unique_names(cells: list[str]) -> list[str]:
    names: list[str] = []
    for index, cell in enumerate(cells, start=1):
        name = cell.strip() or f"column {index}"
        base, copy = name, 2
        while name in names:
            name, copy = f"{base} ({copy})", copy + 1
        names.append(name)
    return names


def _encoding_word(encoding: str) -> str:
    return {"utf-8": "UTF-8", "latin-1": "Latin-1"}.get(encoding, encoding)


# --- Parquet -------------------------------------------------------------------------------


def _parquet_layout(path: Path, options: ReadOptions) -> FileLayout:
    try:
        metadata = pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError) as exc:
        raise ImportFileError(f"the file is not a valid Parquet file: {exc}") from None
    if metadata.num_rows == 0:
        raise ImportFileError("the Parquet file has no data rows")
    columns = list(metadata.schema.to_arrow_schema().names)
    kind, column_map = map_columns(columns, has_header=True, options=options)
    return FileLayout(
        kind=kind,
        format="parquet",
        delimiter=None,
        has_header=True,
        encoding="utf-8",
        columns=columns,
        column_map=column_map,
        description=(
            f"{kind.capitalize()}: Parquet, {metadata.num_rows} rows; "
            f"{describe_map(column_map, kind, columns)}"
        ),
    )


# --- column roles --------------------------------------------------------------------------


def map_columns(
    columns: list[str], *, has_header: bool, options: ReadOptions
) -> tuple[str, ColumnMap | dict[str, str] | None]:
    """Decide the kind of file and which column plays which role.

    Without a header, interactions are taken by position: rater, item, value, timestamp.
    The map is None when the rater and item (or id) columns cannot be found: the upload page
    then asks the operator, and reading the file raises missing_columns_error.
    """
    explicit = options.column_map
    if isinstance(explicit, ColumnMap):
        if options.kind not in ("auto", "interactions"):
            return options.kind, _fields_from_column_map(explicit, options.kind, columns)
        return "interactions", _resolve_column_map(explicit, columns)
    if isinstance(explicit, Mapping):
        kind = options.kind if options.kind != "auto" else _kind_of_field_map(explicit)
        return kind, _resolve_field_map(explicit, columns)
    kind = options.kind
    if kind == "auto":
        kind = _guess_kind(columns) if has_header else "interactions"
    if kind == "interactions":
        return kind, _interaction_roles(columns, has_header)
    names = ITEM_FIELD_NAMES if kind == "items" else RATER_FIELD_NAMES
    return kind, _entity_fields(columns, names, has_header)


def _find(
    columns: list[str], synonyms: tuple[str, ...], taken: set | frozenset = frozenset()
) -> str | None:
    normalised = {normalise_name(column): column for column in reversed(columns)}
    for synonym in synonyms:
        column = normalised.get(synonym)
        if column is not None and column not in taken:
            return column
    return None


def _guess_kind(columns: list[str]) -> str:
    if _find(columns, RATER_NAMES) and _find(columns, ITEM_NAMES):
        return "interactions"
    item_extras = ("title", "description", "genres")
    if _find(columns, ITEM_FIELD_NAMES["external_id"]) and any(
        _find(columns, ITEM_FIELD_NAMES[field]) for field in item_extras
    ):
        return "items"
    rater_extras = ("age", "gender", "occupation", "zip")
    if _find(columns, RATER_FIELD_NAMES["external_id"]) and any(
        _find(columns, RATER_FIELD_NAMES[field]) for field in rater_extras
    ):
        return "raters"
    return "interactions"  # and let _interaction_roles say which columns are missing


def _interaction_roles(columns: list[str], has_header: bool) -> ColumnMap | None:
    if not has_header:
        if len(columns) < 2:
            return None
        extra = columns[2:4] + [None, None]
        return ColumnMap(columns[0], columns[1], extra[0], extra[1])
    rater = _find(columns, RATER_NAMES)
    item = _find(columns, ITEM_NAMES, {rater} if rater else set())
    if rater is None or item is None:
        return None
    taken = {rater, item}
    value = _find(columns, VALUE_NAMES, taken)
    timestamp = _find(columns, TIMESTAMP_NAMES, taken | {value})
    event = _find(columns, EVENT_NAMES, taken | {value, timestamp})
    return ColumnMap(rater, item, value, timestamp, event)


def missing_columns_error(kind: str, columns: list[str]) -> ImportFileError:
    """What to say when the layout has no column map (see map_columns)."""
    found = ", ".join(columns)
    if kind == "interactions":
        what, verb = "the rater and item columns", "them"
    else:
        what, verb = f"the {'item' if kind == 'items' else 'rater'} id column", "it"
    return ImportFileError(
        f"could not find {what}; found columns: {found} — map {verb} on the upload page"
    )


def _entity_fields(
    columns: list[str], names: dict[str, tuple[str, ...]], has_header: bool
) -> dict[str, str] | None:
    if not has_header:
        fields = {"external_id": columns[0]}
        if names is ITEM_FIELD_NAMES and len(columns) > 1:
            fields["title"] = columns[1]
        return fields | {column: column for column in columns[len(fields) :]}
    fields: dict[str, str] = {}
    for field, synonyms in names.items():
        column = _find(columns, synonyms, set(fields.values()))
        if column is not None:
            fields[field] = column
    if "external_id" not in fields:
        return None
    mapped = set(fields.values())
    return fields | {column: column for column in columns if column not in mapped}


def resolve_column(reference: str, columns: list[str]) -> str:
    """Find a column by name, by 0-based position ("0"), or by name ignoring case and spacing."""
    if reference in columns:
        return reference
    if reference.strip().isdigit() and int(reference) < len(columns):
        return columns[int(reference)]
    wanted = normalise_name(reference)
    for column in columns:
        if normalise_name(column) == wanted:
            return column
    raise ImportFileError(
        f"column {reference!r} is not in the file; found columns: {', '.join(columns)}",
        column=reference,
    )


def _resolve_column_map(column_map: ColumnMap, columns: list[str]) -> ColumnMap:
    def resolve(reference: str | None) -> str | None:
        return None if reference is None else resolve_column(reference, columns)

    rater, item = resolve(column_map.rater), resolve(column_map.item)
    if rater == item:
        raise ImportFileError("the rater and item must be different columns", column=rater)
    return ColumnMap(
        rater=rater,  # type: ignore[arg-type]
        item=item,  # type: ignore[arg-type]
        value=resolve(column_map.value),
        timestamp=resolve(column_map.timestamp),
        event_type=resolve(column_map.event_type),
    )


def _fields_from_column_map(column_map: ColumnMap, kind: str, columns: list[str]) -> dict:
    reference = column_map.item if kind == "items" else column_map.rater
    id_column = resolve_column(reference, columns)
    rest = [column for column in columns if column != id_column]
    names = ITEM_FIELD_NAMES if kind == "items" else RATER_FIELD_NAMES
    fields = {"external_id": id_column}
    for field, synonyms in names.items():
        column = _find(rest, synonyms, set(fields.values()))
        if field != "external_id" and column is not None:
            fields[field] = column
    mapped = set(fields.values())
    return fields | {column: column for column in columns if column not in mapped}


def _kind_of_field_map(field_map: Mapping[str, str]) -> str:
    if {"title", "description", "genres"} & set(field_map):
        return "items"
    if {"age", "gender", "occupation", "zip"} & set(field_map):
        return "raters"
    raise ImportFileError("say whether the file holds items or raters (kind)")


def _resolve_field_map(field_map: Mapping[str, str], columns: list[str]) -> dict[str, str]:
    if "external_id" not in field_map:
        raise ImportFileError("the column map needs an external_id column")
    return {field: resolve_column(column, columns) for field, column in field_map.items()}


def describe_map(
    column_map: ColumnMap | dict[str, str] | None, kind: str, columns: list[str]
) -> str:
    if column_map is None:
        return missing_columns_error(kind, columns).message
    if isinstance(column_map, ColumnMap):
        pairs = [
            (role, getattr(column_map, role))
            for role in ("rater", "item", "value", "timestamp", "event_type")
        ]
    else:
        pairs = [(field, column) for field, column in column_map.items() if field != column]
        pairs += [("attribute", column) for field, column in column_map.items() if field == column]
    return ", ".join(f"{role} = {column}" for role, column in pairs if column)
