#!/usr/bin/env python3
"""The compression section of bench/RESULTS.md (bench/compression.sh).

    python3 bench/report_compression.py --keep RESULTS.md SAVED
        copies the current section (between its markers) to SAVED
    python3 bench/report_compression.py WORKDIR RESULTS.md [SAVED]
        writes the section from WORKDIR's measurements, or, when this run
        did not measure compression, puts SAVED back: bench/report.py
        rewrites RESULTS.md whole and knows nothing of this section.

The section sits between two HTML comments, before "## Run time" (or at
the end).  Every figure is a median over the runs with its min - max;
ratios are ratios of medians.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import cell, fmt, load, median, rows_label, verdict  # noqa: E402

BEGIN = "<!-- compression: bench/compression.sh, bench/report_compression.py -->"
END = "<!-- end of compression -->"


def section_of(text):
    if BEGIN in text and END in text:
        return text[text.index(BEGIN):text.index(END) + len(END)]
    return None


def splice(text, block):
    old = section_of(text)
    if old is not None:
        return text.replace(old, block)
    anchor = "\n## Run time"
    if anchor in text:
        i = text.index(anchor)
        return text[:i] + "\n" + block + "\n" + text[i:]
    return text.rstrip("\n") + "\n\n" + block + "\n"


def render(results, facts):
    def get(case, size, metric="seconds", section="compression"):
        return results.get((section, case, str(size), metric), [])

    sizes = sorted({int(k[2]) for k in results if k[0] == "compression" and k[1] == "csv" and k[3] == "seconds"})
    out = [BEGIN, "## Compression: redtrack.compression = zstd, gzip, none", ""]
    w = out.append
    w("Script `bench/compression.sh`, in one run, contenders interleaved (the order rotates from run to run): "
      "the floors `psql -c \"COPY (SELECT * FROM bench_N) TO STDOUT (FORMAT csv)\" > /dev/null` (**CSV**) and "
      "`… | gzip -1 > /dev/null` (**gzip -1**), zstd's own CLI for reference (`… | zstd -1 > /dev/null`), and "
      "`SET redtrack.compression = …; SELECT * FROM rrr_export('bench_N')` (full strategy; it returns once every "
      "file and the manifest are on the S3 stand-in: **the upload is included**) under each setting, "
      f"with redtrack.compression_level = 1 and redtrack.slices = {facts.get('BENCH_SLICES', '4')}; "
      f"{facts.get('BENCH_RUNS', '?')} runs on {facts.get('date', '?')}, {facts.get('cores', '?')} cores, load average "
      f"(1, 5, 15 min) {facts.get('compression_load_start', '?')} at the start and {facts.get('compression_load_end', '?')} "
      "at the end (other work on the machine stretches every contender, not always alike).")
    w("")
    w("| rows | CSV floor | gzip -1 floor | zstd -1 (CLI) | redtrack zstd | redtrack gzip | redtrack none |")
    w("|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        w(f"| {rows_label(n)} | " + " | ".join(cell(get(c, n)) for c in ("csv", "gzip1", "zstd1", "zstd", "gzip", "none")) + " |")
    w("")
    summary = []
    w("| rows | zstd / CSV floor | gzip -1 floor / zstd | gzip / CSV floor | gzip / gzip -1 floor | none / CSV floor |")
    w("|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        m = {c: median(get(c, n)) if get(c, n) else float("nan") for c in ("csv", "gzip1", "zstd", "gzip", "none")}
        w(f"| {rows_label(n)} | {m['zstd'] / m['csv']:.2f} × | {m['gzip1'] / m['zstd']:.2f} × faster | "
          f"{m['gzip'] / m['csv']:.2f} × | {m['gzip'] / m['gzip1']:.2f} × | {m['none'] / m['csv']:.2f} × |")
        summary.append((f"zstd export vs CSV floor, {rows_label(n)} rows", f"{m['zstd'] / m['csv']:.2f} ×", "≤ 1.25 ×",
                        m["zstd"] / m["csv"] <= 1.25))
        if n >= 1000000:
            summary.append((f"zstd export vs gzip -1 floor, {rows_label(n)} rows", f"{m['gzip1'] / m['zstd']:.2f} × faster",
                            "≥ 2 × faster", m["gzip1"] / m["zstd"] >= 2))
    w("")
    w("| goal | measured | goal | |")
    w("|---|---|---|---|")
    for what, measured, goal, ok in summary:
        w(f"| {what} | {measured} | {goal} | {verdict(ok)} |")
    w("")
    for n in sizes:
        if n >= 1000000 and get("csv", n) and get("gzip1", n):
            bound = median(get("gzip1", n)) / median(get("csv", n))
            w(f"At {rows_label(n)} rows the gzip -1 floor is {bound:.2f} × the CSV floor in this run: an export that cost "
              f"exactly the CSV floor would be {bound:.2f} × faster than the gzip -1 floor, so the ≥ 2 × goal needs a "
              "machine where gzip -1, not PostgreSQL's CSV, is the slower half of that pipe by 2 × (the issue measured "
              "1.16 s against 3.0 – 3.25 s on an idle machine).")
            w("")
    fixed = get("zstd", 10)
    if fixed:
        w(f"A 10-row export under zstd takes {cell(fixed)}: what every export pays whatever its size (the engine "
          "worker, the snapshot's transactions, the warehouse connection and its column layout, one S3 request per "
          "file and the manifest's). " + " ".join(
              f"At {rows_label(n)} rows that is {median(fixed) / median(get('zstd', n)) * 100:.0f} % of the export "
              f"and {median(fixed) / median(get('csv', n)) * 100:.0f} % of the CSV floor; without it the export would "
              f"be {(median(get('zstd', n)) - median(fixed)) / median(get('csv', n)):.2f} × the CSV floor."
              for n in sizes if get("zstd", n) and get("csv", n)))
        w("")

    # File sizes.
    w("Bytes written (S3 objects of one export, all slices; the CLIs' output for the same CSV), and the CPU time "
      "the S3 stand-in (Node.js, on the same 2 cores) spent receiving each export: real S3 costs the source "
      "machine none of it, here it competes with the export it serves:")
    w("")
    w("| rows | CSV (PostgreSQL's) | redtrack none | redtrack gzip | redtrack zstd | gzip -1 CLI | zstd -1 CLI | "
      "S3 stand-in CPU: none | gzip | zstd |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        def mb(values):
            return f"{median(values) / 1e6:.1f} MB" if values else "n/a"
        w(f"| {rows_label(n)} | {mb(get('csv', n, 'bytes'))} | {mb(get('none', n, 'bytes'))} | {mb(get('gzip', n, 'bytes'))} | "
          f"{mb(get('zstd', n, 'bytes'))} | {mb(get('gzip1', n, 'bytes'))} | {mb(get('zstd1', n, 'bytes'))} | "
          + " | ".join(cell(get(c, n, "s3_cpu_seconds")) for c in ("none", "gzip", "zstd")) + " |")
    w("")

    # The probe: level and threads.
    probe = sorted({k[1] for k in results if k[0] == "compression_probe"},
                   key=lambda s: (s.split(":")[0] != "zstd", int(s.split(":")[1]) if s.split(":")[1].lstrip("-").isdigit() else 0, s))
    if probe:
        size = sorted({k[2] for k in results if k[0] == "compression_probe"})[-1]
        csv_bytes = get("csv", size, "bytes")
        w(f"The compressor thread's share, measured apart (`bench/zstd_probe.c`): the {rows_label(size)}-row table's CSV "
          "compressed in 256 kB chunks, each flushed as the exporter flushes it (so every file's size is exact), "
          "one stream; wall and CPU time of the whole process (all threads):")
        w("")
        w("| codec | level | ZSTD_c_nbWorkers | wall | CPU | bytes | MB/s of CSV (wall) |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for key in probe:
            codec, level, workers = key.split(":")
            wall = get(key, size, "seconds", "compression_probe")
            cpu = get(key, size, "cpu_seconds", "compression_probe")
            b = get(key, size, "bytes", "compression_probe")
            rate = (median(csv_bytes) / 1e6 / median(wall)) if csv_bytes and wall else float("nan")
            w(f"| {codec} | {level} | {workers if codec == 'zstd' else '–'} | {cell(wall)} | {cell(cpu)} | "
              f"{median(b) / 1e6:.1f} MB | {rate:.0f} |")
        w("")
        level1 = get("zstd:1:0", size, "seconds", "compression_probe")
        csv_rate = median(csv_bytes) / 1e6 / min(get("csv", size)) if csv_bytes and get("csv", size) else float("nan")
        zstd_rate = median(csv_bytes) / 1e6 / median(level1) if csv_bytes and level1 else float("nan")
        w("Why level 1 and one thread: the compressor is a thread of its own beside the backend, which encodes the "
          "CSV, so it costs nothing as long as it keeps up with the encoder; the encoder is the floor itself "
          f"(PostgreSQL's CSV, about one core: {csv_rate:.0f} MB/s in the fastest CSV floor above). zstd at level 1 "
          f"compresses {zstd_rate:.0f} MB/s on one core, faster than the CSV comes, "
          "with the smallest output but one; level 2 and 3 cost more CPU for the same or larger files here (the "
          "per-chunk flush leaves a higher level little to find), and the fast negative levels save CPU that is not "
          "on the critical path while sending far more bytes to S3 (and to Redshift). ZSTD_c_nbWorkers "
          "(libzstd is built with threads) helps only a compressor that falls behind: every chunk is flushed, which "
          "waits for the workers, so it adds hand-offs and CPU on a machine whose other core is the backend's; "
          "with level 1 the compressor never falls behind, on 2 cores or on 16. redtrack.compression_level stays "
          "available for users who trade CPU for bytes.")
        w("")
    w(END)
    return "\n".join(out)


def main():
    if sys.argv[1] == "--keep":
        text = open(sys.argv[2]).read() if os.path.exists(sys.argv[2]) else ""
        open(sys.argv[3], "w").write(section_of(text) or "")
        return
    workdir, results_md = sys.argv[1], sys.argv[2]
    saved = sys.argv[3] if len(sys.argv) > 3 else None
    results, facts, _, _ = load(workdir)
    if any(k[0] == "compression" for k in results):
        block = render(results, facts)
    elif saved and os.path.exists(saved) and open(saved).read().strip():
        block = open(saved).read()
    else:
        return
    text = open(results_md).read() if os.path.exists(results_md) else ""
    open(results_md, "w").write(splice(text, block))


if __name__ == "__main__":
    main()
