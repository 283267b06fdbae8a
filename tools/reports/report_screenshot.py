"""Screenshot a run's report.html in headless Chromium, to check what a reader will see.

    python -m tools.reports.report_screenshot RUN_DIR [--out PNG] [--height 2400]

Needs a Chromium binary (Debian: `apt-get install -y chromium`); nothing else in TREX does. The page loads
nothing from the net, and Chromium's own background traffic is switched off.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in CANDIDATES:
        found = name if Path(name).is_file() else shutil.which(name)
        if found:
            return found
    return None


def screenshot(html: Path, out: Path, width: int = 1280, height: int = 2400, timeout_s: float = 120) -> Path:
    """Render html into the PNG out. Raises FileNotFoundError without Chromium, RuntimeError when it fails."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("Chromium is not installed (looked for /usr/bin/chromium, chromium, chromium-browser, "
                                "google-chrome): install it, e.g. `apt-get install -y chromium`")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="trex-chromium-") as profile:  # a fresh profile: no state kept
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={out}",
               f"--window-size={width},{height}", html.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if not out.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.reports.report_screenshot",
                                     description="Screenshot RUN_DIR/report.html in headless Chromium.")
    parser.add_argument("run_dir", help="a TREX run directory holding report.html (see `trex report RUN_DIR`)")
    parser.add_argument("--out", help="PNG to write (default RUN_DIR/report/screenshot.png)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400, help="viewport height: how much of the page is shot")
    args = parser.parse_args(argv)
    html = Path(args.run_dir) / "report.html"
    if not html.is_file():
        print(f"error: {html} does not exist: write it with `trex report {args.run_dir}`", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.run_dir) / "report" / "screenshot.png"
    try:
        print(screenshot(html, out, args.width, args.height))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
