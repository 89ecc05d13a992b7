#!/usr/bin/env python3
"""The README's headline figures must be the ones the benchmark commands wrote.

README.md quotes bench/RESULTS.md (scripts/bench) and docs/target-figures.md
(tools/rv32-latency.sh, tools/size-report.sh) by hand. This check reads the generated pages
and the README and compares every quoted figure: the W1 rows, W2, W4, the RV32 and Cortex-M3
worst cases and the W5 code sizes; and the option costs include/capheap.h quotes. It fails
(status 1) naming each figure that differs.

    tests/readme-figures.py [REPO_ROOT]
"""
import re
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
readme = (root / "README.md").read_text()
results = (root / "bench" / "RESULTS.md").read_text()
targets = (root / "docs" / "target-figures.md").read_text()
problems = []
checked = 0


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def row(text, prefix, what, exact=False, skip=1):
    """The cells after the first `skip` of the first table row whose first cell starts with
    prefix (or is prefix, when exact)."""
    for line in text.splitlines():
        c = cells(line)
        if line.startswith("|") and (c[0] == prefix if exact else c[0].startswith(prefix)):
            return c[skip:]
    problems.append("%s: no row starting '%s'" % (what, prefix))
    return None


def section(text, heading):
    """Text from the line starting with heading to the next heading of any level."""
    m = re.search(r"^" + re.escape(heading) + r".*?$(.*?)(?=^#)", text, re.S | re.M)
    if not m:
        problems.append("no section '%s'" % heading)
        return ""
    return m.group(1)


def same(what, quoted, measured):
    global checked
    checked += 1
    if quoted != measured:
        problems.append("%s: quoted %s, the generated page says %s" % (what, quoted, measured))


def num(s):
    return re.sub(r"[^0-9.]", "", s)


# ---- W1 (first table on the results page: variant free) and the speed setting (trade-off table)
w1 = results[results.index("## W1"):]
for label, readme_label in (("**capheap**", "capheap (default"), ("**capheap-lean**", "capheap lean"),
                            ("glibc", "glibc malloc"), ("firstfit", "naive first fit")):
    m, q = row(w1, label, "W1 " + label), row(readme, readme_label, "README W1 " + readme_label)
    if m and q:
        same("W1 " + readme_label, q[:6], m[:6])
m = row(results, "SL_BITS=0, FIT_SCAN=1, lean options", "trade-off speed setting")
q = row(readme, "capheap speed setting (lean", "README W1 speed setting")
if m and q:
    same("W1 speed setting", q[:6], m[:6])

# ---- W2 (p = 0.3 row)
w2 = results[results.index("## W2"):]
m, q = row(w2, "**capheap**", "W2"), row(readme[readme.index("Memory efficiency, W2"):], "capheap", "README W2")
if m and q:
    same("W2", q[:4], m[1:5])

# ---- W4: the capheap row's four populations
w4 = results[results.index("## W4"):]
m = row(w4, "**capheap**", "W4")
q = re.search(r"Constant time, W4:\*\* ([0-9.]+) → ([0-9.]+) → ([0-9.]+) → ([0-9.]+)", readme)
if m and q:
    same("W4", list(q.groups()), m[:4])

# ---- RV32 worst case: workload maxima and constructed states per build
for heading, readme_label in (("### Default options", "capheap default (constructed"),
                              ("### Smallest configuration", "capheap lean (constructed"),
                              ("### Speed setting", "capheap speed setting (`FIT_SCAN=1`"),
                              ("### Two-level bitmap", "capheap two-level bitmap")):
    sec = section(targets, heading)
    a = re.search(r"over the workloads \((\d+) / (\d+)\) and the constructed states \((\d+) / (\d+)\)", sec)
    q = row(readme, readme_label, "README RV32 " + readme_label, skip=0)  # the label quotes too
    if not a or not q:
        problems.append("RV32 %s: figures not found" % heading)
        continue
    cons = re.search(r"constructed[^:]*: (\d+) / (\d+)\)", q[0])
    same("RV32 %s workload maxima" % heading, [num(q[1]), num(q[2])], [a.group(1), a.group(2)])
    same("RV32 %s constructed" % heading, list(cons.groups()) if cons else None, [a.group(3), a.group(4)])

# ---- Cortex-M3: maximum and median range per call, default and smallest
m3 = targets[targets.index("## Instructions per operation on Cortex-M3"):]
for heading, readme_label in (("### capheap, default options", "capheap default"),
                              ("### capheap, smallest configuration", "capheap lean")):
    sec = section(m3, heading)
    allocs, frees = [], []
    for line in sec.splitlines():
        if re.match(r"^\| (a|b|c|adv) \|", line):
            pairs = [tuple(int(x) for x in c.split(" / ")) for c in cells(line)[1:]]
            allocs += pairs[0::2]
            frees += pairs[1::2]
    q = row(readme, readme_label, "README Cortex-M3 " + readme_label, exact=True)
    if not allocs or not q:
        problems.append("Cortex-M3 %s: figures not found" % heading)
        continue

    def span(xs):
        lo, hi = min(xs), max(xs)
        return str(lo) if lo == hi else "%d – %d" % (lo, hi)

    measured = [str(max(a for a, _ in allocs)), span([m for _, m in allocs]),
                str(max(f for f, _ in frees)), span([m for _, m in frees])]
    same("Cortex-M3 " + heading, q[:4], measured)

# ---- W5: Cortex-M4 code size, default and smallest
w5 = re.search(r"with realloc\): ([0-9 ]+) \| ([0-9 ]+) bytes by default, ([0-9 ]+) \| ([0-9 ]+) in the smallest",
               readme)
sizes = {}
for line in targets.splitlines():
    c = cells(line)
    if line.startswith("| Cortex-M4 |") and len(c) >= 4:
        sizes.setdefault(c[1].split(" ")[0], [num(c[2]), num(c[3])])
if w5 and "default" in sizes and "smallest" in sizes:
    same("W5", [g.replace(" ", "") for g in w5.groups()], sizes["default"] + sizes["smallest"])
elif not w5:
    problems.append("README W5 sentence not found")

# ---- the header's option costs (include/capheap.h quotes the same pages)
header = (root / "include" / "capheap.h").read_text()
flat = re.sub(r"\s*\n\s*\*\s*", " ", header)


def constructed(heading):
    a = re.search(r"constructed states \((\d+) / (\d+)\)", section(targets, heading))
    return [a.group(1), a.group(2)] if a else None


hc = re.search(r"worst-case free is (\d+) instructions with checks and statistics, (\d+) without", flat)
same("header CHECK_LEVEL worst-case free", list(hc.groups()) if hc else None,
     [(constructed("### Default options") or [None, None])[1],
      (constructed("### Smallest configuration") or [None, None])[1]])
# The default scan length, as the header defines it; the header's sentence names it too.
ds = re.search(r"#define CAPHEAP_FIT_SCAN (\d+)", header)
hf = re.search(r"W1\): ([0-9.]+) instructions per operation on average against ([0-9.]+) with (\d+), .*?"
               r"worst case on RV32 (\d+) / (\d+) instructions per alloc / free against (\d+) / (\d+)", flat)
fast = row(results, "SL_BITS=0, FIT_SCAN=1", "trade-off FIT_SCAN=1", exact=True)
dflt = row(results, "SL_BITS=0, FIT_SCAN=%s (default)" % (ds.group(1) if ds else "?"), "trade-off default",
           exact=True)
if hf and fast and dflt:
    same("header FIT_SCAN W1 means", list(hf.groups()[:3]), [fast[6], dflt[6], ds.group(1)])
    same("header FIT_SCAN RV32", list(hf.groups()[3:]),
         (constructed("### Speed setting") or []) + (constructed("### Default options") or []))
else:
    problems.append("header FIT_SCAN figures not found")

for p in problems:
    print("readme-figures: " + p)
print("readme-figures: %d figures compared, %d problems" % (checked, len(problems)))
sys.exit(1 if problems or checked < 12 else 0)
