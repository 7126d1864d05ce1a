#!/usr/bin/env python3
"""Benchmark results and budgets (`make bench`, `make bench-check`).

  bench-check.py                       check bench/results.json against bench/budgets.toml;
                                       exit 1 when a strict budget is exceeded or unmeasured
  bench-check.py --results FILE        check another results file
  bench-check.py --collect DIR         merge the part files `make bench` wrote to DIR (plus
                                       the bootstrap sizes) into bench/results.json and render
                                       the results tables of BENCHMARKS.md
  bench-check.py --self-test           prove the check fails on a deliberate break: a copy of
                                       the results with every strict figure inside its budget
                                       passes, the same copy with one figure pushed past its
                                       budget fails and names it

Strict budgets hold hardware-independent figures (requests, capacity units, items read, bytes,
ratios measured within one run); "machine" budgets hold absolute times and are reported only.
Python 3.11+ (tomllib).
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
BUDGETS = ROOT / "bench" / "budgets.toml"
BENCHMARKS = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
FUNCTIONS = ("ingest", "api", "rollup", "maintenance")


# ---------------------------------------------------------------------------------------------
# Checking


def load_budgets(path: Path = BUDGETS) -> list[dict]:
    with open(path, "rb") as f:
        budgets = tomllib.load(f)["budget"]
    for b in budgets:
        assert ("max" in b) != ("min" in b), f"budget {b['name']!r} needs exactly one of max/min"
        issue = [k for k in ("issue_max", "issue_min") if k in b]
        assert bool(issue) == ("why" in b), f"budget {b['name']!r}: issue_max/issue_min needs a why, and only with it"
        assert issue in ([], ["issue_max" if "max" in b else "issue_min"]), f"budget {b['name']!r}: issue_ bound on the other side"
        assert b.get("gate") in ("strict", "machine"), f"budget {b['name']!r}: gate must be strict or machine"
        wild = any(any(c in p for c in "*?[") for p in b["figures"])
        assert wild == ("count" in b), f"budget {b['name']!r}: a pattern budget needs a count (how many figures it holds), and only it"
    return budgets


def wildcard(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def matching(figures: dict, patterns: list[str], exclude: list[str]) -> list[str]:
    ids = [i for i in figures if any(fnmatch.fnmatchcase(i, p) for p in patterns)]
    return sorted(i for i in ids if not any(fnmatch.fnmatchcase(i, p) for p in exclude))


def evaluate(budget: dict, figures: dict) -> dict:
    """The status of one budget: pass, FAIL, or missing; and the worst figure. Missing: a figure
    it names is absent or has no value (null: unmeasured, or NaN as JSON writes it), or it holds
    fewer figures than its `count` (one function's or one size's left out of a run). Before, a
    budget passed on whatever of its figures were there."""
    exclude = budget.get("exclude", [])
    ids = matching(figures, budget["figures"], exclude) or matching(figures, budget.get("fallback", []), exclude)
    limit = budget.get("max", budget.get("min"))
    is_max = "max" in budget
    out = {"name": budget["name"], "gate": budget["gate"], "limit": limit, "op": "≤" if is_max else "≥",
           "ids": ids, "worst": None, "worst_id": None, "unit": None, "part": None}
    measured = [(i, figures[i]) for i in ids if figures[i].get("value") is not None]
    absent = [(i, figures[i]) for i in ids if figures[i].get("value") is None]
    named = [p for p in budget["figures"] if not wildcard(p) and figures.get(p, {}).get("value") is None]
    short = budget.get("count", 0) - len(measured)
    if not ids or absent or named or short > 0:
        why = [f"{i}: {f.get('note', 'not measured')}" for i, f in absent]
        why += [f"{p}: absent" for p in named if p not in figures]
        if short > 0:
            why.append(f"{len(measured)} of the {budget['count']} figures measured")
        out["status"] = "missing"
        out["note"] = "; ".join(why) or "no figure"
        if absent:
            out["unit"], out["part"] = absent[0][1].get("unit"), absent[0][1].get("part")
        return out
    worst_id, worst = max(measured, key=lambda kv: kv[1]["value"] if is_max else -kv[1]["value"])
    out.update(worst=worst["value"], worst_id=worst_id, unit=worst.get("unit"), part=worst.get("part"),
               label=worst.get("label"))
    ok = worst["value"] <= limit if is_max else worst["value"] >= limit
    out["status"] = "pass" if ok else "FAIL"
    if "issue_max" in budget or "issue_min" in budget:
        # The issue set a tighter budget that this design cannot meet (yet); `why` says why, and
        # the check holds the figure at the design's own bound so that it cannot regress.
        out["issue_limit"] = budget.get("issue_max", budget.get("issue_min"))
        out["issue_met"] = (worst["value"] <= budget["issue_max"]) if is_max else (worst["value"] >= budget["issue_min"])
        out["why"] = budget.get("why", "")
    return out


def check(results: dict, budgets: list[dict]) -> tuple[list[dict], bool]:
    rows = [evaluate(b, results.get("figures", {})) for b in budgets]
    failed = any(r["gate"] == "strict" and r["status"] in ("FAIL", "missing") for r in rows)
    return rows, failed


def fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, (int, float)) and abs(v) >= 1000:
        return f"{v:,.0f}"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        gate = "strict " if r["gate"] == "strict" else "machine"
        where = f" ({r['worst_id']})" if r.get("worst_id") else ""
        note = f" — {r['note']}" if r.get("note") else ""
        issue = ""
        if "issue_limit" in r:
            issue = f" [issue's budget {r['op']} {fmt(r['issue_limit'])}: {'met' if r['issue_met'] else 'NOT MET'}]"
        print(f"{r['status']:>10}  [{gate}] {r['name']}: {fmt(r['worst'])} {r['op']} {fmt(r['limit'])}{where}{issue}{note}")


def provenance(results: dict) -> list[str]:
    """Each part's commit, and how many commits since then changed the code it measures (the
    functions, the shared crates, the bench): a figure of an older commit is not this one's."""
    head = sh("git", "rev-parse", "--short", "HEAD") or "unknown"
    out = []
    for name, part in sorted(results.get("parts", {}).items()):
        commit = part.get("meta", {}).get("commit", "unknown")
        base = commit.split("+")[0]
        changed = sh("git", "rev-list", "--count", f"{base}..HEAD", "--", "functions", "shared", "bench",
                     "Cargo.lock") if base != "unknown" else ""
        since = ("the code it measures unchanged since" if changed == "0" else
                 f"{changed} commit(s) since changed the code it measures" if changed else "its commit is not known here")
        out.append(f"bench-check: part {name:<12} measured at {commit} (HEAD {head}): {since}")
    return out


# The run sizes issue 19 asks the CPU figures to rest on: a part run with BENCH_CPU_EVENTS or
# BENCH_CPU_ROUNDS left lower (as `make profile` sets them) must not pass for one that met them.
MIN_CPU_EVENTS, MIN_CPU_ROUNDS = 2000, 3


def run_size_problems(results: dict) -> list[str]:
    d = results.get("parts", {}).get("process-cpu", {}).get("details", {}).get("process_cpu")
    if d is None:
        return []
    out = []
    if not isinstance(d.get("events_per_run"), int) or d["events_per_run"] < MIN_CPU_EVENTS:
        out.append(f"process-cpu ran {d.get('events_per_run')} events per run, fewer than {MIN_CPU_EVENTS}")
    if not isinstance(d.get("rounds"), int) or d["rounds"] < MIN_CPU_ROUNDS:
        out.append(f"process-cpu ran {d.get('rounds')} round(s), fewer than {MIN_CPU_ROUNDS}")
    return out


def run_check(results_path: Path, budgets_path: Path, as_json: bool) -> int:
    results = json.loads(results_path.read_text())
    rows, failed = check(results, load_budgets(budgets_path))
    too_small = run_size_problems(results)
    failed = failed or bool(too_small)
    if as_json:
        print(json.dumps({"failed": failed, "rows": rows}, indent=1))
    else:
        print(f"bench-check: {results_path.relative_to(ROOT) if results_path.is_relative_to(ROOT) else results_path} "
              f"against {budgets_path.relative_to(ROOT) if budgets_path.is_relative_to(ROOT) else budgets_path}")
        print_rows(rows)
        strict_failed = [r["name"] for r in rows if r["gate"] == "strict" and r["status"] in ("FAIL", "missing")]
        # Parts are measured when they are run (`BENCH_PARTS`), so the results may hold several
        # commits: each is said, with what changed since in what they measure.
        for line in provenance(results):
            print(line)
        for problem in too_small:
            print(f"bench-check: FAIL {problem}: its CPU budgets do not rest on the run they ask for")
        print(f"bench-check: {len(strict_failed)} strict budget(s) exceeded or unmeasured"
              + (": " + "; ".join(strict_failed) if strict_failed else ""))
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# Self-test


def self_test(results_path: Path, budgets_path: Path) -> int:
    budgets = load_budgets(budgets_path)
    results = json.loads(results_path.read_text())
    figures = results["figures"]
    inside = copy.deepcopy(results)
    # 1. Every strict figure moved inside its budget (ratios, counts: half the bound, or the bound
    #    itself when it is 0): the check must pass.
    for b in budgets:
        if b["gate"] != "strict":
            continue
        ids = matching(figures, b["figures"], b.get("exclude", [])) or matching(
            figures, b.get("fallback", []), b.get("exclude", []))
        limit = b.get("max", b.get("min"))
        value = limit / 2 if "max" in b and limit else limit
        for i in ids:
            inside["figures"][i]["value"] = value
        if not ids:  # unmeasured in these results: stand a figure in, inside the budget
            stand_in = b["figures"][0].replace("*", "self-test")
            inside["figures"][stand_in] = {"value": value, "unit": "", "label": "self-test stand-in"}
    # 2. One figure pushed past its budget: the first strict budget with a figure.
    target = next(b for b in budgets if b["gate"] == "strict" and "max" in b and b["max"] > 0
                  and matching(figures, b["figures"], b.get("exclude", [])))
    target_id = matching(figures, target["figures"], target.get("exclude", []))[0]
    broken = copy.deepcopy(inside)
    broken["figures"][target_id]["value"] = target["max"] * 1.5
    # 3. One figure of a pattern budget left out, and one named figure unmeasured (null): each
    #    budget is missing, though its other figures pass.
    counted = next(b for b in budgets if b["gate"] == "strict" and "count" in b
                   and matching(figures, b["figures"], b.get("exclude", [])))
    dropped_id = matching(figures, counted["figures"], counted.get("exclude", []))[-1]
    named = next(b for b in budgets if b["gate"] == "strict" and "count" not in b and b is not target
                 and b["figures"][0] in figures)
    thinned = copy.deepcopy(inside)
    del thinned["figures"][dropped_id]
    thinned["figures"][named["figures"][0]]["value"] = None
    with tempfile.TemporaryDirectory() as d:
        me = [sys.executable, str(Path(__file__).resolve()), "--budgets", str(budgets_path)]

        def run(copy_: dict, name: str) -> tuple[int, list[str]]:
            path = Path(d) / name
            path.write_text(json.dumps(copy_))
            done = subprocess.run(me + ["--results", str(path), "--json"], capture_output=True, text=True)
            rows = json.loads(done.stdout)["rows"]
            return done.returncode, [r["name"] for r in rows if r["gate"] == "strict" and r["status"] in ("FAIL", "missing")]

        good, _ = run(inside, "inside.json")
        bad, failed_names = run(broken, "broken.json")
        thin, missing_names = run(thinned, "thinned.json")
    print(f"self-test: copy with every strict figure inside its budget -> exit {good} (expected 0)")
    print(f"self-test: same copy with {target_id} = {target['max'] * 1.5:g} "
          f"(budget ≤ {target['max']:g}) -> exit {bad} (expected non-zero), failed: {failed_names}")
    print(f"self-test: same copy without {dropped_id} and with {named['figures'][0]} unmeasured -> exit {thin} "
          f"(expected non-zero), missing: {missing_names}")
    ok = (good == 0 and bad != 0 and failed_names == [target["name"]]
          and thin != 0 and sorted(missing_names) == sorted([counted["name"], named["name"]]))
    print("self-test: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------------
# Collecting


def sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def meta() -> dict:
    commit = sh("git", "rev-parse", "--short", "HEAD") or "unknown"
    # Documentation and the results themselves do not change what is measured (they are edited
    # while a run goes on); any other change to tracked files marks the commit "+dirty".
    dirty = bool(sh("git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                    ":(exclude)*.md", ":(exclude)bench/results.json"))
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    mem = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                if l.startswith("MemTotal")), 0) if Path("/proc/meminfo").exists() else 0
    return {
        "commit": commit + ("+dirty" if dirty else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()}-core {cpu}, {round(mem / 1048576)} GiB, Linux {platform.release()}",
        "rustc": sh("rustc", "-V"),
        "loadavg_at_start": os.environ.get("BENCH_LOADAVG_START"),
        "loadavg_at_end": " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def elf_info(data: bytes) -> dict:
    """Architecture and whether symbols/debug info remain, from an ELF64 image."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return {"arch": "unknown", "stripped": None}
    machine = struct.unpack_from("<H", data, 18)[0]
    arch = {0x3E: "x86_64", 0xB7: "arm64"}.get(machine, hex(machine))
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    names = []
    if shoff and shnum and shoff + shnum * shentsize <= len(data):
        str_off = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)[0]
        for i in range(shnum):
            name_off = struct.unpack_from("<I", data, shoff + i * shentsize)[0]
            end = data.index(b"\0", str_off + name_off)
            names.append(data[str_off + name_off:end].decode(errors="replace"))
    return {"arch": arch, "stripped": not any(n == ".symtab" or n.startswith(".debug") for n in names)}


def sizes() -> dict:
    """Bootstrap and zip sizes of `make build`'s outputs, and of this run's native release."""
    head_time = int(sh("git", "log", "-1", "--format=%ct") or 0)
    figures, details = {}, []
    mib = 1048576
    for fn in FUNCTIONS:
        seen_arch = set()
        for arch in ("arm64", "x86_64"):
            z = ROOT / "target" / "lambda" / f"{fn}-{arch}.zip"
            if not z.is_file():
                continue
            with zipfile.ZipFile(z) as zf:
                info = zf.getinfo("bootstrap")
                elf = elf_info(zf.read("bootstrap"))
            seen_arch.add(arch)
            built = int(z.stat().st_mtime)
            figures[f"size.{fn}.{arch}.bootstrap_mib"] = {
                "value": round(info.file_size / mib, 3), "unit": "MiB",
                "label": f"{fn} bootstrap, {arch} ({'stripped' if elf['stripped'] else 'NOT stripped'}), "
                         f"{info.file_size:,} bytes, from target/lambda/{fn}-{arch}.zip"}
            figures[f"size.{fn}.{arch}.zip_mib"] = {
                "value": round(z.stat().st_size / mib, 3), "unit": "MiB",
                "label": f"{fn} deployment zip, {arch}, {z.stat().st_size:,} bytes"}
            details.append({"function": fn, "arch": arch, "source": str(z.relative_to(ROOT)),
                            "bootstrap_bytes": info.file_size, "zip_bytes": z.stat().st_size, "elf": elf,
                            "built": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(built)),
                            "built_before_head_commit": built < head_time})
        b = ROOT / "target" / "lambda" / fn / "bootstrap"
        if b.is_file():
            elf = elf_info(b.read_bytes())
            usable = elf["stripped"] and elf["arch"] not in seen_arch and elf["arch"] in ("arm64", "x86_64")
            details.append({"function": fn, "arch": elf["arch"], "source": str(b.relative_to(ROOT)),
                            "bootstrap_bytes": b.stat().st_size, "elf": elf,
                            "used": bool(usable), "why_not_used": None if usable else
                            "not a stripped release bootstrap, or its arch is already read from a zip"})
            if usable:
                figures[f"size.{fn}.{elf['arch']}.bootstrap_mib"] = {
                    "value": round(b.stat().st_size / mib, 3), "unit": "MiB",
                    "label": f"{fn} bootstrap, {elf['arch']}, {b.stat().st_size:,} bytes, from {b.relative_to(ROOT)}"}
        native = ROOT / "target" / "release" / fn
        if native.is_file():
            figures[f"size.{fn}.native_release_mib"] = {
                "value": round(native.stat().st_size / mib, 3), "unit": "MiB",
                "label": f"{fn}, this run's target/release build (x86_64, same release profile), "
                         f"{native.stat().st_size:,} bytes"}
    return {"part": "sizes", "command": "make build (scripts/build.sh), read by scripts/bench-check.py --collect",
            "figures": figures, "details": {"sizes": details}}


def collect(run_dir: Path) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"parts": {}}
    m = meta()
    parts = [json.loads(p.read_text()) for p in sorted(run_dir.glob("*.json"))]
    measured = sizes()
    # A run without `make build`'s outputs (a BENCH_PARTS run) keeps the sizes measured last.
    if any(k.endswith("bootstrap_mib") for k in measured["figures"]) or "sizes" not in results["parts"]:
        parts.append(measured)
    for part in parts:
        part["meta"] = dict(m)
        # Sizes read from zips `make build` made earlier are of that build, not of this commit.
        if part["part"] == "sizes" and any(s.get("built_before_head_commit") for s in part["details"]["sizes"]):
            part["meta"]["commit"] = f"a build before {m['commit']}"
        results["parts"][part["part"]] = part
    figures = {}
    for name, part in sorted(results["parts"].items()):
        for fid, f in part.get("figures", {}).items():
            figures[fid] = dict(f, part=name, command=part.get("command"))
    results["figures"] = figures
    results["generated"] = m
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"bench-check: wrote {RESULTS.relative_to(ROOT)} ({len(figures)} figures from {len(results['parts'])} parts)")
    render(results)


# ---------------------------------------------------------------------------------------------
# Rendering


def table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return out


def render(results: dict) -> None:
    rows, failed = check(results, load_budgets())
    parts = results["parts"]
    lines = [BEGIN, "", "Generated by `make bench` (scripts/bench-check.py --collect); checked by `make bench-check`.",
             f"`make bench-check` on these results: **{'fails' if failed else 'passes'}** "
             "(strict budgets only; machine budgets are this machine's times).", ""]
    body = []
    for r in rows:
        part = parts.get(r.get("part") or "", {})
        pm = part.get("meta", {})
        measured = fmt(r["worst"])
        if r.get("unit") and r["worst"] is not None:
            measured += f" {r['unit']}"
        if r.get("worst_id") and len(r["ids"]) > 1:
            measured += f" (worst: `{r['worst_id']}`)"
        if r.get("note"):
            measured += f" — {r['note']}"
        status = {"pass": "pass", "FAIL": "**FAIL**", "missing": "**missing**", "not landed": "not landed"}[r["status"]]
        if r["gate"] == "machine":
            status += " (this machine; not gated)"
        budget = f"{r['op']} {fmt(r['limit'])}"
        if "issue_limit" in r:
            budget += f" (issue: {r['op']} {fmt(r['issue_limit'])}, {'met' if r['issue_met'] else '**not met**'})"
            if not r["issue_met"]:
                status += f"; issue's budget not met: {r['why']}"
        body.append([r["name"], budget, measured, status,
                     f"`{part.get('command', '')}`", pm.get("machine", ""), pm.get("commit", ""), pm.get("date", "")])
    lines += table(["figure", "budget", "measured", "status", "command", "machine", "commit", "date"], body)
    lines += ["", *detail_tables(results), "", END]
    text = BENCHMARKS.read_text() if BENCHMARKS.is_file() else "# Benchmarks\n\n"
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n## Results\n\n" + block + "\n"
    BENCHMARKS.write_text(text)
    print(f"bench-check: rendered the results into {BENCHMARKS.relative_to(ROOT)}")


def detail_tables(results: dict) -> list[str]:
    parts, figs = results["parts"], results["figures"]
    out: list[str] = []

    def f(fid: str, unit: bool = False) -> str:
        v = figs.get(fid, {}).get("value")
        return fmt(v) + (f" {figs[fid]['unit']}" if unit and v is not None else "")

    if "cpu-path" in parts:
        out += ["### CPU path (criterion, one core)", ""]
        rows = []
        for fid in sorted(k for k in figs if k.startswith("cpu.") and k.endswith(".ns_per_event")):
            shape = fid.split(".")[1]
            n = parts["cpu-path"]["details"].get("cpu_path_samples_per_iteration", {}).get(shape, "")
            rows.append([shape, n, f(fid), f(f"cpu.{shape}.events_per_s"), f(f"cpu.{shape}.vs_json_only")])
        out += table(["shape", "samples", "ns / event (median)", "events / s", "× JSON parse alone"], rows) + [""]
    if "ingest-e2e" in parts:
        d = parts["ingest-e2e"]["details"]
        e = d.get("ingest_e2e", {})
        out += ["### Ingest end to end (release `ingest`, local Runtime API, DynamoDB Local)", ""]
        out += table(
            ["path", "events", "events / s", "p50 ms", "p99 ms", "requests / event (log)", "requests / event (proxy)",
             "WCU / event (log)", "WCU / event (proxy)", "DynamoDB calls (proxy)"],
            [["direct (EventBridge envelope per invocation)", e.get("events"), f("ingest.e2e.events_per_s"),
              f("ingest.e2e.latency_p50_ms"), f("ingest.e2e.latency_p99_ms"), f("ingest.e2e.requests_per_event"),
              f("ingest.e2e.proxy_requests_per_event"), f("ingest.e2e.wcu_per_event"),
              f("ingest.e2e.proxy_wcu_per_event"),
              ", ".join(f"{op} {v['requests']:,} ({v['notOk']:,} not 200)" for op, v in e.get("proxy", {}).items())]]
            + [[f"SQS batch 100, {w} stream", "—" if not s.get("landed") else (s.get("batches", 0) * s.get("batch", 0)),
                f(f"ingest.sqs{'' if w == 'uniform' else '.' + w}.events_per_s"),
                fmt(s.get("batch_latency_ms", {}).get("p50")) + " (batch)" if s.get("landed") else "—",
                fmt(s.get("batch_latency_ms", {}).get("p99")) + " (batch)" if s.get("landed") else "—",
                "—", f(f"ingest.sqs{'' if w == 'uniform' else '.' + w}.writes_per_event") + " writes", "—",
                f(f"ingest.sqs{'' if w == 'uniform' else '.' + w}.wcu_per_event"),
                ", ".join(f"{op} {v['requests']:,} ({v['notOk']:,} not 200)" for op, v in s.get("proxy", {}).items())
                if s.get("landed") else "not yet landed"]
               for w, s in d.get("ingest_sqs", {}).items()]) + [""]
        logged = ", ".join(f"{v:,} {k}" for k, v in sorted(e.get("results_logged", {}).items()))
        out += [f"Direct path: results logged {logged}; stored {e.get('stored_groups')} groups and "
                f"{e.get('stored_occurrences'):,} occurrences; peak RSS per process "
                f"{', '.join(str(k) for k in e.get('peak_rss_kib', []))} KiB. SQS path: stored "
                + "; ".join(f"{w}: {s.get('stored_groups')} groups, {s.get('stored_occurrences', 0):,} occurrences"
                            for w, s in d.get("ingest_sqs", {}).items() if s.get("landed")) + ".", ""]
        rep = {w: sum(v.get("capacityUnits", 0) for v in s.get("proxy", {}).values())
               for w, s in d.get("ingest_sqs", {}).items() if s.get("landed")}
        cor = {w: sum(v.get("correctedCapacityUnits", 0) for v in s.get("proxy", {}).values())
               for w, s in d.get("ingest_sqs", {}).items() if s.get("landed")}
        if rep:
            out += ["WCU (proxy) is DynamoDB Local's `ConsumedCapacity` corrected for its transaction accounting, "
                    "which counts items of equal cost in one transaction once (see `bench/src/proxy.rs`): "
                    + "; ".join(f"SQS {w}: reported {rep[w]:,.0f}, corrected {cor[w]:,.0f} WCU" for w in rep)
                    + ". The direct path needs no correction: one `Put` and one `Update`, which DynamoDB Local adds "
                    "up correctly (checked with `ReturnConsumedCapacity = INDEXES`).", ""]
    if "ingest-cost" in parts:
        out += ["### Ingest cost per scenario (store in-process)", ""]
        out += table(["scenario", "events", "requests / event", "WCU / event", "duplicates recognised"],
                     [[r["scenario"], r["events"], fmt(r["requests_per_event"]), fmt(r["wcu_per_event"]),
                       r["duplicates_recognised"]] for r in parts["ingest-cost"]["details"].get("ingest_cost", [])])
        out += [""]
    if "query" in parts:
        rows = parts["query"]["details"].get("query", [])
        out += ["### Query cost against table size (page of 50)", ""]
        out += table(["groups", "filter", "page p50 ms (api)", "page p99 ms (api)", "page p50 ms (store)",
                      "returned", "items read / returned", "RCU / page", "Query calls / page",
                      "count", "count: items read", "count: RCU", "count ms (api)"],
                     [[f"{r['groups']:,}", r["filter"], fmt(r["api_page_ms"]["p50"]), fmt(r["api_page_ms"]["p99"]),
                       fmt(r["store_page_ms"]["p50"]), r["returned_per_page"], fmt(r["items_read_per_returned"]),
                       fmt(r["rcu_per_page"]), fmt(r["api_queries_per_page"]), f"{r['count']:,}",
                       f"{r['count_items_read']:,}", fmt(r["count_rcu"]), fmt(r["count_api_ms"])] for r in rows])
        keys = sorted({k.split(".")[1] for k in figs if k.startswith("query.") and k.endswith(".latency_ratio")})
        out += ["", "Largest / smallest table:", ""]
        out += table(["filter", "page latency p50 (api)", "page latency p50 (store)", "items read / returned"],
                     [[k, f(f"query.{k}.latency_ratio"), f(f"query.{k}.store_latency_ratio"),
                       f(f"query.{k}.items_read_ratio")] for k in keys]) + [""]
    if "rollups" in parts:
        rows = parts["rollups"]["details"].get("rows", [])
        out += ["### Count, summary and trend without filter: from the rollups, and reading every group", "",
                "In-process through the store, as the api calls it; groups spread over 5 days, retention 4 "
                "(`bench rollups`). The rollups' figures are per call (p50 of 100 calls, the sizes asked in turn); "
                "reading every group is today's path without them, once per size.", ""]
        out += table(["groups", "question", "rollups: items read", "RCU", "Query calls", "p50 ms", "p99 ms",
                      "every group: items read", "RCU", "ms"],
                     [[f"{r['groups']:,}", r["question"], f"{r['rollups']['items_read']:,}", fmt(r["rollups"]["rcu"]),
                       r["rollups"]["requests"], fmt(r["rollups"]["p50_ms"]), fmt(r["rollups"]["p99_ms"]),
                       f"{r['every_group']['items_read']:,}", fmt(r["every_group"]["rcu"]), fmt(r["every_group"]["ms"])]
                      for r in rows])
        out += ["", "Latency p50 from the rollups, largest / smallest table: "
                + ", ".join(f"{q} {f(f'rollups.{q}.latency_ratio')}" for q in ["count", "summary", "trend7"]) + ".", ""]
        long = parts["rollups"]["details"].get("long_rows", [])
        if long:
            out += ["At a 365-day retention (groups spread over 366 days, the worst cut-off), from rollups keeping the "
                    "30-day grain and read by days alone (a generation kept since before that grain), per call "
                    "(p50 of 20 calls):", ""]
            out += table(["groups", "question", "grains", "items read", "RCU", "Query calls", "p50 ms",
                          "every group: items read", "RCU"],
                         [[f"{r['groups']:,}", r["question"], k["layout"].replace("_", " "), f"{k['items_read']:,}",
                           fmt(k["rcu"]), k["requests"], fmt(k["p50_ms"]), f"{r['every_group']['items_read']:,}",
                           fmt(r["every_group"]["rcu"])] for r in long for k in r["rollups"]]) + [""]
    if "rollup-cost" in parts:
        rows = parts["rollup-cost"]["details"].get("rows", [])
        out += ["### What keeping the rollups costs per event", "",
                "The workload written through the store in-process, then its stream delivered in batches to "
                "the rollup function's handler (`bench rollup-cost`). WCU priced from what the transactions wrote: "
                "markers by their size, each rollup update at the rollup's final size (an upper bound), 2 WCU per "
                "started KiB for the item and 2 for its `byTime` entry.", ""]
        out += table(["workload", "batch", "events", "stream records", "transactions", "markers (WCU)", "rollup updates",
                      "rollups touched", "rollup WCU", "rollup function WCU per event", "direct path WCU per event"],
                     [[r["workload"], r.get("batch", 100), f"{r['events']:,}", f"{r['stream_records']:,}", r["transactions"],
                       f"{r['markers']:,} ({fmt(r['marker_wcu'])})", f"{r['rollup_updates']:,}",
                       f"{r['rollups_touched']:,}", fmt(r["rollup_wcu"]), fmt(r["wcu_per_event"]),
                       fmt(r["direct_wcu_per_event"])] for r in rows]) + [""]
    if "rebuild" in parts:
        d = parts["rebuild"]["details"]
        out += ["### Rebuild of the rollups: the walk and its marks", "",
                f"{d.get('groups', 0):,} groups seeded, a restart, then runs of the maintenance function's "
                f"`rebuild_rollups` of {d.get('per_run', 0):,} groups each (`RESTAMP_MAX_ITEMS`' default) until the "
                "walk is through (`bench rebuild`). WCU priced from what the transactions wrote: each group at its "
                "size after its mark, 2 WCU per started KiB for the item and 2 for its `byTime` entry, and the marks' "
                "count; RCU as DynamoDB Local reports the walk's `Query`s.", ""]
        out += table(["run", "groups examined", "marked", "transactions", "Query calls", "Query RCU", "seconds"],
                     [[i + 1, f"{r['examined']:,}", f"{r['marked']:,}", r["transactions"], r["queries"],
                       fmt(r["query_rcu"]), fmt(r["seconds"])] for i, r in enumerate(d.get("runs", []))])
        out += ["", f"Per group: {f('rebuild.wcu_per_group')} WCU, {f('rebuild.rcu_per_group')} RCU; the longest "
                f"run {f('rebuild.run_seconds')} s, {f('rebuild.run_share_of_timeout')} of the function's 300 s "
                "timeout.", ""]
    if "cold-start" in parts:
        d = parts["cold-start"]["details"]
        out += ["### Cold start (exec → first poll → first response, local Runtime API)", ""]
        out += table(["binary", "bytes", "first poll p50 ms", "p99 ms", "× baseline", "first response p50 ms",
                      "p99 ms", "first invocation ms (p50)", "RSS after it (KiB)"],
                     [[c["target"], f"{c['binary_bytes']:,}", fmt(c["first_poll_ms"]["p50"]),
                       fmt(c["first_poll_ms"]["p99"]), f(f"cold.{c['target']}.first_poll_vs_baseline"),
                       fmt(c["first_response_ms"]["p50"]), fmt(c["first_response_ms"]["p99"]),
                       fmt(c["first_invocation_handler_ms"]["p50"]), fmt(c["peak_rss_after_first_invocation_kib"])]
                      for c in d.get("cold_start", [])])
        probe = d.get("startup_probe", {})
        if probe:
            out += ["", "Start-up steps of `main`, replayed in a fresh process (`bench startup-probe`, median of "
                    f"{len(d.get('cold_start', [{}])[0:1]) and d['cold_start'][0].get('runs', '')} runs, ms):", ""]
            out += table(["step", "ms"], [[k, fmt(v)] for k, v in sorted(probe.items())]) + [""]
    if "metrics-cost" in parts:
        d = parts["metrics-cost"]["details"].get("metrics_cost", {})
        cpu = d.get("cpu_per_event_us", {})
        out += ["### What the metrics (EMF lines) cost", "",
                f"Ingest direct path, {d.get('events_per_run', 0):,} events per run, METRICS=on and off alternating "
                f"in {d.get('rounds', 0)} rounds; CPU per event from `/proc` (user + system, every thread):", ""]
        out += table(["round", "on µs", "off µs", "on / off"],
                     [[str(i + 1), fmt(on), fmt(off), fmt(r)] for i, (on, off, r)
                      in enumerate(zip(cpu.get("on", []), cpu.get("off", []), d.get("ratios", [])))]
                     + [["median", f("metrics.ingest.cpu_per_event_on_us"), f("metrics.ingest.cpu_per_event_off_us"),
                         f("metrics.ingest.cpu_on_vs_off")]])
        out += ["", "Cold start, exec → first response p50 with metrics / without (same rounds, table above): "
                f"ingest {f('cold.ingest.metrics_on_vs_off_first_response')}, "
                f"api {f('cold.api.metrics_on_vs_off_first_response')}.", ""]
    if "process-cpu" in parts:
        d = parts["process-cpu"]["details"].get("process_cpu", {})
        runs = d.get("runs", {})
        out += ["### CPU per invocation of the function processes, and the Python peer", "",
                f"{d.get('events_per_run', 0):,} events per direct and SQS run (batches of {d.get('sqs_batch', '')}), "
                f"{d.get('api_requests', 0)} api requests per run, {d.get('rounds', 0)} rounds; CPU from `/proc` "
                "(user + system, every thread) from the first poll to the last answer:", ""]
        labels = {"ingest.direct": "ingest, direct path (per event)", "ingest.sqs": "ingest, SQS path (per event)",
                  "api.list": "api, list page of 50 (per request)", "api.count": "api, unfiltered count of 100 groups (per request)",
                  "peer.direct": "Python 3.11 + boto3 under awslambdaric, direct path (per event)",
                  "floor.direct": "floor: the peer's work by hand in Rust, blocking sockets, hand-signed (per event)",
                  "floor.sdk": "floor: the same with the transaction through the AWS SDK (per event)",
                  "floor.sdk_runtime_client": "floor: the same through the SDK and AWS's runtime client, `lambda_runtime` (per event)",
                  "floor.exchanges": "floor: the Runtime API's two exchanges alone (per event)"}
        def kernel(rows):
            # Runs recorded before the system part was kept have none.
            parts = [m["system_us"] for m in rows if "system_us" in m]
            return ", ".join(fmt(v) for v in parts) if parts else "—"
        out += table(["process", "CPU µs per round", "median µs", "of which kernel (system) µs per round",
                      "exec → first poll ms (median)", "peak RSS KiB (max)"],
                     [[labels.get(k, k), ", ".join(fmt(m["cpu_us"]) for m in rows), f(f"process_cpu.{k}_us"), kernel(rows),
                       fmt(sorted(m["init_ms"] for m in rows)[len(rows) // 2]) if rows else "—",
                       f"{max(m['peak_rss_kib'] for m in rows):,}" if rows else "—"]
                      for k, rows in sorted(runs.items())])
        out += ["", f"Peer / ingest, median of the rounds' ratios: CPU per event {f('process_cpu.peer_vs_ingest_cpu')}, "
                f"exec → first poll {f('process_cpu.peer_vs_ingest_init')}, peak RSS {f('process_cpu.peer_vs_ingest_rss')}. "
                f"Peer CPU per event / ingest's kernel CPU per event (what the first would be with ingest's user-space "
                f"CPU cut to nothing): {f('process_cpu.peer_vs_ingest_kernel')}."]
        if "process_cpu.peer_vs_floor_cpu" in figs:
            out += ["", "The floors (`bench/src/bin/ingest-floor.rs`, `rt-baseline`) are not functions of the product: "
                    "they show what a minimal implementation reaches at each layer. Peer / floor, median of the rounds' ratios: "
                    f"by hand {f('process_cpu.peer_vs_floor_cpu')}, through the SDK {f('process_cpu.peer_vs_floor_sdk_cpu')}, "
                    f"through the SDK and the runtime client {f('process_cpu.peer_vs_floor_sdk_runtime_client_cpu')}."]
        out += [""]
    if "sizes" in parts:
        out += ["### Bootstrap sizes", ""]
        out += table(["function", "arch", "source", "bootstrap bytes", "zip bytes", "stripped", "built"],
                     [[s["function"], s["arch"], f"`{s['source']}`", f"{s['bootstrap_bytes']:,}",
                       f"{s['zip_bytes']:,}" if s.get("zip_bytes") else "—",
                       {True: "yes", False: "no", None: "?"}[s["elf"]["stripped"]],
                       (s.get("built", "") + (" (before HEAD)" if s.get("built_before_head_commit") else ""))
                       if "built" in s else ("not used: " + s["why_not_used"] if s.get("why_not_used") else "")]
                      for s in parts["sizes"]["details"].get("sizes", [])])
        out += [""] + [f"- `{k}`: {fmt(v['value'])} MiB — {v['label']}" for k, v in sorted(figs.items())
                       if k.startswith("size.") and k.endswith("native_release_mib")] + [""]
    return out


# ---------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    args = {"--results": str(RESULTS), "--budgets": str(BUDGETS)}
    flags = set()
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--results", "--budgets", "--collect"):
            if i + 1 >= len(argv):
                print(__doc__, file=sys.stderr)
                return 2
            args[a] = argv[i + 1]
            i += 2
        elif a in ("--self-test", "--json"):
            flags.add(a)
            i += 1
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if "--collect" in args:
        collect(Path(args["--collect"]))
        return 0
    results, budgets = Path(args["--results"]), Path(args["--budgets"])
    if not results.is_file():
        print(f"bench-check: {results} does not exist: run `make bench` first", file=sys.stderr)
        return 2
    if "--self-test" in flags:
        return self_test(results, budgets)
    return run_check(results, budgets, "--json" in flags)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
