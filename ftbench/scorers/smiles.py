"""A small SMILES reader: the fallback chemistry when RDKit is not installed (ftbench/scorers/chem.py).

It builds the molecular graph (elements, aromatic flags, charges, hydrogens, bond orders, ring bonds) well
enough to count atoms, bonds and functional groups. Approximations, against RDKit: validity is syntax plus
a valence ceiling (no kekulization or aromaticity perception: a Kekulé benzene keeps single/double bonds),
and aromatic n/o/s get hydrogens only when written in brackets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

ORGANIC = {"B": (3,), "C": (4,), "N": (3, 5), "O": (2,), "P": (3, 5), "S": (2, 4, 6),
           "F": (1,), "Cl": (1,), "Br": (1,), "I": (1,)}
AROMATIC = {"b": "B", "c": "C", "n": "N", "o": "O", "p": "P", "s": "S", "se": "Se", "as": "As", "te": "Te"}
ELEMENTS = set("H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br "
               "Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho "
               "Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu".split())
TOKEN = re.compile(r"\[[^\]]*\]|Br|Cl|[BCNOPSFI]|[bcnops]|%\d\d|\d|[-=#$:/\\().]|.")
BRACKET = re.compile(r"^\[(\d+)?([A-Z][a-z]?|se|as|te|[bcnops])(@{0,2}(?:TH\d|AL\d|SP\d|TB\d+|OH\d+)?)?"
                     r"(H\d?)?([+-]+\d*|[+-]\d+)?(:\d+)?\]$")
BOND_ORDER = {"-": 1.0, "/": 1.0, "\\": 1.0, "=": 2.0, "#": 3.0, "$": 4.0, ":": 1.5}


@dataclass
class Atom:
    element: str
    aromatic: bool = False
    charge: int = 0
    hs: int | None = None  # explicit (bracket) hydrogens; None = implicit, computed
    bonds: list[tuple[int, float]] = field(default_factory=list)  # (neighbour, order)


@dataclass
class Graph:
    atoms: list[Atom]
    bonds: list[tuple[int, int, float]]
    ring_bonds: set[frozenset] = field(default_factory=set)

    def h(self, i: int) -> int:
        return self.atoms[i].hs if self.atoms[i].hs is not None else _implicit_h(self.atoms[i])

    def degree(self, i: int) -> int:
        return len(self.atoms[i].bonds)

    def total_degree(self, i: int) -> int:  # SMARTS X: connections including hydrogens
        return self.degree(i) + self.h(i)


def _charge(text: str | None) -> int:
    if not text:
        return 0
    sign = 1 if text[0] == "+" else -1
    digits = text.lstrip("+-")
    return sign * (int(digits) if digits else len(text))


def _implicit_h(a: Atom) -> int:
    if a.element not in ORGANIC:
        return 0
    if a.aromatic:  # one valence unit goes to the aromatic system; only aromatic carbon/boron carry implicit H
        if a.element not in ("C", "B"):
            return 0
        used = sum(1 if o == 1.5 else o for _, o in a.bonds) + 1
        return max(0, ORGANIC[a.element][0] - int(used))
    used = int(sum(o for _, o in a.bonds))
    for v in ORGANIC[a.element]:
        if v >= used:
            return v - used
    return 0


def parse(smiles: str) -> Graph | None:
    """The molecular graph, or None when the string is not a valid SMILES (as far as this reader can tell)."""
    s = str(smiles).strip()
    if not s or " " in s:
        return None
    atoms: list[Atom] = []
    bonds: list[tuple[int, int, float]] = []
    prev, pending, stack, rings = None, None, [], {}

    def bond(i: int, j: int, sym: str | None) -> None:
        order = BOND_ORDER[sym] if sym else (1.5 if atoms[i].aromatic and atoms[j].aromatic else 1.0)
        bonds.append((i, j, order))
        atoms[i].bonds.append((j, order))
        atoms[j].bonds.append((i, order))

    for tok in TOKEN.findall(s):
        if tok.startswith("["):
            m = BRACKET.match(tok)
            if not m or (m.group(2) not in ELEMENTS and m.group(2) not in AROMATIC):
                return None
            sym = m.group(2)
            atom = Atom(AROMATIC.get(sym, sym), sym in AROMATIC, _charge(m.group(5)),
                        int(m.group(4)[1:] or 1) if m.group(4) else 0)
        elif tok in ORGANIC or tok in AROMATIC:
            atom = Atom(AROMATIC.get(tok, tok), tok in AROMATIC)
        elif tok in BOND_ORDER:
            if pending is not None or prev is None:
                return None
            pending = tok
            continue
        elif tok == "(":
            if prev is None:
                return None
            stack.append(prev)
            continue
        elif tok == ")":
            if not stack or pending is not None:
                return None
            prev = stack.pop()
            continue
        elif tok == ".":
            if pending is not None or stack:
                return None
            prev = None
            continue
        elif tok.isdigit() or tok.startswith("%"):
            if prev is None:
                return None
            num = int(tok.lstrip("%"))
            if num in rings:
                j, sym = rings.pop(num)
                if j == prev:
                    return None
                bond(j, prev, pending or sym)
            else:
                rings[num] = (prev, pending)
            pending = None
            continue
        else:
            return None
        atoms.append(atom)
        if prev is not None:
            bond(prev, len(atoms) - 1, pending)
        prev, pending = len(atoms) - 1, None
    if not atoms or rings or stack or pending is not None:
        return None
    g = Graph(atoms, bonds)
    for i, a in enumerate(atoms):
        if a.element in ORGANIC and not a.aromatic and a.hs is None:
            if sum(o for _, o in a.bonds) > max(ORGANIC[a.element]):
                return None
    g.ring_bonds = _ring_bonds(g)
    return g


def _ring_bonds(g: Graph) -> set[frozenset]:
    """Bonds on a cycle = bonds that are not bridges (Tarjan's low-link, iterative)."""
    n = len(g.atoms)
    disc, low, bridges, t = [-1] * n, [0] * n, set(), 0
    for root in range(n):
        if disc[root] != -1:
            continue
        disc[root] = low[root] = t
        t += 1
        stack = [(root, -1, iter(g.atoms[root].bonds))]
        while stack:
            v, parent, it = stack[-1]
            for w, _ in it:
                if w == parent:
                    continue
                if disc[w] == -1:
                    disc[w] = low[w] = t
                    t += 1
                    stack.append((w, v, iter(g.atoms[w].bonds)))
                    break
                low[v] = min(low[v], disc[w])
            else:
                stack.pop()
                if parent != -1:
                    low[parent] = min(low[parent], low[v])
                    if low[v] > disc[parent]:
                        bridges.add(frozenset((v, parent)))
    return {frozenset((i, j)) for i, j, _ in g.bonds} - bridges


def fingerprint(g: Graph, radius: int = 2) -> set:
    """Morgan-style atom-environment identifiers (unfolded): a stand-in for RDKit's Morgan fingerprint."""
    ids = [hash((a.element, a.aromatic, a.charge, g.degree(i), g.h(i))) for i, a in enumerate(g.atoms)]
    found = set(ids)
    for _ in range(radius):
        ids = [hash((ids[i], tuple(sorted((o, ids[j]) for j, o in a.bonds)))) for i, a in enumerate(g.atoms)]
        found |= set(ids)
    return found


def signature(g: Graph) -> str:
    """An isomorphism-invariant key (Weisfeiler-Lehman refinement): equal for two writings of one molecule."""
    ids = [hash((a.element, a.aromatic, a.charge, g.h(i))) for i, a in enumerate(g.atoms)]
    for _ in range(len(g.atoms)):
        new = [hash((ids[i], tuple(sorted((o, ids[j]) for j, o in a.bonds)))) for i, a in enumerate(g.atoms)]
        if len(set(new)) == len(set(ids)):
            ids = new
            break
        ids = new
    return f"{len(g.atoms)}:{hash(tuple(sorted(ids)))}"
