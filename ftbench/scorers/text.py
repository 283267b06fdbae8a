"""Text-scoring helpers shared by the FT-Bench metrics: JSON extraction, set F1, CJRC character F1, ROUGE-L,
GLEU, Chinese numerals. Each says where it follows a benchmark's code and where it approximates it.
"""
from __future__ import annotations

import json
import re
import string
from collections import Counter

CN_PUNCT = "，。！？；：、（）《》〈〉【】「」『』“”‘’—…·～"


def extract_json(text: str, opener: str = "["):
    """The first JSON value of the given kind in a model's text ([ANSWER] tags and code fences tolerated)."""
    s = str(text)
    if "[ANSWER]" in s:
        s = s.split("[ANSWER]", 1)[1].split("[/ANSWER]", 1)[0]
    s = s.strip().strip("`").strip()
    if s.lower().startswith("json"):
        s = s[4:]
    try:
        return json.loads(s)
    except ValueError:
        pass
    closer = "]" if opener == "[" else "}"
    start, end = s.find(opener), s.rfind(closer)
    if start != -1 and end > start:
        try:
            return json.loads(s[start:end + 1])
        except ValueError:
            return None
    return None


def set_f1(pred: set, gold: set) -> float:
    """LawBench compute_f1_two_sets."""
    p = len(pred & gold) / len(pred) if pred else 0.0
    r = len(pred & gold) / len(gold) if gold else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def _cjrc_normalize(s: str) -> str:
    s = "".join(ch for ch in str(s).lower() if ch not in set(string.punctuation + CN_PUNCT))
    return "".join(s.split())


def char_f1(gold: str, pred: str) -> float:
    """CJRC-style reading-comprehension F1 over characters after dropping punctuation and spaces."""
    g, p = list(_cjrc_normalize(gold)), list(_cjrc_normalize(pred))
    if not g or not p:
        return float(g == p)
    common = sum((Counter(g) & Counter(p)).values())
    if not common:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


def _lcs(a: list, b: list) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def _jieba():
    try:
        import jieba
    except ImportError:
        return None
    jieba.setLogLevel(60)  # its start-up chatter on stderr is not a scoring result
    return jieba


def _rouge_chinese():
    try:
        from rouge_chinese import Rouge
    except ImportError:
        return None
    return Rouge()


def _tokens(text: str) -> list[str]:
    """jieba words when jieba is installed (LawBench's compute_rouge), else characters (approximation)."""
    jieba = _jieba()
    if jieba is not None:
        return [t for t in jieba.cut(text) if t.strip()]
    return [ch for ch in text if not ch.isspace()]


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F1 (rouge_chinese's 'rouge-l' f); an empty prediction counts as '无内容'. With jieba and
    rouge-chinese installed (the ftbench extra) this is LawBench's own call; else an LCS port of it."""
    h, r = _tokens(pred if str(pred).strip() else "无内容"), _tokens(str(ref))
    if not h or not r:
        return 0.0
    rouge = _rouge_chinese() if _jieba() is not None else None
    if rouge is not None:
        return float(rouge.get_scores(" ".join(h), " ".join(r))[0]["rouge-l"]["f"])
    lcs = _lcs(h, r)
    if not lcs:
        return 0.0
    p, rec = lcs / len(h), lcs / len(r)
    return 2 * p * rec / (p + rec)


def gleu(pred: str, ref: str, max_n: int = 4) -> float:
    """Sentence GLEU (min of n-gram precision and recall, n = 1..4) over characters."""
    h, r = [c for c in str(pred) if not c.isspace()], [c for c in str(ref) if not c.isspace()]
    hc = Counter(tuple(h[i:i + n]) for n in range(1, max_n + 1) for i in range(len(h) - n + 1))
    rc = Counter(tuple(r[i:i + n]) for n in range(1, max_n + 1) for i in range(len(r) - n + 1))
    tp = sum((hc & rc).values())
    total = max(sum(hc.values()), sum(rc.values()))
    return tp / total if total else 0.0


_CN_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000, "万": 10000}


def _cn_number(s: str) -> int:
    total, section, digit = 0, 0, None
    for ch in s:
        if ch in _CN_DIGIT:
            digit = _CN_DIGIT[ch] if digit is None else digit * 10 + _CN_DIGIT[ch]
        elif ch == "万":
            total += (section + (digit or 0)) * 10000
            section, digit = 0, None
        else:
            section += (1 if digit is None else digit) * _CN_UNIT[ch]
            digit = None
    return total + section + (digit or 0)


def cn2an(text: str) -> str:
    """Chinese numerals to Arabic digits (the part of cn2an.transform LawBench relies on: 三十六个月 -> 36个月)."""
    return re.sub(r"[零〇一二两三四五六七八九十百千万]+", lambda m: str(_cn_number(m.group())), str(text))
