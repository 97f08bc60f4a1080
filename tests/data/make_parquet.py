"""Write tests/data/ratings.parquet (run: .venv/bin/python tests/data/make_parquet.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TARGET = Path(__file__).with_name("ratings.parquet")


def build() -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([1, 1, 2, 3, 3], pa.int64()),
            "item_id": pa.array([12.0, 13.0, 12.0, 7.0, 42.0], pa.float64()),
            "rating": pa.array([4.0, 3.5, 5.0, 1.0, 2.5], pa.float32()),
            "timestamp": pa.array(
                [881250949000, 881250950000, 881250951000, None, 881250953000],
                pa.timestamp("ms", tz="UTC"),
            ),
        }
    )


if __name__ == "__main__":
    pq.write_table(build(), TARGET)
