"""oMeS, oMeBench's mechanism score (skylarkie/oMeBench scripts/utils_eval.py), for one reaction.

Gold and predicted steps are aligned with the weighted Needleman-Wunsch dynamic programme of utils_eval.oMeS
(same tie-breaking: total, then partial, then match > type-mismatch > skip, then fewer skips). Steps match
on subtype; S_total credits the gold step weight when the canonical intermediates are equal, S_partial
credits weight x Tanimoto similarity when it reaches tau = 0.6. Chemistry comes from ftbench.scorers.chem
(RDKit when installed). Output parsing follows scripts/run.py ([ANSWER] tags, code fences, a 'mechanism'
key); a prediction that is not a list of steps scores 0.
"""
from __future__ import annotations

from ftbench.scorers import chem
from ftbench.scorers.text import extract_json

TAU = 0.60
PENALTY = 1e-6
RANK = {"match": 3, "type_mismatch": 2, "skip": 1}


def parse_steps(text: str):
    data = extract_json(text, "[")
    if isinstance(data, dict):
        data = data.get("mechanism", data)
    return data if isinstance(data, list) else None


def omes(gold: list[tuple[str, str, float]], pred: list[tuple[str, str]], tau: float = TAU) -> tuple[float, float]:
    """(S_total, S_partial), each rounded to 2 decimals as utils_eval.oMeS returns them."""
    n, m = len(gold), len(pred)
    # cell = (total, partial, rank, penalty): compared as a tuple, like the reference's max key
    dp = [[(0.0, 0.0, 0, 0.0)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        t, p, _, pen = dp[i - 1][0]
        dp[i][0] = (t, p, RANK["skip"], pen - PENALTY)
    for j in range(1, m + 1):
        t, p, _, pen = dp[0][j - 1]
        dp[0][j] = (t, p, RANK["skip"], pen - PENALTY)
    gold_can = [chem.canonical(s) for _, s, _ in gold]
    pred_can = [chem.canonical(s) for _, s in pred]
    for i in range(1, n + 1):
        g_type, g_smi, w = gold[i - 1]
        for j in range(1, m + 1):
            p_type, p_smi = pred[j - 1]
            if g_type == p_type:
                m_tot = w if gold_can[i - 1] and gold_can[i - 1] == pred_can[j - 1] else 0.0
                sim = chem.similarity(g_smi, p_smi) if gold_can[i - 1] and pred_can[j - 1] else 0.0
                m_par = w * (sim if sim >= tau else 0.0)
                diag_rank, diag_pen = RANK["match"], 0.0
            else:
                m_tot = m_par = 0.0
                diag_rank, diag_pen = RANK["type_mismatch"], -PENALTY
            up, left, diag = dp[i - 1][j], dp[i][j - 1], dp[i - 1][j - 1]
            dp[i][j] = max((up[0], up[1], RANK["skip"], up[3] - PENALTY),
                           (left[0], left[1], RANK["skip"], left[3] - PENALTY),
                           (diag[0] + m_tot, diag[1] + m_par, diag_rank, diag[3] + diag_pen))
    return round(dp[n][m][0], 2), round(dp[n][m][1], 2)


def gold_steps(ref: str) -> list[tuple[str, str, float]]:
    """A reference mechanism; steps without step_weight (oMe-Silver rows) weigh 1/N each."""
    steps = parse_steps(ref) or []
    n = len(steps) or 1
    return [(s["subtype"], s["intermediate_smiles"], float(s.get("step_weight", 1.0 / n))) for s in steps]


def score(pred: str, ref: str, partial: bool = True) -> float:
    steps = parse_steps(pred)
    try:
        pred_steps = [(s["subtype"], s["intermediate_smiles"]) for s in steps]
    except (TypeError, KeyError):
        return 0.0  # run.py: an output that is not a list of steps scores 0
    total, part = omes(gold_steps(ref), pred_steps)
    return part if partial else total
