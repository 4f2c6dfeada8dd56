"""The TREC run file a stored run holds, line by line as trec_eval reads it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lab.results import write_trec


def test_trec_lines_hold_the_float32_score_to_nine_significant_digits(tmp_path):
    ranking = pd.DataFrame({"query_id": ["q1", "q1", "q 2"], "rank": np.array([1, 2, 1], dtype=np.int64),
                            "product_id": ["100001", "100002", "7"],
                            "score": np.array([1.1, 12.345678, 0.0001234], dtype=np.float32)})
    write_trec(ranking, tmp_path / "run.trec", "textsearch")
    # float32(1.1) = 1.10000002384..., float32(12.345678) = 12.3456783294..., float32(0.0001234) = 1.23399994e-4
    assert (tmp_path / "run.trec").read_text().splitlines() == [
        "q1 Q0 100001 1 1.10000002 textsearch", "q1 Q0 100002 2 12.3456783 textsearch",
        "q 2 Q0 7 1 0.000123399994 textsearch"]
