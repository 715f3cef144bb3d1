#!/usr/bin/env python3
"""The numbers of docs/model_card.md from a predictions CSV of UTKFace faces (evaluate_age --predictions, or the
run's predictions.csv: image,true_age,predicted_age,abs_error): MAE, RMSE, CS(5), and MAE per age bucket, gender and
race group, read from UTKFace's file names (AGE_GENDER_RACE_DATE.jpg.chip.jpg; gender 0 male, 1 female; race 0 White,
1 Black, 2 Asian, 3 Indian, 4 Others). Prints markdown tables.

    python3 scripts/model_card_stats.py runs/release/valid_tta.csv
"""
import csv
import math
import os
import sys

GENDERS = {"0": "male", "1": "female"}
RACES = {"0": "White", "1": "Black", "2": "Asian", "3": "Indian", "4": "Others"}


def rows(path):
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            name = os.path.basename(row["image"])
            fields = name.split("_")
            yield {
                "truth": float(row["true_age"]),
                "error": float(row["predicted_age"]) - float(row["true_age"]),
                "gender": GENDERS.get(fields[1], "unknown") if len(fields) > 1 else "unknown",
                "race": RACES.get(fields[2], "unknown") if len(fields) > 3 else "unknown",
            }


def summary(errors):
    n = len(errors)
    mae = sum(abs(e) for e in errors) / n
    rmse = math.sqrt(sum(e * e for e in errors) / n)
    cs5 = sum(abs(e) <= 5 for e in errors) / n
    bias = sum(errors) / n
    return n, mae, rmse, cs5, bias


def table(title, groups):
    print(f"| {title} | faces | MAE | RMSE | CS(5) | mean error |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, errors in groups:
        if errors:
            n, mae, rmse, cs5, bias = summary(errors)
            print(f"| {name} | {n} | {mae:.2f} | {rmse:.2f} | {100 * cs5:.1f}% | {bias:+.2f} |")
    print()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    data = list(rows(sys.argv[1]))
    if not data:
        sys.exit(f"{sys.argv[1]}: no predictions")
    table("faces", [("all", [r["error"] for r in data])])
    table("true age", [(f"{lo}-{lo + 9}", [r["error"] for r in data if lo <= r["truth"] < lo + 10])
                       for lo in range(0, 120, 10)])
    table("gender", [(g, [r["error"] for r in data if r["gender"] == g]) for g in list(GENDERS.values()) + ["unknown"]])
    table("race", [(x, [r["error"] for r in data if r["race"] == x]) for x in list(RACES.values()) + ["unknown"]])


if __name__ == "__main__":
    main()
