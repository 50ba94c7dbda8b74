#!/usr/bin/env python3
"""Markdown tables for docs/results.md from the JSON output of the CPU benchmarks.

  scripts/bench-tables.py gemm gemm.json             bench_gemm, one run (--benchmark_format=json or _out;
                                                     with --benchmark_repetitions=N, the medians)
  scripts/bench-tables.py ops ops1.json ops2.json    bench_ops on 1 and on 2 threads, --benchmark_repetitions=N
  scripts/bench-tables.py step step.json             bench_step
  scripts/bench-tables.py ab ab-gemm.json            scripts/ab-gemm.sh: new/old per shape

Every number in a table is read or computed from the files; nothing is typed in.
"""
import json
import math
import statistics
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"bench-tables: cannot read benchmark JSON {path}: {e}")


def strip(name):
    for suffix in ("/manual_time", "/real_time"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def medians(path):
    """name (without /manual_time) -> the median aggregate of its repetitions (or its only run)."""
    runs = {}
    for b in load(path)["benchmarks"]:
        if b.get("error_occurred"):
            sys.exit(f"bench-tables: {path}: {b['name']} failed: {b.get('error_message')}")
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = strip(b.get("run_name", b["name"]))
        if b.get("run_type") == "aggregate" or name not in runs:
            runs[name] = b
    return runs


def ms(b):
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
    return b["real_time"] * scale


def fmt(v):
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def gmean(v):
    return math.exp(sum(map(math.log, v)) / len(v))


def gemm(path):
    d = load(path)
    ctx = d["context"]
    peak, r, shapes, few = {}, {}, [], {"gemm_nt": [], "gemm_nn": []}
    runs = medians(path)  # with --benchmark_repetitions, each entry's median
    reps = max(b.get("repetitions", 1) for b in runs.values())
    for name, b in sorted(runs.items(), key=lambda nb: nb[1].get("family_index", 0)):  # in the order registered
        parts = name.split("/")
        if parts[0] == "peak":
            peak[parts[2]] = b["GFLOPS"]
            continue
        fam, lib, M, N, K, t = parts
        r[(fam, M, N, K, t, lib)] = b["GFLOPS"]
        sel = few.get(fam, shapes)
        if (M, N, K, t) not in sel:
            sel.append((M, N, K, t))
    print(f"Run {ctx['date']}; unigen kernel `{ctx.get('unigen_kernel')}`, OpenBLAS core `{ctx.get('openblas_core')}`; "
          f"FMA peak {peak.get('1', 0):.1f} GFLOP/s on 1 thread, {peak.get('2', 0):.1f} on 2"
          + (f"; every number the median of {reps} repetitions.\n" if reps > 1 else ".\n"))
    if shapes:
        print("| M×N×K | threads | unigen | oneDNN | OpenBLAS | Eigen | unigen / peak | unigen/oneDNN | unigen/OpenBLAS |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    target = lambda M, N, K: not (M == N == K and M in ("256", "512"))
    vs_dnnl, vs_blas, of_peak = {}, {}, {}
    for s in shapes:
        u, o, ob, e = (r.get(("gemm",) + s + (lib,), float("nan")) for lib in ("unigen", "onednn", "openblas", "eigen"))
        a, b, pk = u / o, u / ob, peak[s[3]]
        tg = target(*s[:3])
        if tg:
            vs_dnnl[s], vs_blas[s], of_peak[s] = a, b, u / pk
        print(f"| {s[0]}×{s[1]}×{s[2]} | {s[3]} | {u:.1f} | {o:.1f} | {ob:.1f} | {e:.1f} | {u / pk * 100:.0f}% | "
              f"{a:.3f}{' ✗' if tg and a < 1 else ''} | {b:.3f}{' ✗' if tg and b < 1.1 else ''} |")
    if vs_dnnl:
        for t in ("1", "2"):
            sel = [s for s in vs_dnnl if s[3] == t]
            if sel:
                print(f"\n{t} thread{'' if t == '1' else 's'}, {len(sel)} target entries: unigen/oneDNN {min(vs_dnnl[s] for s in sel):.3f}–"
                      f"{max(vs_dnnl[s] for s in sel):.3f} (geometric mean {gmean([vs_dnnl[s] for s in sel]):.3f}, "
                      f"≥ 1.0 on {sum(vs_dnnl[s] >= 1 for s in sel)}); unigen/OpenBLAS "
                      f"{min(vs_blas[s] for s in sel):.3f}–{max(vs_blas[s] for s in sel):.3f} (geometric mean "
                      f"{gmean([vs_blas[s] for s in sel]):.3f}, ≥ 1.1 on {sum(vs_blas[s] >= 1.1 for s in sel)}); "
                      f"unigen at {min(of_peak[s] for s in sel) * 100:.0f}–{max(of_peak[s] for s in sel) * 100:.0f}% "
                      f"of the peak.")
        def pct(v):  # a range of shares, or one share when both ends round alike
            lo, hi = f"{min(v) * 100:.0f}", f"{max(v) * 100:.0f}"
            return f"{lo}%" if lo == hi else f"{lo}–{hi}%"
        of = lambda lib, f=1.0: [f * r[("gemm",) + s + (lib,)] / peak[s[3]] for s in vs_dnnl]
        miss = [s for s in vs_blas if vs_blas[s] < 1.1]
        print(f"\nAll {len(vs_dnnl)} target entries: unigen/oneDNN geometric mean {gmean(list(vs_dnnl.values())):.3f}, "
              f"≥ 1.0 on {sum(v >= 1 for v in vs_dnnl.values())}; unigen/OpenBLAS geometric mean "
              f"{gmean(list(vs_blas.values())):.3f}, ≥ 1.1 on {sum(v >= 1.1 for v in vs_blas.values())}. Of the FMA "
              f"peak: unigen {pct(of('unigen'))}, oneDNN {pct(of('onednn'))}, OpenBLAS {pct(of('openblas'))}"
              + (f"; on the {len(miss)} {'entry' if len(miss) == 1 else 'entries'} below 1.1× OpenBLAS, 1.1× OpenBLAS is "
                 f"{pct([1.1 * r[('gemm',) + s + ('openblas',)] / peak[s[3]] for s in miss])} of the peak and unigen ran "
                 f"{pct([of_peak[s] for s in miss])}." if miss else "."))
    titles = {"gemm_nt": "A few rows against a transposed B (`gemm_nt`: C = A·Bᵀ, B stored [N,K], a linear layer's product)",
              "gemm_nn": "The same rows against an untransposed B (`gemm_nn`: C = A·B, B stored [K,N])"}
    for fam, sel in few.items():  # a linear layer on a few rows, no target
        if not sel:
            continue
        print(f"\n{titles[fam]}, GFLOP/s:\n")
        print("| M×N×K | threads | unigen | oneDNN | OpenBLAS | Eigen | unigen/oneDNN | unigen/OpenBLAS |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for s in sel:
            u, o, ob, e = (r.get((fam,) + s + (lib,), float("nan")) for lib in ("unigen", "onednn", "openblas", "eigen"))
            print(f"| {s[0]}×{s[1]}×{s[2]} | {s[3]} | {u:.1f} | {o:.1f} | {ob:.1f} | {e:.1f} | {u / o:.2f} | {u / ob:.2f} |")


def ab(path):
    """scripts/ab-gemm.sh: each shape's GFLOP/s per repetition on both sides, new/old of the medians."""
    reps = {}
    for b in sorted(load(path)["benchmarks"], key=lambda b: b.get("family_index", 0)):  # in the order registered
        if b.get("error_occurred"):
            sys.exit(f"bench-tables: {path}: {b['name']} failed: {b.get('error_message')}")
        if b.get("run_type", "iteration") == "iteration":
            reps.setdefault(strip(b.get("run_name", b["name"])), []).append(b["GFLOPS"])
    print("| product | M×N×K | threads | old GFLOP/s | new GFLOP/s | new/old (medians) |")
    print("|---|---|---:|---|---|---:|")
    ratios = []
    for name, old in reps.items():
        parts = name.split("/")
        if len(parts) != 7 or parts[0] != "ab" or parts[2] != "old":
            continue
        _, fam, _, M, N, K, t = parts
        new = reps.get(f"ab/{fam}/new/{M}/{N}/{K}/{t}")
        if not new:
            sys.exit(f"bench-tables: {path}: no new side for {name}")
        ratios.append(statistics.median(new) / statistics.median(old))
        print(f"| {'A·Bᵀ' if fam == 'nt' else 'A·B'} | {M}×{N}×{K} | {t} | {' · '.join(f'{v:.1f}' for v in old)} | "
              f"{' · '.join(f'{v:.1f}' for v in new)} | {ratios[-1]:.3f} |")
    if not ratios:
        sys.exit(f"bench-tables: {path}: no ab/ benchmarks")
    print(f"\nnew/old over {len(ratios)} shapes: geometric mean {gmean(ratios):.3f}, {min(ratios):.3f}–{max(ratios):.3f}.")


def ops(path1, path2):
    one, two = medians(path1), medians(path2)
    print("Table 1 — row ops, median of the repetitions; ×: the peer's time over fused (above 1: fused is faster)\n")
    print("| op | rows×cols | pass | 1 thread: fused ms | composed ms | composed/fused | oneDNN ms | oneDNN/fused "
          "| fused x_of_bound | 2 threads: fused ms | oneDNN ms | oneDNN/fused | fused x_of_bound |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [n.split("/") for n in one if n.split("/")[1] == "fused" and not n.startswith("attention/")]
    for op, _, r, c, p in rows:
        key = lambda impl: f"{op}/{impl}/{r}/{c}/{p}"
        f1, c1, o1 = (one.get(key(i)) for i in ("fused", "composed", "onednn"))
        f2, o2 = two.get(key("fused")), two.get(key("onednn"))
        cells = [op, f"{r}×{c}", p, fmt(ms(f1))]
        cells += [fmt(ms(c1)), f"{ms(c1) / ms(f1):.1f}×"] if c1 else ["–", "–"]
        cells += [fmt(ms(o1)), f"{ms(o1) / ms(f1):.2f}×"] if o1 else ["–", "–"]
        cells += [f"{f1['x_of_bound']:.2f}"]
        if f2:
            cells += [fmt(ms(f2))]
            cells += [fmt(ms(o2)), f"{ms(o2) / ms(f2):.2f}×"] if o2 else ["–", "–"]
            cells += [f"{f2['x_of_bound']:.2f}"]
        print("| " + " | ".join(cells) + " |")
    print("\nTable 2 — attention, median of the repetitions\n")
    print("| heads | mask | pass | 1 thread: fused ms | composed ms | basic ms | composed / fused | basic / fused "
          "| 2 threads: fused ms | composed ms | basic ms | composed / fused | basic / fused |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in one:
        parts = n.split("/")
        if parts[0] != "attention" or parts[1] != "fused":
            continue
        _, _, B, H, T, dh, mask, p = parts
        cells = [H, mask, p]
        for runs in (one, two):
            t = [runs.get(f"attention/{i}/{B}/{H}/{T}/{dh}/{mask}/{p}") for i in ("fused", "composed", "basic")]
            if all(t):
                f, c, b = map(ms, t)
                cells += [fmt(f), fmt(c), fmt(b), f"{c / f:.2f}×", f"{b / f:.2f}×"]
        print("| " + " | ".join(cells) + " |")
    span = lambda v: f"{min(v):.2f}–{max(v):.2f}" if v else "–"
    for threads, runs in (("1 thread", one), ("2 threads", two)):
        fused = {n: b for n, b in runs.items() if n.split("/")[1] == "fused"}
        bound = [f"{op} {span([b['x_of_bound'] for n, b in fused.items() if n.startswith(op + '/')])}"
                 for op in ("softmax", "layer_norm", "cross_entropy")]
        peer = [ms(runs[n.replace("/fused/", "/onednn/")]) / ms(b) for n, b in fused.items()
                if n.replace("/fused/", "/onednn/") in runs]
        attn = {(impl, p): [ms(runs[n.replace("/fused/", f"/{impl}/")]) / ms(b) for n, b in fused.items()
                            if n.startswith("attention/") and n.endswith("/" + p)]
                for impl in ("basic", "composed") for p in ("fwd", "fwdbwd")}
        print(f"\n{threads}: fused x_of_bound {', '.join(bound)}; oneDNN/fused {span(peer)}; attention "
              f"basic/fused {span(attn['basic', 'fwd'])} (fwd), {span(attn['basic', 'fwdbwd'])} (fwdbwd), "
              f"composed/fused {span(attn['composed', 'fwd'])} (fwd), {span(attn['composed', 'fwdbwd'])} (fwdbwd).")


def step(path):
    reps = {}
    for b in sorted(load(path)["benchmarks"], key=lambda b: b.get("family_index", 0)):  # in the order registered
        if b.get("run_type", "iteration") == "iteration":
            reps.setdefault(strip(b.get("run_name", b["name"])), []).append(fmt(ms(b)))
    print("| benchmark | ms per step (each repetition) | tokens/s (median) |")
    print("|---|---|---:|")
    for name, b in medians(path).items():
        name = name.removesuffix("/real_time")
        print(f"| {name} | {' · '.join(reps.get(name, []))} | {b['tokens_per_s']:.0f} |")


if __name__ == "__main__":
    kinds = {"gemm": (gemm, 1), "ops": (ops, 2), "step": (step, 1), "ab": (ab, 1)}
    if len(sys.argv) < 2 or sys.argv[1] not in kinds or len(sys.argv) != 2 + kinds[sys.argv[1]][1]:
        sys.exit(__doc__)
    fn, _ = kinds[sys.argv[1]]
    fn(*sys.argv[2:])
