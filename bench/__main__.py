"""`python -m bench` (what `make bench` runs): measure every figure, print the table, write RESULTS.md.

Options: --scale / BENCH_SCALE (1.0 = the counts of the product's goals; lower for a quick look; the relay
runs each level on one `runjobs` worker, and 100 and 500 jobs again on two when scaled out),
--only relay,dispatch,watchers,agent,inputs,moderation,spike, --topology embedded|scaled|auto, --profile (rerun a
missed relay figure under py-spy and add where the dispatcher spends its time), --selftest (check
the staleness computation and the spike's pure parts on hand-worked examples). Missed targets are reported,
never an error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import scaled, scaled_out_available
from bench.machine import describe
from bench.part import RESULT_PREFIX
from bench.procs import BASE_DIR
from bench.report import Figure, render_markdown, render_table

PARTS = ("relay", "dispatch", "watchers", "agent", "inputs", "moderation", "spike")
RELAY_LEVELS = (1, 100, 500)
RELAY_SCALE_OUT = (100, 500)  # levels measured again on 2 `runjobs` workers (scaled-out topology only)


def run_part(name: str, options: dict, env: dict | None = None) -> dict:
    """One part in its own process (own Django settings and database); its result or {"error": ...}."""
    command = [sys.executable, "-m", "bench.part", name, json.dumps(options)]
    started = time.monotonic()
    done = subprocess.run(command, cwd=BASE_DIR, capture_output=True, text=True, env={**os.environ, **(env or {})})
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
            result["wall_seconds"] = time.monotonic() - started
            return result
    return {
        "error": (done.stderr or done.stdout).strip().splitlines()[-12:],
        "wall_seconds": time.monotonic() - started,
    }


KEPT_SECTIONS = ("## Agent on a real ComfyUI",)  # written by `make bench-comfyui`, a run of its own


def kept_sections(path: Path) -> str:
    """The sections of RESULTS.md that other commands append to: a new `make bench` keeps them."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for heading in KEPT_SECTIONS:
        if heading in text:
            return "\n" + text[text.index(heading) :]
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1")))
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--topology", choices=("auto", "embedded", "scaled"), default="auto")
    parser.add_argument("--profile", action="store_true", help="profile a missed relay figure with py-spy")
    parser.add_argument("--output", type=Path, default=BASE_DIR / "bench" / "RESULTS.md")
    parser.add_argument("--selftest", action="store_true", help="check the staleness computation on examples, exit")
    args = parser.parse_args(argv)
    if args.selftest:
        from bench import relay, spike

        relay.selftest()
        spike.selftest()
        print("bench selftest: ok")
        return 0
    wanted = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = set(wanted) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {sorted(unknown)}")
    why_not = scaled_out_available() if args.topology != "embedded" else "not asked for"
    if args.topology == "scaled" and why_not:
        parser.error(f"the scaled-out topology needs PostgreSQL and Redis: {why_not}")
    topology = "scaled" if not why_not else "embedded"
    scale = args.scale
    started = time.monotonic()
    figures: list[Figure] = []
    notes: list[str] = [
        f"Scale {scale:g} (BENCH_SCALE); topology for the web figures: {topology}"
        + ("" if topology == "scaled" else f" (scaled-out not measured: {why_not})"),
    ]
    profiles: list[str] = []
    results: dict[str, object] = {}
    load_at_start = load_average()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    if "relay" in wanted:
        from bench import relay

        steps, step_ms = scaled(80, min(1.0, scale), 20), 100
        for level in RELAY_LEVELS:
            jobs = scaled(level, scale)
            steps = max(steps, jobs // 3)  # long enough that every job runs at once for a while
            progress(f"relay: {jobs} concurrent job(s), {steps} steps of {step_ms} ms")
            result = run_part("relay", {"topology": topology, "jobs": jobs, "steps": steps, "step_ms": step_ms})
            results[f"relay_{level}"] = result
            figures += relay.figures(level, jobs, result)
        for level in RELAY_SCALE_OUT if topology == "scaled" else ():
            jobs = scaled(level, scale)
            steps = max(scaled(80, min(1.0, scale), 20), jobs // 3)
            progress(f"relay: {jobs} concurrent job(s) on 2 workers, {steps} steps of {step_ms} ms")
            options = {"topology": topology, "jobs": jobs, "steps": steps, "step_ms": step_ms, "workers": 2}
            results[f"relay_{level}_2_workers"] = result = run_part("relay", options)
            figures += relay.figures(level, jobs, result)
        worst = [level for level in RELAY_LEVELS if relay.missed(level, results[f"relay_{level}"])]
        if args.profile and worst:
            jobs = scaled(worst[-1], scale)
            steps = max(scaled(80, min(1.0, scale), 20), jobs // 3)
            role = "worker" if topology == "scaled" else "web"
            raw = Path(tempfile.mkdtemp(prefix="bench-profile-")) / f"{role}.raw"
            progress(f"relay: profiling the {role} process at {jobs} jobs")
            run_part("relay", {"topology": topology, "jobs": jobs, "steps": steps, "step_ms": step_ms},
                     env={"BENCH_PROFILE": f"{role}:{raw}"})  # fmt: skip
            if raw.exists():
                from bench.profiling import format_summary, summarize

                profiles.append(f"Relay at {jobs} jobs, {role} process (py-spy):\n\n```\n"
                                f"{format_summary(summarize(raw))}\n```")  # fmt: skip
    if "dispatch" in wanted:
        from bench import dispatch

        options = {"topology": topology, "jobs": scaled(1000, scale, 16), "backends": 8, "slots": 2, "steps": 5,
                   "step_ms": 100}  # fmt: skip
        progress(f"dispatch: {options['jobs']} jobs over 8 backends x 2 slots")
        results["dispatch"] = result = run_part("dispatch", options)
        figures += dispatch.figures(options, result)
    if "watchers" in wanted:
        from bench import watchers

        sockets = scaled(10000, scale)
        progress(f"watchers: {sockets} idle job WebSockets")
        results["watchers"] = result = run_part("watchers", {"topology": topology, "sockets": sockets})
        figures += watchers.figures(sockets, result)
    for name in ("agent", "inputs"):
        if name not in wanted:
            continue
        module = measurement(name)
        if module is None:
            figures.append(Figure(name, "not measured yet", "", None, None, note="needs the GPU agent figure"))
            continue
        progress(f"{name}")
        results[name] = result = run_part(name, {"scale": scale})
        figures += module.figures(result)
    if "moderation" in wanted:
        from bench import moderation

        progress("moderation: the picture check and the labels, per image")
        results["moderation"] = result = run_part("moderation", {"scale": scale})
        figures += moderation.figures(result)
    if "spike" in wanted:
        from bench import spike

        options = spike.options(scale, topology)
        progress(f"spike: {options['visitors']} visitors over {options['seconds']:.0f} s on the couple-photo campaign")
        results["spike"] = result = run_part("spike", options)
        figures += spike.figures(options, result)
    elapsed = time.monotonic() - started
    notes.append(
        f"Total run time {elapsed:.0f} s; load average (1/5/15 min) at the start {load_at_start}, at the end "
        f"{load_average()} (anything else running on the machine shares its {os.cpu_count()} cores)."
    )
    print(render_table(figures))
    kept = kept_sections(args.output)
    args.output.write_text(render_markdown(describe(), figures, notes, profiles, results) + kept, encoding="utf-8")
    print(f"\nwritten to {args.output}")
    return 0


def load_average() -> str:
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def measurement(name: str):
    """The module of an agent figure, or None while it (or the agent) does not exist."""
    import importlib

    agent = BASE_DIR / "comfyweb" / "agent"
    if not (agent / "api.py").exists() or not (agent / "__main__.py").exists():
        return None
    try:
        return importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
