"""UCT selection, backpropagation and the planning memory on hand-built trees."""
import math

import pytest

from trex.tree import ROOT, backpropagate, best_node, normalised_reward, select_node, uct


def node(nid, parent, rnd, score, visits, value, **kw):
    return {"id": nid, "parent": parent, "round": rnd, "status": "evaluated", "score": score,
            "visits": visits, "value": value, "reward": value / max(visits, 1), "trials": [], **kw}


@pytest.fixture
def tree():
    # root (base 0.2) -> a (0.6, explored a lot) and b (0.5, barely explored); a -> a1 (0.7)
    return {
        ROOT: node(ROOT, None, 0, 0.2, 10, 3.0),
        "a": node("a", ROOT, 1, 0.6, 8, 3.2),
        "b": node("b", ROOT, 2, 0.5, 1, 0.3),
        "a1": node("a1", "a", 3, 0.7, 1, 0.5),
    }


def test_uct_formula():
    n = {"visits": 4, "value": 2.0}
    assert uct(n, 16, 1.0) == pytest.approx(0.5 + math.sqrt(math.log(16) / 4))
    assert uct({"visits": 0, "value": 0.0}, 5, 1.0) == math.inf


def test_uct_global_prefers_under_explored_with_high_c(tree):
    # With exploration, the rarely visited nodes win; with c=0 pure exploitation picks the best mean value.
    assert select_node(tree, "uct_global", c=5.0, max_children=3) in {"b", "a1"}
    assert select_node(tree, "uct_global", c=0.0, max_children=3) == "a1"  # mean 0.5 is the highest


def test_uct_global_skips_full_nodes(tree):
    tree["b"]["value"] = 100.0  # the most attractive node, but it has max_children children already
    for i in range(2):
        tree[f"b{i}"] = node(f"b{i}", "b", 4 + i, 0.1, 1, 0.0)
    assert select_node(tree, "uct_global", c=0.0, max_children=2) != "b"


def test_uct_descend_walks_down_fully_expanded_nodes(tree):
    # root has 2 children and max_children=2: it is full, so descend to the child with best UCT.
    assert select_node(tree, "uct_descend", c=0.0, max_children=2) == "a"
    assert select_node(tree, "uct_descend", c=10.0, max_children=2) == "b"
    assert select_node(tree, "uct_descend", c=0.0, max_children=3) == ROOT  # root not full: expand it


def test_uct_descend_never_selects_a_failed_node(tree):
    tree["b"].update(failed=True, value=100.0)  # the most attractive child by UCT, but its trials all failed
    assert select_node(tree, "uct_descend", c=10.0, max_children=2) == "a"
    tree["a"]["failed"] = True  # every child failed: widen the (full) root instead
    assert select_node(tree, "uct_descend", c=10.0, max_children=2) == ROOT


def test_sequential_continues_from_the_newest_node_that_trained(tree):
    tree["a1"]["failed"] = True
    assert select_node(tree, "sequential") == "b"


def test_uct_can_widen_the_root():
    # The root's own reward is the base model's 0: it no longer drags the root's mean below its subtree's, so the
    # root competes with its child on equal terms (and, older, wins the tie) instead of always losing.
    tree = {ROOT: node(ROOT, None, 0, 0.2, 4, 1.2), "a": node("a", ROOT, 1, 0.8, 3, 1.2),
            "a1": node("a1", "a", 2, 0.3, 1, 0.0), "a2": node("a2", "a", 3, 0.3, 1, 0.0)}
    tree[ROOT]["reward"] = 0.0
    for n in ("a1", "a2"):
        tree[n]["failed"] = True  # nothing below a to expand
    assert select_node(tree, "uct_global", c=0.0, max_children=3) == ROOT  # was a: root mean 1.2/4 < a's 1.2/3


def test_greedy_and_sequential(tree):
    assert select_node(tree, "greedy", max_children=3) == "a1"
    assert select_node(tree, "sequential") == "a1"  # the newest round
    tree["b"]["round"] = 9
    assert select_node(tree, "sequential") == "b"


def test_failed_nodes_are_not_expanded(tree):
    tree["a1"]["failed"] = True
    assert select_node(tree, "greedy", max_children=3) == "a"


def test_unknown_policy(tree):
    with pytest.raises(ValueError, match="unknown selection policy"):
        select_node(tree, "random_walk")


def test_backpropagation_updates_the_path_only(tree):
    changed = backpropagate(tree, "a1", 0.4)
    assert set(changed) == {ROOT, "a", "a1"}
    assert changed[ROOT]["visits"] == 11 and changed[ROOT]["value"] == pytest.approx(3.4)
    assert changed["a"]["visits"] == 9 and changed["a1"]["value"] == pytest.approx(0.9)
    assert tree["a"]["visits"] == 8  # pure: the input tree is unchanged


def test_best_node_respects_direction(tree):
    assert best_node(tree, higher_is_better=True)["id"] == "a1"
    assert best_node(tree, higher_is_better=False)["id"] == ROOT


def test_normalised_reward():
    assert normalised_reward(0.3, 0.2, 0.8, True) == pytest.approx(0.5)  # half of the gap to the reference
    assert normalised_reward(0.3, 0.2, None, True) == pytest.approx(0.3)
    assert normalised_reward(1.0, 5.0, 3.0, False) == pytest.approx(0.5)  # lower-is-better metric
