"""Command line: ``python -m estimator --help``. Parsing and wiring only."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from stacks.config import FORMATS, storage_class_refusal  # the stack's formats, refusals and reasons

from . import tables
from .calls import CallLength
from .model import RETENTION_FROM, RULES, ArticleAssumptions, Corrected, Volume, article_estimate, corrected_estimate
from .prices import ARCHITECTURES, PriceError, load_prices

PROG = "python -m estimator"
# Inputs only the corrected model uses; with --assumptions article they are reported as ignored.
# Their defaults live in model.Corrected; argparse leaves them unset (SUPPRESS) when not given.
CORRECTED_ONLY = (
    "storage_class",
    "target_format",
    "noncurrent_days",
    "retention_days",
    "retention_from",
    "lock_days",
    "call_length",
    "architecture",
    "lambda_memory_mb",
    "seconds_per_recording",
    "without",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + message
        self.exit(2, f"estimator: error: {message}\n")


def _number(text: str) -> float:
    try:
        value = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _years(text: str) -> int:
    value = _number(text)
    if value != int(value) or not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"years must be a whole number from 1 to 100: {text!r}")
    return int(value)


def _growth(text: str) -> float:
    """0.01 or 1%: a plain number is a fraction, and one of 1 or more (100 % a month) needs its '%'."""
    text = text.strip()
    percent = text.endswith("%")
    value = _number(text.rstrip("%").strip()) / (100 if percent else 1)
    if not percent and abs(value) >= 1:
        raise argparse.ArgumentTypeError(
            f"--growth {text} without '%' would mean {value * 100:,.0f} % a month; "
            f"write --growth {text}% for {text} % a month, or --growth {value * 100:g}% if you mean it"
        )
    if value <= -1:
        raise argparse.ArgumentTypeError(f"growth must be above -100 % a month: {text!r}")
    return value


def _storage_class(text: str) -> str:
    name = text.strip().upper()
    if (refusal := storage_class_refusal(name)) is not None:
        raise argparse.ArgumentTypeError(f"{name} is refused, as the stack refuses it: {refusal}")
    return name


def _bounded(lo: float, hi: float, what: str):
    """A number within what Lambda allows: beyond it the figure is a mistake, and may overflow the costs."""

    def parse(text: str) -> float:
        value = _number(text)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} is outside {lo:g} to {hi:g} ({what})")
        return value

    return parse


def _days_or(word: str):
    def parse(text: str) -> float | None:
        return None if text.strip().lower() == word else _non_negative(text)

    return parse


def _call_length(text: str) -> CallLength:
    try:
        return CallLength.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _png_path(text: str) -> Path:
    """Checked before anything is computed: the chart is a PNG, into a folder that exists."""
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"the chart is written as PNG: give a file name ending in .png, not {text!r}")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: the folder {str(path.parent)!r} does not exist")
    return path


def _rules(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in RULES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown rule {bad[0]!r}; rules: {', '.join(RULES)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Estimate storage and processing cost of call recordings over N years, "
        "in S3 Standard and after resampling to A-law in a cheaper class. No AWS calls.",
    )
    p.add_argument(
        "--minutes-per-month",
        type=_non_negative,
        default=3_000_000,
        metavar="N",
        help="recorded minutes a month (default 3,000,000)",
    )
    p.add_argument("--years", type=_years, default=6, help="horizon in years (default 6)")
    p.add_argument(
        "--growth",
        type=_growth,
        default=0.0,
        metavar="G",
        help="monthly growth of the volume: a fraction (0.01) or a percentage (1%%); over 100 %% a month needs "
        "the %% sign (200%%): a plain number of 1 or more is refused, since 2 reads as 2 %% but would mean 200 %% "
        "(default 0)",
    )
    p.add_argument(
        "--storage-class",
        type=_storage_class,
        default=argparse.SUPPRESS,
        metavar="CLASS",
        help="target class of the converted recordings (default GLACIER_IR); GLACIER and DEEP_ARCHIVE are refused, "
        "as the stack refuses them (a recording must stay instantly playable)",
    )
    p.add_argument(
        "--target-format",
        choices=tuple(FORMATS),
        default=argparse.SUPPRESS,
        help="what the converter writes, as the stack's target_format: alaw_mono (default; a quarter of Connect's "
        "PCM, the two speakers mixed) or alaw_stereo (a half, each speaker on its own channel)",
    )
    p.add_argument(
        "--age-days",
        type=_non_negative,
        default=7.0,
        metavar="D",
        help="days a recording stays PCM in S3 Standard before conversion (default 7)",
    )
    p.add_argument(
        "--noncurrent-days",
        type=_days_or("never"),
        default=argparse.SUPPRESS,
        metavar="D|never",
        help="days the original PCM version is kept after conversion; 'never' = no lifecycle rule (default 1)",
    )
    p.add_argument(
        "--retention-days",
        type=_days_or("none"),
        default=argparse.SUPPRESS,
        metavar="D|none",
        help="days after which the recording is deleted (default none: kept); see --retention-from",
    )
    p.add_argument(
        "--retention-from",
        choices=RETENTION_FROM,
        default=argparse.SUPPRESS,
        help="what --retention-days counts from: 'recording' (the call's date) or 'conversion' (an S3 lifecycle "
        "Expiration on current versions, whose clock the rewrite restarts: each recording is kept --age-days "
        "longer) (default recording)",
    )
    p.add_argument(
        "--lock-days",
        type=_non_negative,
        default=argparse.SUPPRESS,
        metavar="D",
        help="Object Lock default retention of the bucket, in days from recording: no version, the noncurrent "
        "original included, is deleted before it (default 0: none)",
    )
    p.add_argument(
        "--call-length",
        type=_call_length,
        default=argparse.SUPPRESS,
        metavar="DIST",
        help="call length in minutes: 5, exp:5, fixed:5 or lognormal:5:SIGMA (default exp:5)",
    )
    p.add_argument("--architecture", choices=ARCHITECTURES, default=argparse.SUPPRESS, help="Lambda (default arm64)")
    p.add_argument(
        "--lambda-memory-mb",
        type=_bounded(128, 10240, "the memory Lambda allows, in MB"),
        default=argparse.SUPPRESS,
        metavar="MB",
        help="converter memory (default 512, the stack's default, chosen by the benchmark)",
    )
    p.add_argument(
        "--seconds-per-recording",
        type=_bounded(0, 900, "a recording is converted within one invocation, at most 900 s"),
        default=argparse.SUPPRESS,
        metavar="S",
        help="converter time per recording (default 0.124 s per audio minute: the benchmark's "
        "0.62 s for a 5-minute call at 512 MB)",
    )
    p.add_argument("--prices", metavar="FILE", help="price table (default estimator/prices.json)")
    p.add_argument("--assumptions", choices=("article", "corrected"), default="corrected")
    p.add_argument(
        "--without",
        type=_rules,
        action="append",
        default=argparse.SUPPRESS,
        metavar="RULE[,RULE]",
        help=f"switch corrections off: {', '.join(RULES)}",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--chart", type=_png_path, metavar="FILE.png", help="write a PNG of cumulative costs")
    p.add_argument(
        "--compare-article", action="store_true", help="also compare with the article's Table 2 (its volume only)"
    )
    return p


def _corrected_config(args: argparse.Namespace) -> Corrected:
    given = {k: getattr(args, k) for k in CORRECTED_ONLY if hasattr(args, k) and k != "without"}
    if "storage_class" in given:
        given["storage_class"] = given["storage_class"].upper()
    disabled = frozenset(r for group in getattr(args, "without", ()) for r in group)
    return Corrected(age_days=args.age_days, disabled=disabled, **given)


def _inputs(args: argparse.Namespace, cfg: Corrected | None, prices: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "minutes_per_month": args.minutes_per_month,
        "years": args.years,
        "growth": args.growth,
        "age_days": args.age_days,
    }
    if cfg is not None:
        out.update(
            {
                "storage_class": cfg.storage_class,
                "target_format": cfg.target_format,
                "noncurrent_days": "never" if cfg.noncurrent_days is None else cfg.noncurrent_days,
                "retention_days": cfg.retention_days,
                "retention_from": cfg.retention_from,
                "lock_days": cfg.lock_days,
                "call_length": {
                    "kind": cfg.call_length.kind,
                    "mean_minutes": cfg.call_length.mean_minutes,
                    "sigma": cfg.call_length.sigma,
                },
                "architecture": cfg.architecture,
                "lambda_memory_mb": cfg.lambda_memory_mb,
                "seconds_per_recording": cfg.lambda_seconds,
                "rules_off": sorted(cfg.disabled),
                "prices": {"path": prices.path, "region": prices.region, "retrieved": prices.retrieved},
            }
        )
    return out


def _chart(args, volume, cfg, prices, est) -> None:
    from .chart import write_chart  # matplotlib only when a chart is asked for

    scale = f"{args.minutes_per_month:,.0f} min/month over {args.years} years"
    if cfg is None:
        curves = [
            ("S3 Standard only (article)", est.monthly_standard),
            ("Resampled + Glacier IR (article)", est.monthly_optimized),
        ]
        write_chart(
            args.chart,
            curves,
            f"Article assumptions, {scale}",
            "2 MB/min PCM at $0.023/GB-month, 0.5 MB/min A-law at $0.004/GB-month, $0.11 per 1,000 minutes",
        )
        return
    rule_on = cfg.disabled - {"noncurrent"}
    days = cfg.noncurrent_days if cfg.noncurrent_days is not None else 1.0
    with_rule = corrected_estimate(volume, replace(cfg, noncurrent_days=days, disabled=rule_on), prices)
    no_rule = corrected_estimate(volume, replace(cfg, noncurrent_days=None, disabled=rule_on), prices)
    curves = [
        ("S3 Standard only", est.monthly_standard),
        (f"Resampled to {cfg.storage_class}, no noncurrent-version rule (originals kept)", no_rule.monthly_optimized),
        (
            f"Resampled to {cfg.storage_class}, originals expire {days:g} day{'s' * (days != 1)} after conversion",
            with_rule.monthly_optimized,
        ),
    ]
    off = ", ".join(sorted(cfg.disabled)) or "none"
    write_chart(
        args.chart,
        curves,
        f"Cumulative cost, corrected model, {scale}",
        f"{prices.region} list prices of {prices.retrieved}; PCM {cfg.age_days:g} days in S3 Standard before "
        f"conversion; calls {cfg.call_length.kind} mean {cfg.call_length.mean_minutes:g} min; rules off: {off}",
    )


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    volume = Volume(args.minutes_per_month, args.years, args.growth)
    prices = load_prices(args.prices) if (args.prices or args.assumptions == "corrected") else None
    if args.compare_article and (args.minutes_per_month, args.years, args.growth) != (3_000_000, 6, 0.0):
        raise ValueError("--compare-article needs the article's volume: 3,000,000 minutes/month, 6 years, no growth")
    if args.assumptions == "article":
        if getattr(args, "storage_class", "GLACIER_IR").upper() != "GLACIER_IR":
            raise ValueError("--assumptions article models GLACIER_IR only")
        for dest in (d for d in CORRECTED_ONLY if hasattr(args, d) and d != "storage_class"):
            print(f"estimator: note: --{dest.replace('_', '-')} is ignored with --assumptions article", file=sys.stderr)
        cfg, est = None, article_estimate(volume, ArticleAssumptions(age_days=args.age_days))
    else:
        cfg = _corrected_config(args)
        assert prices is not None  # loaded above for the corrected assumptions
        prices.storage_class(cfg.storage_class)  # unknown class: PriceError, exit 2
        est = corrected_estimate(volume, cfg, prices)
    if args.chart:
        try:
            _chart(args, volume, cfg, prices, est)
        except OSError as exc:
            raise ValueError(f"cannot write the chart to {args.chart}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(tables.to_json(est, _inputs(args, cfg, prices), args.compare_article), indent=2))
    else:
        print(tables.render_header(est, _inputs(args, cfg, prices)))
        print(tables.render_table(est))
        if cfg is not None:
            print(tables.render_breakdown(est))
        if args.compare_article:
            print()
            print(tables.render_comparison(est))
    if args.chart:
        print(f"chart written to {args.chart}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except ImportError as exc:  # only --chart imports anything optional
        print(f"estimator: error: --chart needs matplotlib ({exc}); install requirements-dev.txt", file=sys.stderr)
        return 1
    except OverflowError as exc:  # a combination of inputs the checks above let through
        print(f"estimator: error: the inputs are too large to compute ({exc}): lower them", file=sys.stderr)
        return 2
    except (PriceError, ValueError, OSError) as exc:  # bad input: one line, status 2
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"estimator: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
