"""Molecule properties as TOMG-Bench's and oMeBench's evaluators compute them: RDKit when it is installed
(`pip install rdkit`, the benchmarks' own dependency), else the SMILES-graph fallback of smiles.py.

Without RDKit: atom counts are exact for valid SMILES; functional groups are the same SMARTS patterns
matched by hand on the graph; bond counts skip aromaticity perception; rotatable bonds use the non-strict
rule; similarity is Tanimoto over unfolded Morgan-style environments; canonical equality is a
Weisfeiler-Lehman signature; logP, MR and QED are unavailable (None): those examples cannot be scored.
"""
from __future__ import annotations

from functools import lru_cache

from ftbench.scorers import smiles as sm

ATOMIC = {"carbon": "C", "oxygen": "O", "nitrogen": "N", "sulfur": "S", "fluorine": "F", "chlorine": "Cl",
          "bromine": "Br", "iodine": "I", "phosphorus": "P", "boron": "B", "silicon": "Si", "selenium": "Se",
          "tellurium": "Te", "arsenic": "As", "antimony": "Sb", "bismuth": "Bi", "polonium": "Po"}
# TOMG-Bench utils/evaluation.py mol_prop SMARTS (sulfide is the count minus disulfide pairs there too).
SMARTS = {"benzene_ring": "[cR1]1[cR1][cR1][cR1][cR1][cR1]1", "hydroxyl": "[OX2H]",
          "anhydride": "[CX3](=[OX1])[OX2][CX3](=[OX1])", "aldehyde": "[CX3H1](=O)[#6]",
          "ketone": "[#6][CX3](=O)[#6]", "carboxyl": "[CX3](=O)[OX2H1]", "ester": "[#6][CX3](=O)[OX2H0][#6]",
          "amide": "[NX3][CX3](=[OX1])[#6]", "amine": "[NX3;H2,H1;!$(NC=O)]",
          "nitro": "[$([NX3](=O)=O),$([NX3+](=O)[O-])][!#8]", "halo": "[F,Cl,Br,I]", "thioether": "[SX2][CX4]",
          "nitrile": "[NX1]#[CX2]", "thiol": "[#16X2H]", "sulfide": "[#16X2H0]", "disulfide": "[#16X2H0][#16X2H0]",
          "sulfoxide": "[$([#16X3]=[OX1]),$([#16X3+][OX1-])]",
          "sulfone": "[$([#16X4](=[OX1])=[OX1]),$([#16X4+2]([OX1-])[OX1-])]", "borane": "[BX3]"}


@lru_cache(maxsize=1)
def rdkit():
    """The rdkit modules, or None (then every function here uses the fallback)."""
    try:
        from rdkit import Chem, DataStructs, RDLogger
        from rdkit.Chem import Descriptors, rdFingerprintGenerator

        RDLogger.DisableLog("rdApp.*")
        return Chem, DataStructs, Descriptors, rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    except ImportError:
        return None


@lru_cache(maxsize=4096)
def _rd_mol(smiles: str):
    return rdkit()[0].MolFromSmiles(smiles) if smiles.strip() else None


@lru_cache(maxsize=4096)
def _graph(smiles: str):
    return sm.parse(smiles)


def _mol(smiles: str):
    return _rd_mol(str(smiles)) if rdkit() else _graph(str(smiles))


def valid(smiles: str) -> bool:
    return _mol(smiles) is not None


def canonical(smiles: str) -> str:
    """A string equal for two writings of the same molecule, '' when invalid."""
    mol = _mol(smiles)
    if mol is None:
        return ""
    return rdkit()[0].MolToSmiles(mol, canonical=True) if rdkit() else sm.signature(mol)


def similarity(a: str, b: str) -> float:
    """Tanimoto similarity of Morgan (radius 2) fingerprints; 0.0 when either molecule is invalid."""
    ma, mb = _mol(a), _mol(b)
    if ma is None or mb is None:
        return 0.0
    if rdkit():
        _, ds, _, gen = rdkit()
        return float(ds.TanimotoSimilarity(gen.GetFingerprint(ma), gen.GetFingerprint(mb)))
    fa, fb = sm.fingerprint(ma), sm.fingerprint(mb)
    return len(fa & fb) / len(fa | fb) if fa | fb else 0.0


def prop(smiles: str, name: str):
    """TOMG-Bench mol_prop: num_<atom>, num_<group>, num_<type>_bonds, rot_bonds, logP, MR, qed; None if invalid."""
    mol = _mol(smiles)
    if mol is None:
        return None
    return _rd_prop(mol, name) if rdkit() else _graph_prop(mol, name)


def _rd_prop(mol, name: str):
    Chem, _, D, _ = rdkit()
    if name in ("logP", "MR", "qed", "rot_bonds"):
        return {"logP": D.MolLogP, "MR": D.MolMR, "qed": D.qed, "rot_bonds": D.NumRotatableBonds}[name](mol)
    key = name.removeprefix("num_")
    if key in ATOMIC:
        num = Chem.GetPeriodicTable().GetAtomicNumber(ATOMIC[key])
        return sum(a.GetAtomicNum() == num for a in mol.GetAtoms())
    if key.endswith("_bonds"):
        kind = getattr(Chem.rdchem.BondType, key.removesuffix("_bonds").upper())
        return sum(b.GetBondType() == kind for b in mol.GetBonds())
    if key in SMARTS:
        n = len(mol.GetSubstructMatches(Chem.MolFromSmarts(SMARTS[key])))
        if key == "sulfide":
            n -= len(mol.GetSubstructMatches(Chem.MolFromSmarts(SMARTS["disulfide"])))
        return n
    raise ValueError(f"property {name!r} not supported")


def _graph_prop(g: sm.Graph, name: str):
    key = name.removeprefix("num_")
    if key in ("logP", "MR", "qed"):
        return None  # needs RDKit's descriptor models
    if key in ATOMIC:
        return sum(a.element == ATOMIC[key] for a in g.atoms)
    if key == "rot_bonds":
        return sum(1 for i, j, o in g.bonds if o == 1.0 and frozenset((i, j)) not in g.ring_bonds
                   and g.degree(i) > 1 and g.degree(j) > 1 and not _triple(g, i) and not _triple(g, j))
    if key.endswith("_bonds"):
        order = {"single": 1.0, "double": 2.0, "triple": 3.0, "aromatic": 1.5}[key.removesuffix("_bonds")]
        return sum(o == order for _, _, o in g.bonds)
    if key in SMARTS:
        return GROUPS[key](g)
    raise ValueError(f"property {name!r} not supported")


def _triple(g, i) -> bool:
    return any(o == 3.0 for _, o in g.atoms[i].bonds)


def _el(g, i) -> str:
    return g.atoms[i].element


def _nbrs(g, i, order=None, element=None):
    return [j for j, o in g.atoms[i].bonds if (order is None or o == order) and (element is None or _el(g, j) == element)]


def _carbonyl_c(g, i) -> bool:  # [CX3](=O): aliphatic C, three connections, a double bond to O
    return _el(g, i) == "C" and not g.atoms[i].aromatic and g.total_degree(i) == 3 and bool(_nbrs(g, i, 2.0, "O"))


def _carbon_nbrs(g, i, exclude=()) -> list[int]:
    return [j for j in _nbrs(g, i) if _el(g, j) == "C" and j not in exclude]


def _benzene(g) -> int:
    ring_deg = {i: sum(frozenset((i, j)) in g.ring_bonds for j, _ in a.bonds) for i, a in enumerate(g.atoms)}
    ar = {i for i, a in enumerate(g.atoms) if a.aromatic and a.element == "C" and ring_deg[i] == 2}
    rings = set()

    def walk(path):
        if len(path) == 6:
            if path[0] in _nbrs(g, path[-1]):
                rings.add(frozenset(path))
            return
        for j in _nbrs(g, path[-1]):
            if j in ar and j not in path:
                walk(path + [j])
    for start in ar:
        walk([start])
    return len(rings)


def _ester(g) -> int:
    return sum(1 for c in range(len(g.atoms)) if _carbonyl_c(g, c)
               for o in _nbrs(g, c, 1.0, "O") if g.h(o) == 0 and g.total_degree(o) == 2
               for _ in _carbon_nbrs(g, o, (c,)) for _ in _carbon_nbrs(g, c))


def _s_x2h0(g, i) -> bool:
    return _el(g, i) == "S" and g.total_degree(i) == 2 and g.h(i) == 0


def _disulfide(g) -> int:
    return sum(1 for i, j, _ in g.bonds if _s_x2h0(g, i) and _s_x2h0(g, j))


def _nitro(g, i) -> bool:
    if _el(g, i) != "N" or g.total_degree(i) != 3:
        return False
    oxy = [j for j, o in g.atoms[i].bonds if _el(g, j) == "O" and (o == 2.0 or g.atoms[j].charge == -1)]
    return len(oxy) >= 2 and any(_el(g, j) != "O" for j in _nbrs(g, i))


def _count(test):
    return lambda g: sum(1 for i in range(len(g.atoms)) if test(g, i))


GROUPS = {
    "benzene_ring": _benzene,
    "hydroxyl": _count(lambda g, i: _el(g, i) == "O" and g.total_degree(i) == 2 and g.h(i) >= 1),
    "anhydride": _count(lambda g, i: _el(g, i) == "O" and g.total_degree(i) == 2
                        and sum(_carbonyl_c(g, j) for j in _nbrs(g, i, 1.0)) == 2),
    "aldehyde": _count(lambda g, i: _carbonyl_c(g, i) and g.h(i) == 1 and bool(_carbon_nbrs(g, i))),
    "ketone": _count(lambda g, i: _carbonyl_c(g, i) and len(_carbon_nbrs(g, i)) >= 2),
    "carboxyl": _count(lambda g, i: _carbonyl_c(g, i) and any(g.h(o) == 1 for o in _nbrs(g, i, 1.0, "O"))),
    "ester": _ester,
    "amide": lambda g: sum(len(_carbon_nbrs(g, c)) for c in range(len(g.atoms)) if _carbonyl_c(g, c)
                           for n in _nbrs(g, c, 1.0, "N") if not g.atoms[n].aromatic and g.total_degree(n) == 3),
    "amine": _count(lambda g, i: _el(g, i) == "N" and not g.atoms[i].aromatic and g.total_degree(i) == 3
                    and g.h(i) in (1, 2) and not any(_carbonyl_c(g, j) for j in _nbrs(g, i))),
    "nitro": _count(_nitro),
    "halo": _count(lambda g, i: _el(g, i) in ("F", "Cl", "Br", "I")),
    "thioether": lambda g: sum(1 for i in range(len(g.atoms)) if _el(g, i) == "S" and g.total_degree(i) == 2
                               for j in _carbon_nbrs(g, i) if g.total_degree(j) == 4 and not g.atoms[j].aromatic),
    "nitrile": _count(lambda g, i: _el(g, i) == "N" and g.total_degree(i) == 1 and bool(_nbrs(g, i, 3.0, "C"))),
    "thiol": _count(lambda g, i: _el(g, i) == "S" and g.total_degree(i) == 2 and g.h(i) == 1),
    "sulfide": lambda g: _count(_s_x2h0)(g) - _disulfide(g),
    "disulfide": _disulfide,
    "sulfoxide": _count(lambda g, i: _el(g, i) == "S" and g.total_degree(i) == 3
                        and any(g.total_degree(j) == 1 for j in _nbrs(g, i, element="O"))),
    "sulfone": _count(lambda g, i: _el(g, i) == "S" and g.total_degree(i) == 4
                      and len([j for j in _nbrs(g, i, element="O") if g.total_degree(j) == 1]) >= 2),
    "borane": _count(lambda g, i: _el(g, i) == "B" and g.total_degree(i) == 3),
}
