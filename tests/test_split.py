import numpy as np

from tears_bench.data.interactions import Catalog, Interactions
from tears_bench.data.split import build_split, default_n_heldout, model_input


def make_data(histories):
    """histories: {user: [(item, rating, time), ...]} -> Interactions (rows shuffled)."""
    rows = [(u, i, r, t) for u, h in histories.items() for i, r, t in h]
    rng = np.random.default_rng(0)
    rows = [rows[k] for k in rng.permutation(len(rows))]
    users = sorted(histories)
    items = sorted({i for _, i, _, _ in rows})
    catalog = Catalog(ids=np.array([str(i) for i in items]), titles=[f"t{i}" for i in items],
                      genres=[("drama",) if i % 2 else ("comedy",) for i in items])
    item_index = {i: k for k, i in enumerate(items)}
    return Interactions(
        name="hand", kind="movies", user_ids=np.array([str(u) for u in users]), catalog=catalog,
        user=np.array([users.index(u) for u, _, _, _ in rows]), item=np.array([item_index[i] for _, i, _, _ in rows]),
        rating=np.array([r for _, _, r, _ in rows], dtype=np.float32),
        timestamp=np.array([t for _, _, _, t in rows], dtype=float))


def long_history():
    # 60 ratings at times 0..59 of items 100..159; positives at even positions.
    return [(100 + p, 5.0 if p % 2 == 0 else 2.0, float(p)) for p in range(60)]


def short_history():
    # 10 ratings; positives at positions 2, 5, 7.
    return [(200 + p, 4.0 if p in (2, 5, 7) else 1.0, float(p)) for p in range(10)]


def test_summary_sets_follow_the_protocol():
    data = make_data({1: long_history(), 2: short_history(), 3: [(300, 5.0, 0.0), (301, 1.0, 1.0)]})
    split = build_split(data, n_heldout=0)
    assert list(split.user_ids) == ["1", "2"]  # user 3 has one positive: dropped
    ids = split.catalog.ids
    long_set = [int(ids[i]) for i, _ in split.summary_set(0)]
    # Window = first 52 (positions 0..51); its last two positives are 48 and 50: set aside.
    assert long_set == [100 + p for p in range(52) if p not in (48, 50)]
    assert len(long_set) == 50
    short_set = [int(ids[i]) for i, _ in split.summary_set(1)]
    assert short_set == [200 + p for p in range(10) if p not in (5, 7)]
    ratings = [r for _, r in split.summary_set(1)]
    assert ratings[2] == 4.0 and ratings[0] == 1.0


def test_heldout_inputs_and_targets():
    data = make_data({1: long_history(), 2: short_history()})
    split = build_split(data, n_heldout=2)
    assert len(split.val_users) == 1 and len(split.test_users) == 1 and len(split.train_users) == 0
    items = split.item_ids.astype(int)
    by_user = {}
    for part in ("val", "test"):
        users, inputs, targets = split.part(part)
        by_user[split.user_ids[users[0]]] = (
            set(items[inputs[0].indices]), set(items[targets[0].indices]), inputs[0].data)
    long_in, long_target, long_values = by_user["1"]
    # Input: summary-set items that are in the vocabulary (items with a positive).
    assert long_in == {100 + p for p in range(0, 52, 2) if p not in (48, 50)}
    # Targets: every positive not in the summary set (the two set aside and all after the window).
    assert long_target == {148, 150} | {100 + p for p in range(52, 60, 2)}
    assert set(long_values) == {5.0}  # raw rating values are kept
    short_in, short_target, _ = by_user["2"]
    assert short_in == {202} and short_target == {205, 207}


def test_training_targets_are_all_positives_and_inputs_are_normalised():
    data = make_data({1: long_history(), 2: short_history()})
    split = build_split(data, n_heldout=0)
    assert split.train_target[0].nnz == 30 and split.train_target[1].nnz == 3
    normalised = model_input(split.train_input)
    norms = np.sqrt(np.asarray(normalised.multiply(normalised).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)


def test_no_timestamps_uses_a_seeded_permutation():
    data = make_data({1: long_history()})
    data.timestamp = None
    first = build_split(data, seed=1, n_heldout=0)
    again = build_split(data, seed=1, n_heldout=0)
    other = build_split(data, seed=2, n_heldout=0)
    assert first.hash == again.hash
    assert first.summary_set(0) != other.summary_set(0)


def test_heldout_sizes_and_hash_stability():
    assert default_n_heldout(6034) == 500 and default_n_heldout(943) == 188
    assert default_n_heldout(10_000) == 2000 and default_n_heldout(100) == 20
    from tears_bench.data.synthetic import generate
    data = generate(users=200, items=300, seed=3)
    a, b = build_split(data), build_split(data)
    assert a.hash == b.hash and len(a.val_users) == 20 and len(a.test_users) == 20
    assert not set(a.train_users) & set(a.test_users)
    assert build_split(data, seed=7).hash != a.hash


def test_genre_list_threshold():
    from tears_bench.data.synthetic import generate
    split = build_split(generate(users=200, items=300, seed=3), genre_min_items=40)
    counts = split.genre_matrix().sum(axis=1)
    assert (counts >= 40).all() and list(counts) == sorted(counts, reverse=True)
