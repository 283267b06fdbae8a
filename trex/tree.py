"""Pure functions over the flat search tree: structure, rewards, selection, backpropagation."""
from __future__ import annotations

import math

from trex.state import Node

ROOT = "root"


def children(tree: dict[str, Node], node_id: str) -> list[Node]:
    return sorted((n for n in tree.values() if n.get("parent") == node_id), key=lambda n: n["round"])


def path_to(tree: dict[str, Node], node_id: str) -> list[Node]:
    """Nodes from the root down to node_id, both included."""
    path = []
    cur: str | None = node_id
    while cur is not None:
        node = tree[cur]
        path.append(node)
        cur = node.get("parent")
    return path[::-1]


def depth(tree: dict[str, Node], node_id: str) -> int:
    return len(path_to(tree, node_id)) - 1


def siblings(tree: dict[str, Node], node_id: str) -> list[Node]:
    parent = tree[node_id].get("parent")
    if parent is None:
        return []
    return [n for n in children(tree, parent) if n["id"] != node_id]


def normalised_reward(gain: float, base: float, reference: float | None, higher_is_better: bool) -> float:
    """Gain over the base model, as a fraction of the gap to the reference score where there is one."""
    if reference is not None:
        gap = (reference - base) if higher_is_better else (base - reference)
        if gap > 1e-9:
            return gain / gap
    return gain


def evaluated(tree: dict[str, Node]) -> list[Node]:
    return [n for n in tree.values() if n.get("status") == "evaluated"]


def best_node(tree: dict[str, Node], higher_is_better: bool = True) -> Node | None:
    """The evaluated node with the best validation score; earlier rounds win ties."""
    nodes = sorted(evaluated(tree), key=lambda n: n["round"])
    if not nodes:
        return None
    sign = 1 if higher_is_better else -1
    return max(nodes, key=lambda n: (sign * n["score"], -n["round"]))


def uct(node: Node, parent_visits: int, c: float) -> float:
    visits = node.get("visits", 0)
    if visits == 0:
        return math.inf
    return mean_reward(node) + c * math.sqrt(math.log(max(parent_visits, 1)) / visits)


def mean_reward(node: Node) -> float:
    """The mean reward of the node's subtree. The root's own visit (the base model, reward 0 by definition) is
    left out: counting it made the root look worse than any of its children, so UCT never widened it."""
    visits, value = node.get("visits", 0), node.get("value", 0.0)
    if node.get("id") == ROOT and visits > 1:
        visits -= 1
    return value / max(visits, 1)


def expandable(tree: dict[str, Node], node: Node, max_children: int) -> bool:
    return node.get("status") == "evaluated" and not node.get("failed") and len(children(tree, node["id"])) < max_children


def select_node(tree: dict[str, Node], policy: str = "uct_global", c: float = 1.0, max_children: int = 3,
                higher_is_better: bool = True) -> str:
    """Pick the node whose child the next round will be.

    uct_global: best UCT score over all expandable nodes.  uct_descend: walk down from the root by UCT
    while the current node is fully expanded.  greedy: the best-scoring expandable node.  sequential:
    the newest evaluated node (a chain, the paper's ablation baseline).
    """
    if ROOT not in tree:
        raise ValueError("tree has no root")
    if policy == "sequential":  # a chain: the newest node that trained, the root while none has
        return max((n for n in evaluated(tree) if not n.get("failed")), key=lambda n: n["round"])["id"]
    candidates = [n for n in tree.values() if expandable(tree, n, max_children)]
    if not candidates:  # every node is full or failed: widen the best one rather than stop
        best = best_node(tree, higher_is_better)
        return best["id"] if best else ROOT
    if policy == "greedy":
        sign = 1 if higher_is_better else -1
        return max(sorted(candidates, key=lambda n: n["round"]), key=lambda n: sign * n["score"])["id"]
    if policy == "uct_global":
        total = tree[ROOT].get("visits", 1)
        scored = [(uct(n, tree[n["parent"]]["visits"] if n.get("parent") else total, c), -n["round"], n["id"])
                  for n in candidates]
        return max(scored)[2]
    if policy == "uct_descend":
        cur = tree[ROOT]
        while not expandable(tree, cur, max_children):
            # A failed child is a dead end (nothing to warm-start from, nothing to widen): never descend into it.
            kids = [k for k in children(tree, cur["id"]) if k.get("status") == "evaluated" and not k.get("failed")]
            if not kids:
                break  # every child failed: widen this node, though it is full
            cur = max(kids, key=lambda k: (uct(k, cur.get("visits", 1), c), -k["round"]))
        return cur["id"]
    raise ValueError(f"unknown selection policy {policy!r}")


def backpropagate(tree: dict[str, Node], node_id: str, reward: float) -> dict[str, Node]:
    """Add one visit and the reward to node_id and every ancestor; return the changed nodes."""
    changed = {}
    for node in path_to(tree, node_id):
        changed[node["id"]] = {**node, "visits": node.get("visits", 0) + 1, "value": node.get("value", 0.0) + reward}
    return changed


def describe(node: Node) -> str:
    score = "all trials failed" if node.get("failed") else f"score {node.get('score', 0.0):.4f}"
    return f"{node['id']} (round {node['round']}): {score}, reward {node.get('reward', 0.0):+.3f}"
