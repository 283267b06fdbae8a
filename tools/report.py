"""Render the run report (Markdown) from the final state: task, rounds, best config, scores, the tree."""
from __future__ import annotations

from graph.tree import ROOT, children


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")[:120]


def _config(cfg: dict) -> str:
    if cfg.get("epochs", 0) == 0:
        return "base model (no training)"
    text = (f"lr={cfg['lr']:g} epochs={cfg['epochs']} r={cfg['lora_r']} alpha={cfg['lora_alpha']} "
            f"bs={cfg['batch_size']} samples={cfg['max_samples']} layers={cfg.get('layer_fraction', 1.0):g} "
            f"template={cfg['template']}")
    if cfg.get("method", "lora") != "lora":
        text += f" method={cfg['method']}"
    return text + (" warm-start" if cfg.get("warm_start") else "")


def outline(tree: dict, node_id: str = ROOT, indent: int = 0, best: str = "") -> list[str]:
    node = tree[node_id]
    mark = " ★" if node_id == best else ""
    score = "all trials failed" if node.get("failed") else f"val {_fmt(node.get('score'))}"
    line = (f"{'  ' * indent}- **{node_id}** (round {node['round']}): {score}, reward {node.get('reward', 0.0):+.3f}, "
            f"visits {node.get('visits', 0)}{mark} — {node.get('diagnosis', '')}")
    lines = [line]
    for child in children(tree, node_id):
        lines += outline(tree, child["id"], indent + 1, best)
    return lines


def render_markdown(state, accounting: dict) -> str:
    task, final, tree, acc = state.task, state.final, state.tree, accounting
    lines = [f"# TREX run report: {task['name']}", "", f"**Goal.** {task['goal']}", "",
             f"- base model: `{task['base_model']}`", f"- metric: {task['metric']} "
             f"({state.requirement.get('direction', 'higher')} is better)",
             f"- rounds run: {state.round} (+ baseline); stopped because: {state.stop_reason or 'n/a'}",
             f"- data: {state.data.get('sizes', {})}",
             f"- trials: {acc['trials_trained']} trained, {acc['trials_reused']} reused from the cache, "
             f"{acc['trials_failed']} failed",
             f"- cost: wall time {acc['wall_s']:.0f} s, training {acc['train_s']:.0f} s, "
             f"{acc['tokens_trained']:,} tokens trained, {acc['gpu_hours']:.4f} GPU-hours, "
             f"peak memory {acc['peak_memory_mb']:.0f} MiB (GPU {acc['peak_gpu_memory_mb']:.0f} MiB)", ""]
    if final.get("error"):
        lines += [f"**No result:** {final['error']}", ""]
    else:
        lines += ["## Result", "", "| split | base model | best (node " + final["best_node"] + ") |", "|---|---|---|",
                  f"| validation | {_fmt(final.get('base_val'))} | {_fmt(final.get('val_score'))} |",
                  f"| test (hidden until now) | {_fmt(final.get('base_test'))} | {_fmt(final.get('test_score'))} |",
                  "", f"Best config: `{_config(final['config'])}`", ""]
        if final.get("adapter"):
            lines += [f"Best adapter: `{final['adapter']}`", ""]
        bad = tree.get(final["best_node"], {}).get("bad_cases") or []
        if bad:
            lines += ["Validation examples the best trial still gets wrong:", "", "| input | prediction | reference |",
                      "|---|---|---|"] + [f"| {_cell(b['input'])} | {_cell(b['prediction'])} | {_cell(b['reference'])} |"
                                          for b in bad] + [""]
    lines += ["## Search tree", ""] + outline(tree, best=final.get("best_node", "")) + ["", "## Trials", "",
              "| node | trial | config | status | val | train s | tokens | tok/s | peak MiB | cached |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for node in sorted(tree.values(), key=lambda n: n["round"]):
        for cfg in node.get("trials", []):
            res = node.get("results", {}).get(cfg["id"], {})
            status = res.get("status", "-") + (f" ({res.get('failure', '?')}): {res['error'][:60]}"
                                               if res.get("error") else "")
            t = res.get("train", {})
            lines.append(f"| {node['id']} | {cfg['id']} | {_config(cfg)} | {status} | {_fmt(res.get('score'))} | "
                         f"{_fmt(t.get('train_s'))} | {_fmt(t.get('tokens'))} | {_fmt(t.get('tokens_per_s'))} | "
                         f"{_fmt(t.get('peak_memory_mb'))} | "
                         f"{'yes' if res.get('cached') else 'no'} |")
    lines += ["", "## Plans", ""] + [f"- **{n['id']}**: {n.get('rationale', '')}" for n in
                                     sorted(tree.values(), key=lambda n: n["round"])]
    return "\n".join(lines) + "\n"
