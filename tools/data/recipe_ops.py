"""Pure data-recipe operators on lists of {"input", "output"} records.

Convention: every operator returns ``(records, report)``: a NEW list (the input list and its dicts are never
mutated; kept dicts are the same objects, so a caller can trace them back to their source) and a small
JSON-able dict of counts that always has "dropped" (mix_sources and balance_classes add more keys).
"""
from __future__ import annotations

import math
import random
import re
import unicodedata
from collections import Counter, defaultdict

SHINGLE = 5  # character n-gram size for near-duplicate detection
# A kept record is indexed under at most this many entries per shingle bucket. Only pathological data (over a
# thousand kept records sharing one of their rarest shingles) can then miss a near-duplicate, and the work
# stays O(n * prefix * bucket) instead of quadratic.
MAX_BUCKET = 1000


def normalize(text: str) -> str:
    """Casefolded, whitespace-collapsed text: the key that exact dedup and leak checks compare."""
    return " ".join(str(text).casefold().split())


def symbol_ratio(text: str) -> float:
    """Share of characters that are neither letters (any script), digits nor whitespace.

    Combining marks (Unicode category M*) count as letters: Devanagari, Thai, Arabic... spell words with them,
    and str.isalpha() is False for them, which would flag clean non-Latin text as noise.
    """
    if not text:
        return 0.0
    symbols = sum(1 for ch in text if not (ch.isalpha() or ch.isdigit() or ch.isspace()
                                           or unicodedata.category(ch).startswith("M")))
    return symbols / len(text)


def filter_records(records: list[dict], *, min_input_chars: int | None = None, max_input_chars: int | None = None,
                   min_output_chars: int | None = None, max_output_chars: int | None = None,
                   regex_include: str | None = None, regex_exclude: str | None = None,
                   max_symbol_ratio: float | None = None, drop_empty_output: bool = False):
    """Keep records passing every given check; the report counts each record under its first failed check."""
    include = re.compile(regex_include) if regex_include else None
    exclude = re.compile(regex_exclude) if regex_exclude else None
    checks = [
        ("empty_output", lambda i, o: drop_empty_output and not o.strip()),
        ("input_too_short", lambda i, o: min_input_chars is not None and len(i) < min_input_chars),
        ("input_too_long", lambda i, o: max_input_chars is not None and len(i) > max_input_chars),
        ("output_too_short", lambda i, o: min_output_chars is not None and len(o) < min_output_chars),
        ("output_too_long", lambda i, o: max_output_chars is not None and len(o) > max_output_chars),
        ("regex_include", lambda i, o: include is not None and not include.search(i)),
        ("regex_exclude", lambda i, o: exclude is not None and bool(exclude.search(i))),
        ("symbol_ratio", lambda i, o: max_symbol_ratio is not None and symbol_ratio(i) > max_symbol_ratio),
    ]
    reasons: Counter = Counter()
    kept = []
    for r in records:
        failed = next((name for name, bad in checks if bad(r["input"], r["output"])), None)
        if failed:
            reasons[failed] += 1
        else:
            kept.append(r)
    return kept, {"dropped": len(records) - len(kept), **dict(sorted(reasons.items()))}


def dedup_exact(records: list[dict]):
    """Keep the first record of each normalized input (as the run's train/val/test split does)."""
    seen, kept = set(), []
    for r in records:
        key = normalize(r["input"])
        if key not in seen:
            seen.add(key)
            kept.append(r)
    return kept, {"dropped": len(records) - len(kept)}


def shingles(text: str, k: int = SHINGLE) -> frozenset[str]:
    t = normalize(text)
    return frozenset([t]) if len(t) <= k else frozenset(t[i:i + k] for i in range(len(t) - k + 1))


class _NearIndex:
    """Exact Jaccard >= t search with prefix and positional filtering (the PPJoin algorithm).

    Shingles are ranked rarest first; two sets with Jaccard >= t share a shingle among the first
    |s| - ceil(t*|s|) + 1 of each, so only those are indexed and probed. Where a shared shingle sits bounds the
    overlap that is still possible, which prunes most candidates; the rest are verified exactly: no false
    positives and, unlike MinHash, no randomness.
    """

    def __init__(self, threshold: float, all_sets: list[frozenset]):
        self.t = threshold
        freq: Counter = Counter()
        for s in all_sets:
            freq.update(s)
        self.rank = {tok: i for i, tok in enumerate(sorted(freq, key=lambda tok: (freq[tok], tok)))}
        self.sets: list[frozenset[int]] = []
        self.buckets: dict[int, list[tuple[int, int]]] = defaultdict(list)

    def prepare(self, s: frozenset[str]) -> tuple[frozenset[int], list[int]]:
        """The set as shingle ranks, and its probe prefix (rarest first)."""
        ranks = sorted(map(self.rank.__getitem__, s))
        return frozenset(ranks), ranks[:len(ranks) - math.ceil(self.t * len(ranks) - 1e-9) + 1]

    def match(self, prepared: tuple[frozenset[int], list[int]]) -> bool:
        x, prefix = prepared
        n, t, overlap = len(x), self.t, {}
        for i, tok in enumerate(prefix):
            for j, pos in self.buckets.get(tok, ()):
                seen = overlap.get(j, 0)
                if seen < 0:
                    continue
                m = len(self.sets[j])
                need = math.ceil(t / (1 + t) * (n + m) - 1e-9)  # Jaccard >= t  <=>  overlap >= need
                # Shared shingles so far, this one, and at most the shorter remainder of the two sets.
                ok = min(n, m) >= t * max(n, m) - 1e-9 and seen + 1 + min(n - i - 1, m - pos - 1) >= need
                overlap[j] = seen + 1 if ok else -1
        return any(c > 0 and len(x & self.sets[j]) >= math.ceil(t / (1 + t) * (n + len(self.sets[j])) - 1e-9)
                   for j, c in overlap.items())

    def add(self, prepared: tuple[frozenset[int], list[int]]) -> None:
        x, prefix = prepared
        self.sets.append(x)
        for pos, tok in enumerate(prefix):
            if len(self.buckets[tok]) < MAX_BUCKET:
                self.buckets[tok].append((len(self.sets) - 1, pos))


def dedup_near(records: list[dict], threshold: float = 0.8):
    """Drop a record whose input's 5-gram Jaccard with an earlier kept input is >= threshold."""
    sets = [shingles(r["input"]) for r in records]
    index, kept = _NearIndex(threshold, sets), []
    for r, s in zip(records, sets):
        prepared = index.prepare(s)
        if not index.match(prepared):
            index.add(prepared)
            kept.append(r)
    return kept, {"dropped": len(records) - len(kept)}


def drop_leaks(records: list[dict], holdout_inputs: list[str], near_threshold: float | None = None):
    """Drop training records whose input repeats a validation/test input: exactly, or near it when a threshold
    is given. A leaked example inflates the validation score that the search optimizes."""
    exact = {normalize(x) for x in holdout_inputs}
    kept = [r for r in records if normalize(r["input"]) not in exact]
    if near_threshold is not None and kept and holdout_inputs:
        sets = [shingles(r["input"]) for r in kept]
        held = [shingles(x) for x in holdout_inputs]
        index = _NearIndex(near_threshold, sets + held)
        for s in held:
            index.add(index.prepare(s))
        kept = [r for r, s in zip(kept, sets) if not index.match(index.prepare(s))]
    return kept, {"dropped": len(records) - len(kept)}


def _pick(records: list[dict], n: int, rng: random.Random) -> list[dict]:
    """n records in their original order: a seeded sample, or whole copies plus a sample when n > len."""
    if not records or n <= 0:
        return []
    copies, rest = divmod(n, len(records))
    chosen = sorted(rng.sample(range(len(records)), rest))
    return records * copies + [records[i] for i in chosen]


def _apportion(shares: list[float], total: int) -> list[int]:
    """Integers proportional to shares that sum to total (largest remainder; ties go to the earlier source)."""
    s = sum(shares)
    if s <= 0 or total <= 0:
        return [0] * len(shares)
    exact = [total * x / s for x in shares]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[:total - sum(counts)]:
        counts[i] += 1
    return counts


def mix_sources(sources: list[tuple[list[dict], float]], cap: int | None = None, seed: int = 0):
    """Mix sources by weight, relative to the FIRST source (the task's own train split, weight 1.0 by convention).

    Source i contributes len(first) * w_i / w_first records (subsampled, or repeated when it has fewer); when
    the total exceeds cap, every count is scaled down alike, so the weights still hold in the capped mix.
    Report: "taken" per source, "repeated" (copies beyond each source's size) and "dropped" (unused records).
    """
    if not sources:
        return [], {"taken": [], "repeated": 0, "dropped": 0}
    anchor, w0 = len(sources[0][0]), sources[0][1]
    targets = [anchor * w / w0 for _, w in sources]
    total = round(sum(targets))
    counts = _apportion(targets, min(total, cap) if cap is not None else total)
    mixed, repeated, unused = [], 0, 0
    for i, ((recs, _), n) in enumerate(zip(sources, counts)):
        mixed += _pick(recs, n, random.Random(seed * 1_000_003 + i))
        repeated += max(0, n - len(recs))
        unused += max(0, len(recs) - n)
    return mixed, {"taken": counts, "repeated": repeated, "dropped": unused}


def sample_cap(records: list[dict], cap: int | None, seed: int = 0):
    """A seeded uniform sample of at most cap records, in their original order."""
    if cap is None or len(records) <= cap:
        return list(records), {"dropped": 0}
    return _pick(records, cap, random.Random(seed)), {"dropped": len(records) - cap}


def balance_classes(records: list[dict], mode: str = "none", per_class_cap: int | None = None, seed: int = 0):
    """Even out label counts (the output string is the label).

    downsample: every class to the smallest class count, or to per_class_cap when given.
    upsample: every class repeated (seeded) up to the largest class count, capped by per_class_cap.
    Report: "dropped", "added" and the per-class counts after balancing ("classes").
    """
    by_label: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_label[r["output"]].append(r)
    if mode == "none" or not by_label:
        return list(records), {"dropped": 0, "added": 0, "classes": {k: len(v) for k, v in sorted(by_label.items())}}
    sizes = [len(v) for v in by_label.values()]
    if mode == "downsample":
        target = per_class_cap if per_class_cap is not None else min(sizes)
    elif mode == "upsample":
        target = min(max(sizes), per_class_cap) if per_class_cap is not None else max(sizes)
    else:
        raise ValueError(f"unknown balance mode {mode!r} (use none, downsample or upsample)")
    out, dropped, added = [], 0, 0
    for i, (label, recs) in enumerate(sorted(by_label.items())):
        n = min(len(recs), target) if mode == "downsample" else target
        out += _pick(recs, n, random.Random(seed * 1_000_003 + i))
        dropped += max(0, len(recs) - n)
        added += max(0, n - len(recs))
    classes = Counter(r["output"] for r in out)
    return out, {"dropped": dropped, "added": added, "classes": dict(sorted(classes.items()))}
