"""The report's pictures (PNG, matplotlib's Agg canvas): the search tree, best-so-far score per round, and
the loss curves of the best trial. matplotlib is imported inside the functions (importing the graph stays
fast) and drawn on a bare Figure, never pyplot, so no global backend or figure state is touched."""
from __future__ import annotations

from pathlib import Path

from trex.tree import ROOT, children, path_to
from tools.reports.report_data import best_so_far, loss_lineage

BEST_COLOUR = "#e8590c"  # the best path: orange, apart from the red-yellow-green of the rewards
FAILED_COLOUR = "#c92a2a"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def tree_layout(tree: dict) -> dict[str, tuple[float, int]]:
    """(x, depth) of every node: leaves side by side in round order, a parent centred over its children.
    Nodes whose parent is missing from the tree are laid out as extra roots, never dropped."""
    pos: dict[str, tuple[float, int]] = {}
    next_leaf = [0.0]

    def place(node_id: str, depth: int) -> float:
        kids = [c["id"] for c in children(tree, node_id) if c["id"] not in pos]
        if not kids:
            x = next_leaf[0]
            next_leaf[0] += 1.0
        else:
            xs = [place(k, depth + 1) for k in kids]
            x = (xs[0] + xs[-1]) / 2
        pos[node_id] = (x, depth)
        return x

    roots = [ROOT] if ROOT in tree else []
    roots += [n["id"] for n in sorted(tree.values(), key=lambda n: n.get("round", 0))
              if n["id"] != ROOT and n.get("parent") not in tree]
    for r in roots:
        if r not in pos:
            place(r, 0)
    return pos


def _scored(node: dict) -> bool:
    return node.get("status") == "evaluated" and not node.get("failed")


def plot_tree(tree: dict, best_id: str | None, path, higher_is_better: bool = True) -> Path:
    """The search tree: a box per node (id, round, validation score) coloured by reward, the path from
    the root to the best node in orange, failed nodes grey with a red edge, unfinished ones white."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    pos = tree_layout(tree)
    width_units = max(x for x, _ in pos.values()) + 1 if pos else 1
    depth = max(d for _, d in pos.values()) + 1 if pos else 1
    fig = _figure(min(22.0, max(6.0, 1.1 * width_units + 2.2)), min(14.0, max(2.8, 0.95 * depth + 1.2)))
    ax = fig.add_subplot()
    rewards = [n.get("reward", 0.0) for n in tree.values() if _scored(n)] or [0.0]
    span = max(0.05, max(abs(r) for r in rewards))  # all-zero rewards would give a colorbar in units of 1e-7
    norm = TwoSlopeNorm(vcenter=0.0, vmin=min(-span * 0.25, min(rewards)), vmax=max(span * 0.25, max(rewards)))
    cmap = colormaps["RdYlGn"]
    on_path = {n["id"] for n in path_to(tree, best_id)} if best_id in tree else set()
    for node_id, (x, d) in pos.items():
        parent = tree[node_id].get("parent")
        if parent in pos:
            px, pd = pos[parent]
            best_edge = node_id in on_path and parent in on_path
            ax.plot([px, x], [-pd, -d], color=BEST_COLOUR if best_edge else "#adb5bd",
                    lw=3.2 if best_edge else 1.3, zorder=1 if not best_edge else 2, solid_capstyle="round")
    for node_id, (x, d) in pos.items():
        node = tree[node_id]
        head = f"{node_id} · r{node.get('round', 0)}"
        if _scored(node):
            face = cmap(norm(node.get("reward", 0.0)))
            text, edge, style = f"{head}\n{node.get('score', 0.0):.4f}", "#343a40", "solid"
        elif node.get("failed"):
            face, text, edge, style = "#dee2e6", f"{head}\n✗ failed", FAILED_COLOUR, "dashed"
        else:
            face, text, edge, style = "white", f"{head}\n{node.get('status', 'planned')}…", "#868e96", "dotted"
        luminance = 0.299 * face[0] + 0.587 * face[1] + 0.114 * face[2] if isinstance(face, tuple) else 1.0
        if node_id == best_id:
            text = "★ " + text
        ax.text(x, -d, text, ha="center", va="center", fontsize=9, zorder=3,
                color="white" if luminance < 0.45 else ("#862e2e" if node.get("failed") else "#212529"),
                fontweight="bold" if node_id in on_path else "normal",
                bbox={"boxstyle": "round,pad=0.45", "facecolor": face, "linestyle": style,
                      "edgecolor": BEST_COLOUR if node_id in on_path else edge,
                      "linewidth": 2.6 if node_id in on_path else 1.2})
    ax.set_xlim(-0.7, width_units - 0.3)
    ax.set_ylim(-(depth - 1) - 0.6, 0.6)
    ax.set_yticks([-d for d in range(depth)], [f"depth {d}" for d in range(depth)], fontsize=8)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.85, pad=0.01)
    bar.set_label("reward (gain over the base model)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    handles = [Line2D([], [], color=BEST_COLOUR, lw=3, label="path to the best node ★")] if on_path else []
    if any(n.get("failed") for n in tree.values()):
        handles.append(Patch(facecolor="#dee2e6", edgecolor=FAILED_COLOUR, linestyle="dashed", label="all trials failed"))
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    ax.set_title(f"Search tree: {len(tree)} node{'s' if len(tree) != 1 else ''} (box: node · round, "
                 f"validation score; {'higher' if higher_is_better else 'lower'} is better)", fontsize=10)
    return _save(fig, path)


def plot_progress(tree: dict, path, higher_is_better: bool = True, metric: str = "score") -> Path:
    """Best-so-far validation score against the round, each round's own score as a dot, failed rounds
    as red crosses on the axis, and the base model's score as a dashed line."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(6.4, 3.9)
    ax = fig.add_subplot()
    nodes = sorted((n for n in tree.values() if n.get("status") == "evaluated"), key=lambda n: n.get("round", 0))
    scored = [n for n in nodes if not n.get("failed")]
    points = best_so_far(tree, higher_is_better)
    rounds, best = [r for r, _ in points], [b for _, b in points]
    if scored:
        ax.scatter([n["round"] for n in scored], [n["score"] for n in scored], s=26, color="#868e96", zorder=3,
                   label="round's best trial")
        ax.step(rounds, best, where="post", color="#1c7ed6", lw=2.2, zorder=2, label="best so far")
        first = rounds[best.index(best[-1])]  # the round that reached the final best (earlier wins ties)
        ax.scatter([first], [best[-1]], marker="*", s=170, color=BEST_COLOUR, zorder=4,
                   label=f"best: {best[-1]:.4f} (round {first})")
    base = tree.get(ROOT, {})
    if _scored(base):
        ax.axhline(base["score"], color="#495057", ls="--", lw=1.2, label=f"base model: {base['score']:.4f}")
    failed = [n["round"] for n in nodes if n.get("failed")]
    if failed:  # their score is the metric's worst sentinel: mark them on the axis instead of scaling to it
        ax.scatter(failed, [0.02] * len(failed), marker="x", s=50, color=FAILED_COLOUR, zorder=4,
                   transform=ax.get_xaxis_transform(), label="round failed")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("round")
    ax.set_ylabel(f"{metric} on validation\n({'higher' if higher_is_better else 'lower'} is better)")
    ax.grid(alpha=0.3)
    if not scored and not failed:
        ax.text(0.5, 0.5, "no round evaluated yet", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize=8, loc="best")
    ax.set_title("Best validation score so far", fontsize=10)
    return _save(fig, path)


def plot_loss(tree: dict, node_id: str, trial_id: str, path, note: str = "") -> Path:
    """Training loss per step and validation loss per epoch of a trial; a warm-started trial is drawn after
    the trials it grew from, with a dotted line where each warm start begins."""
    fig = _figure(6.4, 3.9)
    ax = fig.add_subplot()
    chain = loss_lineage(tree, node_id, trial_id)
    offset, values, labelled = 0, [], set()

    def label(text: str) -> str | None:  # each legend entry once, whichever segment draws it first
        return None if text in labelled or labelled.add(text) else text

    for i, seg in enumerate(chain):
        steps = [offset + s for s, _ in seg["loss_curve"]]
        losses = [v for _, v in seg["loss_curve"]]
        last = i == len(chain) - 1
        if steps:
            ax.plot(steps, losses, color="#1c7ed6" if last else "#74c0fc", lw=1.4,
                    label=label("train loss (per step)"))
        val = seg["val_loss"]
        n_steps = seg["steps"] or (len(losses) if losses else 0)
        if val:  # val_loss[0] is before training, then one value after each epoch
            per_epoch = n_steps / max(1, len(val) - 1)
            ax.plot([offset + k * per_epoch for k in range(len(val))], val, "o--", color=BEST_COLOUR if last else "#ffa94d",
                    lw=1.2, ms=5, label=label("validation loss (per epoch)"))
        if i > 0:
            ax.axvline(offset, color="#495057", ls=":", lw=1)
            ax.text(offset, 0.98, f" warm start: {seg['label']}", transform=ax.get_xaxis_transform(),
                    fontsize=7, va="top", color="#495057")
        values += losses + list(val)
        offset += n_steps
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    positive = [v for v in values if v is not None and v > 0]
    if positive and max(positive) / min(positive) > 30:
        ax.set_yscale("log")
    if not values:
        ax.text(0.5, 0.5, "no training curve recorded", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize=8, loc="upper right" if len(chain) < 2 else "lower left")
    ax.set_xlabel("training step" + (" (continued across warm starts)" if len(chain) > 1 else ""))
    ax.set_ylabel("loss (answer tokens)")
    ax.grid(alpha=0.3)
    grew_from = f" (warm-started from {chain[-2]['label']})" if len(chain) > 1 else ""
    ax.set_title(f"Loss of trial {node_id}/{trial_id}{grew_from}" + (f"\n{note}" if note else ""), fontsize=10)
    return _save(fig, path)
