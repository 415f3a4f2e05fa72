import statistics

import numpy as np
import pytest

from sparsevl.tasks.retrieval_metrics import (
    format_retrieval_table,
    retrieval_metrics,
    text_to_video_ranks,
    topk_metrics,
    topk_ranks,
    video_to_text_ranks,
)

# ------------------------------------------------------------------ brute force, from the definitions


def brute_t2v(S, t2v):
    ranks = []
    for t, row in enumerate(S):
        gt = t2v[t]
        ranks.append(1 + sum(1 for v in range(len(row)) if v != gt and row[v] >= row[gt]))
    return ranks


def brute_v2t(S, t2v):
    """{video: rank}: min over the video's captions; competitors are texts not captioning it."""
    out = {}
    for v in range(len(S[0])):
        captions = [t for t in range(len(S)) if t2v[t] == v]
        if captions:
            out[v] = min(
                1 + sum(1 for u in range(len(S)) if t2v[u] != v and S[u][v] >= S[c][v]) for c in captions
            )
    return out


def brute_summary(ranks, k_max=None):
    """ranks: list of int, or None for unknown (top-k miss)."""
    out = {}
    for K in (1, 5, 10):
        if not ranks or (k_max is not None and K > k_max):
            out[f"R@{K}"] = None
        else:
            out[f"R@{K}"] = 100.0 * sum(1 for r in ranks if r is not None and r <= K) / len(ranks)
    known = bool(ranks) and all(r is not None for r in ranks)
    out["MdR"] = statistics.median(ranks) if known else None
    out["MnR"] = statistics.mean(ranks) if known else None
    out["queries"] = len(ranks)
    return out


def brute_topk(idx, sc, t2v):
    ranks = []
    for t, (row_i, row_s) in enumerate(zip(idx, sc)):
        if t2v[t] not in row_i:
            ranks.append(None)
            continue
        g = list(row_i).index(t2v[t])
        ranks.append(1 + sum(1 for j in range(len(row_i)) if j != g and row_s[j] >= row_s[g]))
    return ranks


def assert_same(got, want):
    assert got.keys() == want.keys()
    for key, value in want.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(value), key


# ------------------------------------------------------------------ hand-made cases


def test_ties_count_against_target():
    S = np.array([[3, 5, 5], [2, 2, 1], [0, 0, 0]])
    t2v = [0, 1, 2]
    # text 0: 5, 5 beat 3 -> 3; text 1: video 0 ties at 2 -> 2; text 2: all tie -> 3
    assert text_to_video_ranks(S, t2v).tolist() == [3, 2, 3]
    # video 0: column [3, 2, 0], caption 3 beats both -> 1; video 1: [5, 2, 0], 5 > 2 -> 2;
    # video 2: [5, 1, 0], both others >= 0 -> 3
    ranks, videos = video_to_text_ranks(S, t2v)
    assert ranks.tolist() == [1, 2, 3] and videos.tolist() == [0, 1, 2]
    m = retrieval_metrics(S, t2v)
    assert m["t2v"]["R@1"] == 0.0 and m["t2v"]["MdR"] == 3.0 and m["t2v"]["MnR"] == pytest.approx(8 / 3)
    assert m["v2t"]["R@1"] == pytest.approx(100 / 3) and m["v2t"]["MnR"] == 2.0


def test_all_equal_scores_give_worst_ranks():
    S = np.full((4, 3), 0.25)
    t2v = [0, 0, 1, 2]
    # t2v: the 2 other videos tie -> rank 3 for every text
    assert text_to_video_ranks(S, t2v).tolist() == [3, 3, 3, 3]
    # v2t: video 0 has 2 captions; only the 2 other texts compete -> 3 (not 4: its own other
    # caption ties but is no competitor); videos 1, 2: 3 competitors -> 4
    ranks, _ = video_to_text_ranks(S, t2v)
    assert ranks.tolist() == [3, 4, 4]
    m = retrieval_metrics(S, t2v)
    assert m["t2v"]["R@1"] == 0.0 and m["v2t"]["R@1"] == 0.0 and m["t2v"]["R@5"] == 100.0


def test_perfect_diagonal():
    S = np.eye(5) + 0.01 * np.arange(25).reshape(5, 5) % 0.3  # off-diagonal < 1
    m = retrieval_metrics(S, np.arange(5))
    for d in ("t2v", "v2t"):
        assert m[d] == {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0, "MdR": 1.0, "MnR": 1.0, "queries": 5}
    assert (m["num_texts"], m["num_videos"], m["videos_without_caption"]) == (5, 5, 0)


def test_several_captions_and_a_video_without_caption():
    S = np.array(
        [
            [0.9, 0.1, 0.7],
            [0.2, 0.8, 0.3],
            [0.4, 0.0, 0.7],
            [0.6, 0.3, 0.6],
        ]
    )
    t2v = [0, 0, 2, 2]  # video 1 has no caption
    # t2v: t0 0.9 best -> 1; t1 0.2 < 0.8, 0.3 -> 3; t2 0.7 best -> 1; t3 0.6 ties video 0 -> 2
    assert text_to_video_ranks(S, t2v).tolist() == [1, 3, 1, 2]
    # v2t video 0: best caption t0 (0.9) beats t2, t3 -> 1 (caption t1 alone would rank 3)
    # video 2: best caption t2 (0.7), t0 ties at 0.7 -> 2 (t3 is a caption, not a competitor)
    ranks, videos = video_to_text_ranks(S, t2v)
    assert ranks.tolist() == [1, 2] and videos.tolist() == [0, 2]
    m = retrieval_metrics(S, t2v)
    assert m["videos_without_caption"] == 1 and m["v2t"]["queries"] == 2 and m["t2v"]["queries"] == 4
    assert m["v2t"]["R@1"] == 50.0 and m["v2t"]["MdR"] == 1.5
    assert m["t2v"]["R@1"] == 50.0 and m["t2v"]["MdR"] == 1.5 and m["t2v"]["MnR"] == 1.75


def test_no_text():
    m = retrieval_metrics(np.zeros((0, 3)), [])
    assert m["t2v"] == {"R@1": None, "R@5": None, "R@10": None, "MdR": None, "MnR": None, "queries": 0}
    assert m["v2t"]["queries"] == 0 and m["videos_without_caption"] == 3
    assert format_retrieval_table(m).splitlines()[2].split() == ["t2v", "-", "-", "-", "-", "-"]


def test_torch_input_matches_numpy():
    torch = pytest.importorskip("torch")  # imported here: the rest of the file needs no torch
    S = torch.tensor([[1.0, 2.0], [3.0, 0.5], [0.0, 0.0]], dtype=torch.bfloat16, requires_grad=True)
    t2v = torch.tensor([1, 0, 0])
    assert retrieval_metrics(S, t2v) == retrieval_metrics(S.detach().float().numpy(), [1, 0, 0])
    assert text_to_video_ranks(S, t2v).tolist() == [1, 1, 2]


# ------------------------------------------------------------------ random, against brute force


@pytest.mark.parametrize("seed", range(150))
def test_random_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    T, V = int(rng.integers(1, 14)), int(rng.integers(1, 9))
    S = rng.integers(0, 4, size=(T, V))  # few values: many ties
    t2v = rng.integers(0, V, size=T)  # some videos get several captions, some none
    assert text_to_video_ranks(S, t2v).tolist() == brute_t2v(S.tolist(), t2v.tolist())
    want_v2t = brute_v2t(S.tolist(), t2v.tolist())
    ranks, videos = video_to_text_ranks(S, t2v)
    assert dict(zip(videos.tolist(), ranks.tolist())) == want_v2t
    m = retrieval_metrics(S, t2v)
    assert_same(m["t2v"], brute_summary(brute_t2v(S.tolist(), t2v.tolist())))
    assert_same(m["v2t"], brute_summary(list(want_v2t.values())))
    assert m["videos_without_caption"] == V - len(want_v2t)


@pytest.mark.parametrize("seed", range(100))
def test_random_topk_against_brute_force(seed):
    rng = np.random.default_rng(1000 + seed)
    T, V = int(rng.integers(1, 10)), int(rng.integers(1, 15))
    k = int(rng.integers(0, V + 1))
    idx = np.stack([rng.permutation(V)[:k] for _ in range(T)]).reshape(T, k)
    sc = rng.integers(0, 3, size=(T, k))
    t2v = rng.integers(0, V, size=T)
    want = brute_topk(idx.tolist(), sc.tolist(), t2v.tolist())
    ranks, found = topk_ranks(idx, sc, t2v, V)
    assert found.tolist() == [r is not None for r in want]
    assert [int(r) if f else None for r, f in zip(ranks, found)] == want
    m = topk_metrics(idx, sc, t2v, V)
    t2v_m = dict(m["t2v"])
    assert t2v_m.pop("not_in_topk") == want.count(None)
    assert_same(t2v_m, brute_summary(want, k_max=k))
    assert m["k"] == k


def test_topk_by_hand():
    idx = np.array([[4, 2, 1, 6, 7], [0, 1, 3, 2, 4], [0, 3, 4, 5, 6]])
    sc = np.array([[0.9, 0.9, 0.1, 0.0, 0.0], [5, 4, 3, 2, 1], [0.5, 0.7, 0.2, 0.5, 0.1]])
    t2v = [2, 5, 0]
    # text 0: target 2 at 0.9, video 4 ties -> 2; text 1: video 5 not in list -> unknown (> 5);
    # text 2: target 0 at 0.5, video 3 (0.7) higher, video 5 ties -> 3
    ranks, found = topk_ranks(idx, sc, t2v, 8)
    assert found.tolist() == [True, False, True] and ranks[found].tolist() == [2, 3]
    m = topk_metrics(idx, sc, t2v, 8)["t2v"]
    assert m["R@1"] == 0.0 and m["R@5"] == pytest.approx(200 / 3)
    assert m["R@10"] is None  # 10 > k = 5: unknowable
    assert m["MdR"] is None and m["MnR"] is None and m["not_in_topk"] == 1


def test_topk_of_all_videos_equals_full_metrics():
    rng = np.random.default_rng(7)
    S = rng.integers(0, 5, size=(30, 12))
    t2v = rng.integers(0, 12, size=30)
    idx = np.argsort(-S, axis=1, kind="stable")
    got = topk_metrics(idx, np.take_along_axis(S, idx, 1), t2v, 12)["t2v"]
    assert got.pop("not_in_topk") == 0
    assert got == retrieval_metrics(S, t2v)["t2v"]


def test_topk_recall_matches_full_without_ties():
    rng = np.random.default_rng(3)
    S = rng.random((200, 50))
    t2v = rng.integers(0, 50, size=200)
    idx = np.argsort(-S, axis=1)[:, :5]
    m = topk_metrics(idx, np.take_along_axis(S, idx, 1), t2v, 50)["t2v"]
    full = retrieval_metrics(S, t2v)["t2v"]
    assert m["R@1"] == full["R@1"] and m["R@5"] == full["R@5"] and 0 < m["R@5"] < 100
    assert m["not_in_topk"] == round(200 * (1 - full["R@5"] / 100))


# ------------------------------------------------------------------ errors, speed, table


def test_nan_is_an_error():
    S = np.array([[1.0, np.nan], [np.nan, 0.0]])
    with pytest.raises(ValueError, match="2 NaN"):
        retrieval_metrics(S, [0, 1])
    with pytest.raises(ValueError, match="1 NaN"):
        topk_metrics([[0, 1]], [[np.nan, 1.0]], [0], 2)


@pytest.mark.parametrize(
    "scores, t2v, message",
    [
        (np.zeros(3), [0, 1, 2], "2-D"),
        (np.zeros((3, 2)), [0, 1], r"shape \(3,\)"),
        (np.zeros((2, 2)), [0, 2], r"outside \[0, 2\)"),
        (np.zeros((2, 2)), [0, -1], "outside"),
        (np.zeros((2, 2)), [0.0, 1.0], "integer"),
        (np.array([["a", "b"]]), [0], "dtype"),
    ],
)
def test_bad_inputs(scores, t2v, message):
    with pytest.raises(ValueError, match=message):
        retrieval_metrics(scores, t2v)


def test_bad_topk_inputs():
    with pytest.raises(ValueError, match="shaped like topk_scores"):
        topk_metrics([[0, 1]], [[1.0, 2.0, 3.0]], [0], 4)
    with pytest.raises(ValueError, match="twice"):
        topk_metrics([[1, 1]], [[1.0, 2.0]], [1], 4)
    with pytest.raises(ValueError, match="outside"):
        topk_metrics([[0, 4]], [[1.0, 2.0]], [0], 4)
    with pytest.raises(ValueError, match=r"shape \(1,\)"):
        topk_metrics([[0, 1]], [[1.0, 2.0]], [0, 1], 4)


def test_thousand_by_thousand():
    rng = np.random.default_rng(0)
    S = rng.standard_normal((1000, 1000)).astype(np.float32)
    S[np.arange(1000), np.arange(1000)] += 4.0  # R@1 about 76%
    m = retrieval_metrics(S, np.arange(1000))
    assert 50 < m["t2v"]["R@1"] < 100 and m["v2t"]["queries"] == 1000


def test_table():
    m = retrieval_metrics(np.array([[3, 5, 5], [2, 2, 1], [0, 0, 0]]), [0, 1, 2])
    lines = format_retrieval_table(m).splitlines()
    assert lines[0].split() == ["Direction", "R@1", "R@5", "R@10", "MdR", "MnR"]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split() == ["t2v", "0.0", "100.0", "100.0", "3.0", "2.7"]
    assert lines[3].split() == ["v2t", "33.3", "100.0", "100.0", "2.0", "2.0"]
    assert len({len(line) for line in lines}) == 1  # aligned
    topk = topk_metrics([[1, 0]], [[0.9, 0.1]], [0], 2)
    assert format_retrieval_table(topk).splitlines()[2].split() == ["t2v", "0.0", "-", "-", "2.0", "2.0"]
