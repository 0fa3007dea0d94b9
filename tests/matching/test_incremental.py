"""A day's delta linked with a saved model: nothing is trained, only the delta is scored, and each delta
record gets exactly the decision it gets when the whole extract is linked with that model."""

from __future__ import annotations

import pandas as pd
import pytest

from crosswalk.demo.synthetic import client_rows, index_rows, people
from crosswalk.errors import ConfigError
from crosswalk.matching import training
from crosswalk.matching.link import link, train_link_model
from crosswalk.matching.model import SavedModel

COLUMNS = ["matched_record_id", "band", "method", "reason"]


@pytest.fixture(scope="module")
def population():
    crowd = people(3000, seed=41)
    extract = pd.DataFrame(client_rows(crowd[:2000])).rename(columns={"source_id": "record_id"})
    index = pd.DataFrame(index_rows(crowd))
    index["record_id"] = index["chi_number"]
    return extract, index


def test_a_saved_model_links_a_delta_without_training_as_it_links_the_whole(population, monkeypatch, tmp_path):
    extract, index = population
    model = train_link_model(extract, index)
    model.save(tmp_path / "model.json")
    again = SavedModel.load(tmp_path / "model.json")
    assert again == model and again.version.startswith("link-v1:") and len(again.training_hash) == 64

    def no_training(*args, **kwargs):
        raise AssertionError("a saved model must not be retrained")

    monkeypatch.setattr(training, "train", no_training)
    whole = link(extract, index, model=again).set_index("record_id")
    delta = extract.sample(200, random_state=3)
    part = link(delta, index, model=again).set_index("record_id")
    assert len(part) == 200
    pd.testing.assert_frame_equal(part[COLUMNS], whole.loc[part.index, COLUMNS])
    assert (part["band"] == "auto").mean() > 0.9


def test_a_model_that_compares_a_column_the_records_lack_is_refused(population):
    extract, index = population
    model = train_link_model(extract.assign(address="1 HIGH STREET"), index.assign(address="1 HIGH STREET"))
    with pytest.raises(ConfigError, match="compares address, which these records lack: retrain"):
        link(extract, index, model=model)


def test_a_model_saved_before_it_recorded_families_is_read_as_holding_them(population):
    """The cautious reading: a sole candidate then waits for review, as it did when that model was trained."""
    import json

    extract, index = population
    doc = json.loads(train_link_model(extract.head(300), index).to_json())
    assert doc.pop("families") is False  # the demo's crowd holds no households
    assert SavedModel.from_json(json.dumps(doc)).families is True
