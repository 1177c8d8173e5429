"""Held-out evaluation and cost of the image scorer, on synthetic images it was not tuned on.

Images come from `fraud_pipeline.media.synth_images`, whose sources are split in two
disjoint halves: `tune` (the policy's media values were chosen looking at this set only)
and `eval` (reported as the held-out figure). The halves share no seed, no source text (a
hash of the text decides), no template, caption or poster text, and no font family. The
text model was trained on `data/labeled/train.jsonl`, so `data_text` scam images test the
reading, not the model; every other scam kind comes from templates in no training data.

For each set it prints:
- precision and recall of `is_fraud`, per kind (recall for scams, flag rate for benign);
- per-signal hit rates: OCR text through the text model, OCR text through the rules, QR
  links, the blocklist (copies of listed images, resized and recompressed), alt text;
- today's alt-text-only scorer beside it (the text model over the alt text, as the stream
  scored media before #13), on the same images and alt texts;
- a `flag_at` sweep over the recorded likelihoods (to choose the operating point on `tune`).

Speed (`--mix N`): CPU seconds per image end to end on a mix that is mostly photos (the
share is `--photo-share`; most images posted to Bluesky are photos), measured in a worker
process per code version: this checkout, and with `--baseline DIR` another checkout (e.g.
`git archive <commit> | tar -x -C DIR`), on the same bytes in one run. With `--http` each
version also has a worker that fetches each image from a local blob server in the CDN's URL
layout first (fetch + decode + prescreen + OCR + score). The workers score the whole mix in
turn, `--rounds` times (the order reversed every other round), and each figure is the median
over the rounds, so a spell of load on this shared machine moves all versions alike and one
slow round does not move the figure. The headline (`speed.headline`) is this checkout fetched
over HTTP when `--http` is given (the issue's end-to-end figure), else this checkout in
process. `--memory N` then scores N images (the mix repeated) in this checkout's worker and
reports the resident memory after each pass.

    python benchmarks/bench_media_eval.py [--sets tune,eval] [--scams 140] [--benign 140]
        [--mix 200] [--photo-share 0.7] [--baseline DIR] [--http] [--rounds 3] [--memory 0]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

# Alt texts: scammers mostly leave it empty (the premise); ordinary posters sometimes
# describe the picture. Chosen per image from its seed.
_SCAM_ALTS = ("", "", "", "", "", "", "image", "giveaway", "screenshot")
_BENIGN_ALTS = ("", "", "", "a photo", "my dog on the beach", "chart of the numbers", "screenshot of a post")


def _alt_text(label: int, seed: int, text: str) -> str:
    rng = np.random.default_rng([seed, 9, label])
    if label == 1 and rng.random() < 0.1:
        return text.split("\n")[0]  # some scammers paste their headline as alt text
    options = _SCAM_ALTS if label == 1 else _BENIGN_ALTS
    return options[int(rng.integers(len(options)))]


def _copy(data: bytes, seed: int) -> bytes:
    """A resized, recompressed copy of an image: how a reused scam image reaches the CDN again."""
    rng = np.random.default_rng([seed, 7])
    image = Image.open(io.BytesIO(data)).convert("RGB")
    scale = float(rng.uniform(0.5, 0.9))
    image = image.resize((max(64, int(image.width * scale)), max(64, int(image.height * scale))))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(40, 80)))
    return buffer.getvalue()


def build_set(split: str, scams: int, benign: int, listed: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Images of one split with their truth, and the pHashes of the `listed` known scam images."""
    from fraud_pipeline.media.blocklist import perceptual_hash
    from fraud_pipeline.media.synth_images import BENIGN_KINDS, benign_image, scam_image

    base = 0 if split == "tune" else 500_000  # disjoint seeds too
    rows: list[dict[str, Any]] = []
    for i in range(scams):
        image = scam_image(base + i, split=split)  # type: ignore[arg-type]
        rows.append(
            {"data": image.data, "label": 1, "kind": image.kind, "text": image.text, "seed": base + i}
        )
    kinds = [k for k in BENIGN_KINDS if k != "photo"]
    for i in range(benign):  # half photos, the rest spread over the kinds with text
        kind = "photo" if i % 2 == 0 else kinds[(i // 2) % len(kinds)]
        image = benign_image(base + i, split=split, kind=kind)  # type: ignore[arg-type]
        rows.append({"data": image.data, "label": 0, "kind": kind, "text": image.text, "seed": base + i})
    hashes = []
    for i in range(listed):  # known scam images: listed once, met again as copies
        original = scam_image(base + 100_000 + i, split=split)  # type: ignore[arg-type]
        hashes.append(str(perceptual_hash(Image.open(io.BytesIO(original.data)).convert("RGB"))))
        rows.append(
            {
                "data": _copy(original.data, base + i),
                "label": 1,
                "kind": "listed_copy",
                "text": original.text,
                "seed": base + 100_000 + i,
            }
        )
    for row in rows:
        row["alt"] = _alt_text(row["label"], row["seed"], row["text"])
    return rows, hashes


def _signals(reasons: list[str]) -> set[str]:
    fired = set()
    for reason in reasons:
        if reason.startswith("text model"):
            fired.add("ocr_text_model")
        elif reason.startswith("rule ") and "(QR code)" in reason:
            fired.add("qr_links")
        elif reason.startswith("rule "):
            fired.add("ocr_rules")
        elif reason.startswith("known scam image"):
            fired.add("blocklist")
    return fired


def _pr(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    return {
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
    }


def evaluate(split: str, scams: int, benign: int, listed: int) -> dict[str, Any]:
    from fraud_pipeline.media.scorer import ImageScorer
    from fraud_pipeline.policy import load_default_policy
    from fraud_pipeline.policy.schema import BlockedImage
    from fraud_pipeline.scoring.text_model import load_text_model

    rows, hashes = build_set(split, scams, benign, listed)
    model = load_text_model()
    scorer = ImageScorer(load_default_policy(), model)
    scorer.blocklist = [BlockedImage(phash=h, note="listed") for h in hashes]  # as `blocklist add` would
    flag_at = scorer.spec.flag_at
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    signal_hits: dict[str, Counter[str]] = {"scam": Counter(), "benign": Counter()}
    likelihoods: list[tuple[float, int]] = []
    alt = {"tp": 0, "fp": 0, "fn": 0}
    tp = fp = fn = 0
    misses: list[dict[str, Any]] = []
    for row in rows:
        verdict = scorer.score_bytes(row["data"], row["alt"])
        truth = row["label"] == 1
        group = "scam" if truth else "benign"
        likelihoods.append((verdict.fraud_media_likelihood or 0.0, row["label"]))
        counts[row["kind"]]["images"] += 1
        counts[row["kind"]]["flagged"] += verdict.is_fraud
        counts[row["kind"]]["ocr_skipped"] += verdict.ocr_skipped
        fired = _signals(verdict.reasons)
        if row["alt"].strip():
            alt_score = float(model.score([row["alt"]])[0])
            if alt_score >= flag_at:
                fired.add("alt_text")
        else:
            alt_score = 0.0
        signal_hits[group].update(fired)
        alt_flag = alt_score >= flag_at
        alt["tp"] += truth and alt_flag
        alt["fp"] += (not truth) and alt_flag
        alt["fn"] += truth and not alt_flag
        tp += truth and verdict.is_fraud
        fp += (not truth) and verdict.is_fraud
        fn += truth and not verdict.is_fraud
        if truth != verdict.is_fraud and len(misses) < 12:
            misses.append(
                {
                    "kind": row["kind"],
                    "truth": row["label"],
                    "likelihood": verdict.fraud_media_likelihood,
                    "drawn": " ".join(row["text"].split())[:90],
                    "read": " ".join(verdict.ocr_text.split())[:90],
                }
            )
    n_scam = sum(1 for r in rows if r["label"] == 1)
    n_benign = len(rows) - n_scam
    sweep = {}
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7):
        s_tp = sum(1 for v, y in likelihoods if y == 1 and v >= threshold)
        s_fp = sum(1 for v, y in likelihoods if y == 0 and v >= threshold)
        sweep[str(threshold)] = _pr(s_tp, s_fp, n_scam - s_tp)
    return {
        "images": len(rows),
        "scams": n_scam,
        "benign": n_benign,
        "is_fraud": _pr(tp, fp, fn),
        "alt_text_only_today": _pr(alt["tp"], alt["fp"], alt["fn"]),
        "signal_hit_rate_on_scams": {
            s: round(signal_hits["scam"][s] / n_scam, 3)
            for s in ("ocr_text_model", "ocr_rules", "qr_links", "blocklist", "alt_text")
        },
        "signal_hit_rate_on_benign": {
            s: round(signal_hits["benign"][s] / n_benign, 3)
            for s in ("ocr_text_model", "ocr_rules", "qr_links", "blocklist", "alt_text")
        },
        "blocklist_copies_matched": round(counts["listed_copy"]["flagged"] / max(1, listed), 3),
        "per_kind": {
            kind: {
                "images": c["images"],
                "flagged": round(c["flagged"] / c["images"], 3),
                "ocr_skipped": round(c["ocr_skipped"] / c["images"], 3),
            }
            for kind, c in sorted(counts.items())
        },
        "flag_at_sweep": sweep,
        "misses": misses,
    }


# --- speed: one worker process per code version ------------------------------------------

# A worker scores the mix once per line it reads on stdin ("<passes>"), with the scorer and
# OCR engines loaded once, and prints one JSON line per pass: CPU seconds per image, flagged,
# skipped, wall. Each pass does the whole work: the scorer keeps no cache by CID and the
# fetcher none either, so every image is fetched, decoded and read again.
_WORKER = r"""
import json, resource, sys, time
from pathlib import Path
from fraud_pipeline.media.scorer import ImageScorer
from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.scoring.text_model import load_text_model

folder, url = Path(sys.argv[1]), sys.argv[2]
files = sorted(folder.glob("*.img"))
scorer = ImageScorer(load_default_policy(), load_text_model())
fetcher = None
if url:
    from fraud_pipeline.media.fetch import BlobFetcher, BlobRef, FetchLimits
    fetcher = BlobFetcher(url, url, FetchLimits(timeout_s=10.0))
scorer.score_bytes(files[0].read_bytes())  # load the engines outside the timings
print(json.dumps({"ready": True}), flush=True)
for command in sys.stdin:
    passes = int(command)
    cpu, flagged, skipped, rss, now = [], 0, 0, [], []
    wall = time.perf_counter()
    for _ in range(passes):
        for path in files:
            start = time.process_time()
            if fetcher is not None:
                ref = BlobRef("did:plc:benchbenchbenchbenchbenc", path.stem.split("-", 1)[1], "image")
                data = fetcher.fetch(ref, 10_000_000)
            else:
                data = path.read_bytes()
            verdict = scorer.score_bytes(data)
            cpu.append(time.process_time() - start)
            flagged += verdict.is_fraud
            skipped += verdict.ocr_skipped
        rss.append(round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
        # resident now (not the peak so far): a leak shows as a climb pass after pass
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        now.append(round(pages * resource.getpagesize() / 2**20, 1))
    print(json.dumps({"cpu": cpu, "flagged": flagged, "skipped": skipped,
                      "wall_s": time.perf_counter() - wall,
                      "peak_rss_mb_after_each_pass": rss, "rss_mb_after_each_pass": now}), flush=True)
"""


def _cid(index: int) -> str:
    """A well-formed CIDv1 (the fetcher refuses anything else) that names the image's index."""
    from fraud_pipeline.ingest.synth import blob_cid

    return blob_cid(index.to_bytes(8, "big"))


class Worker:
    """One code version (`code_dir` first on the path) scoring the mix in a process of its own,
    from files or fetched from `url`; `run(passes)` scores it again and returns the timings."""

    def __init__(self, code_dir: Path, folder: Path, url: str = "") -> None:
        env = dict(os.environ, PYTHONPATH=str(code_dir), OMP_THREAD_LIMIT="1")
        self.code_dir = code_dir
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(folder), url],
            env=env,
            cwd=code_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._read()  # ready: engines loaded

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"worker for {self.code_dir} failed: {stderr[-2000:]}")
        return dict(json.loads(line))

    def run(self, passes: int = 1) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{passes}\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def _speed_summary(rounds: list[dict[str, Any]], kinds: list[str]) -> dict[str, Any]:
    """Figures over interleaved rounds: the headline rate is the median of the rounds' rates;
    per image, the median of its CPU over the rounds (what load spikes move least)."""
    rates = [len(r["cpu"]) / sum(r["cpu"]) for r in rounds]
    cpu = [statistics.median(seconds) for seconds in zip(*(r["cpu"] for r in rounds), strict=True)]
    per_kind: dict[str, list[float]] = defaultdict(list)
    for index, seconds in enumerate(cpu):
        per_kind[kinds[index % len(kinds)]].append(seconds)
    return {
        "images": len(cpu),
        "rounds": len(rounds),
        "images_per_cpu_s": round(statistics.median(rates), 2),
        "images_per_cpu_s_each_round": [round(rate, 2) for rate in rates],
        "images_per_cpu_s_of_per_image_medians": round(len(cpu) / sum(cpu), 2),
        # each image's least CPU over the rounds: what load spikes on a shared machine move least
        "images_per_cpu_s_of_per_image_minimums": round(
            len(cpu) / sum(min(seconds) for seconds in zip(*(r["cpu"] for r in rounds), strict=True)), 2
        ),
        "median_cpu_s": round(statistics.median(cpu), 4),
        "p90_cpu_s": round(float(np.percentile(cpu, 90)), 4),
        "wall_s": round(sum(r["wall_s"] for r in rounds), 1),
        "ocr_skipped": round(rounds[0]["skipped"] / len(cpu), 3),
        "cpu_s_per_kind": {k: round(sum(v), 3) for k, v in sorted(per_kind.items())},
        "median_cpu_s_per_kind": {k: round(statistics.median(v), 4) for k, v in sorted(per_kind.items())},
        "peak_rss_mb": max(r["peak_rss_mb_after_each_pass"][-1] for r in rounds),
    }


def speed(
    count: int, photo_share: float, baseline: Path | None, http: bool, memory: int, rounds: int
) -> dict[str, Any]:
    """Each code version (and with `http`, each fetched over HTTP too) in a worker of its own;
    the workers score the mix in turn, `rounds` times, the order reversed every other round,
    so a spell of load falls on all of them alike."""
    from fraud_pipeline.media.blob_server import BlobServer
    from fraud_pipeline.media.synth_images import image_mix

    images = list(image_mix(seed=77, count=count, split="eval", photo_share=photo_share, scam_share=0.05))
    kinds = [("scam:" if i.is_scam else "") + i.kind for i in images]
    report: dict[str, Any] = {
        "mix": {
            "images": count,
            "photo_share": photo_share,
            "kinds": dict(Counter("scam" if i.is_scam else i.kind for i in images)),
            "why": "most images posted to Bluesky are photos; screenshots, memes, charts and "
            "posters are the minority with text, scam cards a small share of it",
        }
    }
    versions = [("this_checkout", ROOT)] + ([("baseline", baseline)] if baseline is not None else [])
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for index, image in enumerate(images):
            (folder / f"{index:06d}-{_cid(index)}.img").write_bytes(image.data)
        workers: dict[str, Worker] = {}
        try:
            if http:
                # The blob server runs in this process: its CPU is not in the workers' figures
                # (a CDN's would not be either); the client's fetch is.
                server = BlobServer(blobs={_cid(i): image.data for i, image in enumerate(images)})
                server.start_background()
            for name, code_dir in versions:
                workers[name] = Worker(code_dir, folder)
                if server is not None:
                    workers[f"{name}_fetched_over_http"] = Worker(code_dir, folder, url=server.url)
            results: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for round_index in range(max(1, rounds)):
                order = list(workers) if round_index % 2 == 0 else list(reversed(workers))
                for name in order:
                    results[name].append(workers[name].run())
            for name in workers:
                summary = _speed_summary(results[name], kinds)
                report[name] = {"dir": str(baseline), **summary} if name.startswith("baseline") else summary
            headline = "this_checkout_fetched_over_http" if http else "this_checkout"
            report["headline"] = {
                "figure": headline,
                "images_per_cpu_s": report[headline]["images_per_cpu_s"],
                "how": f"median over {max(1, rounds)} interleaved rounds of the mix's images per CPU second",
            }
            if memory:
                passes = max(1, memory // count)
                result = workers["this_checkout"].run(passes)
                report["memory"] = {
                    "images_scored": len(result["cpu"]),
                    "distinct_images": count,
                    "peak_rss_mb_after_each_pass": result["peak_rss_mb_after_each_pass"],
                    "rss_mb_after_each_pass": result["rss_mb_after_each_pass"],
                    "images_per_cpu_s": round(len(result["cpu"]) / sum(result["cpu"]), 2),
                }
        finally:
            for worker in workers.values():
                worker.close()
            if server is not None:
                server.stop()
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default="tune,eval", help="which halves to evaluate ('' for none)")
    parser.add_argument("--scams", type=int, default=140)
    parser.add_argument("--benign", type=int, default=140)
    parser.add_argument("--listed", type=int, default=10, help="known scam images listed, met as copies")
    parser.add_argument("--mix", type=int, default=200, help="images in the speed mix (0: no speed run)")
    parser.add_argument("--photo-share", type=float, default=0.7)
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout, timed too")
    parser.add_argument("--http", action="store_true", help="also time fetch + score over HTTP")
    parser.add_argument("--memory", type=int, default=0, help="score this many images in one worker (RSS)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the mix per worker")
    args = parser.parse_args()

    started = time.process_time()
    report: dict[str, Any] = {"sets": {}}
    for split in [s for s in args.sets.split(",") if s]:
        report["sets"][split] = evaluate(split, args.scams, args.benign, args.listed)
    if args.mix:
        report["speed"] = speed(
            args.mix, args.photo_share, args.baseline, args.http, args.memory, args.rounds
        )
    report["bench_cpu_s"] = round(time.process_time() - started, 1)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
