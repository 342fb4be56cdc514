"""Compares two Feast `/get-online-features` answers to the same request, column by column.

    python3 compare_answers.py MLSYS_RESPONSE.json FEAST_RESPONSE.json

Exits 0 when both answers name the same features in the same order and hold the same values
(numbers compared by value: 3 equals 3.0, floats must be equal, not close); otherwise prints each
difference and exits 1. A benchmark of two servers that answer differently measures nothing.
"""

import json
import sys


def columns(answer):
    """Feature name -> list of values, in the answer's order. Raises ValueError on a non-answer."""
    try:
        names = answer["metadata"]["feature_names"]
        values = [result["values"] for result in answer["results"]]
    except (KeyError, TypeError) as error:
        raise ValueError(f"not a get-online-features answer (no {error}): {json.dumps(answer)[:300]}")
    if len(names) != len(values):
        raise ValueError(f"{len(names)} feature names but {len(values)} result columns")
    return list(zip(names, values))


def differences(mlsys, feast):
    """Every way the two answers differ, as sentences; empty when they agree."""
    found = []
    mlsys_columns, feast_columns = columns(mlsys), columns(feast)
    mlsys_names = [name for name, _ in mlsys_columns]
    feast_names = [name for name, _ in feast_columns]
    if mlsys_names != feast_names:
        found.append(f"feature names differ: mlsys {mlsys_names}, feast {feast_names}")
    feast_values = dict(feast_columns)
    for name, values in mlsys_columns:
        if name in feast_values and values != feast_values[name]:
            found.append(f"{name}: mlsys {values}, feast {feast_values[name]}")
    return found


def main(arguments):
    if len(arguments) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    answers = []
    for path in arguments:
        with open(path) as file:
            answers.append(json.load(file))
    try:
        found = differences(*answers)
    except ValueError as error:
        print(f"cannot compare the answers: {error}", file=sys.stderr)
        return 1
    if found:
        print("the servers answer differently; the benchmark would compare different work:", file=sys.stderr)
        for difference in found:
            print(f"  {difference}", file=sys.stderr)
        return 1
    print(f"values: all {len(columns(answers[0]))} columns equal in both servers' answers", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
