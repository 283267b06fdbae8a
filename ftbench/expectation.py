"""Random search's expectation on a complete replay table, computed exactly instead of sampled over a few seeds.

Random search draws distinct configurations uniformly and keeps the best on validation; the runner keeps the
first-drawn of configurations tied on validation, which over the draw orders is each tied one alike. Given every
configuration's (validation, test) pair:

* n trials: each subset of size n is equally likely, so with the configurations grouped by validation level,
  P(the best level in the subset is v) = [C(below_v + at_v, n) - C(below_v, n)] / C(N, n), and the winner is then
  any configuration of level v alike (ties averaged): E = sum_v P(v) * mean test of level v.
* equal compute (draw until the tokens reach a budget T; the trial that crosses it finishes): the drawn set is
  A then l, with sum(A) < T <= sum(A) + tokens(l), which a uniform draw order gives with probability
  |A|! (N - |A| - 1)! / N!; the sum runs over every such A (enumerated, pruned by the sorted token counts).
"""
from __future__ import annotations

import math
from statistics import fmean


def _levels(vals: list[float], tests: list[float]) -> list[tuple[int, list[float]]]:
    """(number of configurations, their test values) per validation level, lowest level first."""
    groups: dict[float, list[float]] = {}
    for v, t in zip(vals, tests):
        groups.setdefault(v, []).append(t)
    return [(len(groups[v]), groups[v]) for v in sorted(groups)]


def expected_best(vals: list[float], tests: list[float], n: int) -> float:
    """The mean test value of the best-on-validation configuration over every subset of size n (validation:
    higher is better; ties averaged). n = len(vals) gives the val-oracle."""
    size = len(vals)
    if not 1 <= n <= size or len(tests) != size:
        raise ValueError(f"need 1 <= n <= {size} configurations and one test value each, got n={n}")
    total, below, out = math.comb(size, n), 0, 0.0
    for count, level_tests in _levels(vals, tests):
        p = (math.comb(below + count, n) - math.comb(below, n)) / total
        out += p * fmean(level_tests)
        below += count
    return out


def _winner_test(best_val: float, tied: list[float], l_val: float, l_test: float) -> float:
    """The test value random search reports for the drawn set A + [l] (l drawn last): the first-drawn of the
    configurations tied at the top, uniform over the draw orders of A, so l wins only when alone at the top."""
    return l_test if not tied or l_val > best_val else fmean(tied)


def expected_best_at_tokens(vals: list[float], tests: list[float], tokens: list[int], budget: float) -> float:
    """The mean test value of random search's best-on-validation configuration when it draws distinct
    configurations until it has trained `budget` tokens (the runner's equal compute), over every draw order."""
    size = len(vals)
    if sum(tokens) < budget:  # the whole space is drawn before the budget is spent
        return expected_best(vals, tests, size)
    order = sorted(range(size), key=lambda i: tokens[i])
    fact = [math.factorial(k) for k in range(size + 1)]
    total = 0.0

    def visit(start: int, spent: float, chosen: list[int], best_val: float, tied: list[float]) -> None:
        nonlocal total
        k = len(chosen)
        weight = fact[k] * fact[size - k - 1] / fact[size]
        members = set(chosen)
        for i in range(size):  # l: the draw that crosses the budget
            if i not in members and spent + tokens[i] >= budget:
                total += weight * _winner_test(best_val, tied, vals[i], tests[i])
        for pos in range(start, size):  # A grows by configurations in token order: each set visited once
            i = order[pos]
            if spent + tokens[i] >= budget:
                break  # sorted: every later configuration crosses the budget too
            if vals[i] > best_val:
                visit(pos + 1, spent + tokens[i], chosen + [i], vals[i], [tests[i]])
            elif vals[i] == best_val:
                visit(pos + 1, spent + tokens[i], chosen + [i], best_val, tied + [tests[i]])
            else:
                visit(pos + 1, spent + tokens[i], chosen + [i], best_val, tied)

    visit(0, 0.0, [], -math.inf, [])
    return total
