import numpy as np
import pandas as pd
import pytest

from ml_model import simulate
from ml_model.simulate import RAW_COLUMNS, SCENARIO_NAMES, simulate_transactions


def test_same_seed_gives_identical_data_and_another_seed_does_not():
    first = simulate_transactions(days=10, customers=100, terminals=200, seed=11)
    again = simulate_transactions(days=10, customers=100, terminals=200, seed=11)
    other = simulate_transactions(days=10, customers=100, terminals=200, seed=12)
    pd.testing.assert_frame_equal(first, again)
    assert not first["tx_amount"].equals(other["tx_amount"])


def test_raw_schema_time_order_and_value_ranges(small_raw):
    assert list(small_raw.columns) == RAW_COLUMNS
    assert small_raw["transaction_id"].is_unique
    assert small_raw["tx_datetime"].is_monotonic_increasing
    days = small_raw["tx_datetime"].dt.floor("D")
    assert days.nunique() == 40
    assert (small_raw["tx_amount"] >= 0).all()
    assert set(small_raw["tx_fraud"].unique()) == {0, 1}
    assert ((small_raw["tx_fraud"] == 1) == (small_raw["tx_fraud_scenario"] > 0)).all()


def test_every_fraud_scenario_occurs_at_a_plausible_rate():
    raw = simulate_transactions(days=60, customers=1000, terminals=2000, seed=1)
    share = raw["tx_fraud_scenario"].value_counts(normalize=True)
    assert set(share.index) == set(SCENARIO_NAMES)
    assert 0.005 < raw["tx_fraud"].mean() < 0.03
    assert share[simulate.HIGH_AMOUNT] == pytest.approx(simulate.HIGH_AMOUNT_PROBABILITY, rel=0.5)


def test_scenarios_have_their_documented_shape():
    raw = simulate_transactions(days=60, customers=1000, terminals=2000, seed=2)
    by = raw.groupby("tx_fraud_scenario")
    legit = raw[raw["tx_fraud_scenario"] == simulate.LEGITIMATE]
    assert by.get_group(simulate.HIGH_AMOUNT)["tx_amount"].min() >= 300
    assert by.get_group(simulate.CARD_TESTING)["tx_amount"].max() <= 3.0
    night_hours = by.get_group(simulate.NIGHT_TAKEOVER)["tx_datetime"].dt.hour
    assert night_hours.between(1, 4).all()
    # A compromised terminal's frauds cluster on few terminals.
    terminal_frauds = by.get_group(simulate.COMPROMISED_TERMINAL)["terminal_id"].value_counts()
    assert terminal_frauds.median() >= 3
    assert legit["tx_amount"].median() < by.get_group(simulate.COMPROMISED_CARD)["tx_amount"].median()


def test_cli_writes_a_csv_in_the_raw_schema(tmp_path):
    out = tmp_path / "tx.csv"
    assert simulate.main(["--out", str(out), "--days", "5", "--customers", "50", "--terminals", "100"]) == 0
    written = pd.read_csv(out)
    assert list(written.columns) == RAW_COLUMNS
    assert len(written) > 100
    assert np.isfinite(written["tx_amount"]).all()
