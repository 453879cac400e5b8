"""Goals judged from the results, and the tables printed (plain text) or written (Markdown)."""

from __future__ import annotations

from typing import Any

from .cost import DYNAMODB_READ_PER_MILLION

KB = 1024


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per goal of the issue: measure, goal, measured figure, met (True/False/None)."""
    rows: list[dict[str, Any]] = []

    def add(measure: str, goal: str, figure: str, met: bool | None) -> None:
        rows.append({"measure": measure, "goal": goal, "measured": figure, "met": met})

    p = results.get("pipeline")
    if p:
        add(
            f"marginal wall time per {p['recording_seconds'] / 60:.0f}-min recording, full local pipeline / one bare "
            "ffmpeg pass "
            f"({p['sizes'][0]} and {p['sizes'][1]} recordings, {p['pairs']} pair(s))",
            "≤ 1.5",
            f"{p['ratio']:.2f} ({p['marginal_s_per_recording'] * 1000:.1f} ms / {p['bare_ffmpeg_s'] * 1000:.1f} ms; "
            f"pairs {', '.join(f'{r:.2f}' for r in p['ratio_all'])}; CPU-time ratio {_fmt(p.get('cpu_ratio'), '.2f')})",
            p["ratio"] <= 1.5,
        )
    r = results.get("requests_per_recording")
    if r:
        none, tagged = r["no_tags"], r["with_tags"]
        add(
            "S3 requests per converted recording, counted at the emulator (no tags / with tags)",
            "≤ 2 / ≤ 3",
            f"{none['s3_per_converted']:g} / {tagged['s3_per_converted']:g} "
            f"({'+'.join(k.split(':')[1] for k in tagged['converter_requests'] if k.startswith('s3:'))})",
            none["s3_per_converted"] <= 2 and tagged["s3_per_converted"] <= 3,
        )
    e = results.get("enqueue_1000")
    if e:
        add(
            "SQS requests to enqueue 1,000 recordings; S3 requests by the enqueuer",
            "≤ 100; 0",
            f"{e['enqueuer_sqs_requests']} (SendMessageBatch, {e['pages']} pages); {e['enqueuer_s3_requests']}",
            e["enqueuer_sqs_requests"] <= 100 and e["enqueuer_s3_requests"] == 0,
        )
    if e and "batch_get_item" in e:
        bound = (
            -(-e["known_failure_keys_checked"] // 100) + e["pages"]
        )  # 100 keys a request, the last of each page partial
        add(
            "DynamoDB reads to check 1,000 listed keys for known failures (lister, BatchGetItem)",
            "batched: ≤ ⌈keys / 100⌉ + 1 per page",
            f"{e['batch_get_item']} requests ({e['pages']} pages), {e['known_failure_read_units']:g} read units "
            "(0.5 per key, eventually consistent: "
            f"${e['known_failure_read_units'] * DYNAMODB_READ_PER_MILLION / 1e6:.7f})",
            e["batch_get_item"] <= bound,
        )
    d = results.get("day")
    if d:
        add(
            f"a {d['recordings']:,}-recording day: largest state payload",
            "≤ 64 KB",
            f"{d['max_state_bytes']:,} bytes ({d['max_state_bytes'] / KB:.1f} KB)",
            d["max_state_bytes"] <= 64 * KB,
        )
        child = d.get("largest_child_history_events")
        add(
            f"a {d['recordings']:,}-recording day: lister + enqueuer on the emulator",
            "report",
            f"{d['list_enqueue_wall_s']:.1f} s wall; {d['list_objects_v2']} ListObjectsV2, "
            f"{d['send_message_batch']:,} SendMessageBatch, "
            + (f"{d['batch_get_item']:,} BatchGetItem, " if "batch_get_item" in d else "")
            + f"{d['invocations']['lister'] + d['invocations']['enqueuer']} invocations, {d['state_transitions']:,} "
            "transitions; history events: "
            f"{d['history_events']:,} (run)" + (f", {child:,} (the day's child execution)" if child else ""),
            None,
        )
    c = results.get("converter")
    if c:
        memory = {row["seconds_of_audio"]: row["memory"] for row in c["rows"] if "memory" in row}

        def figure(m: dict[str, Any]) -> tuple[float, str]:
            """The peak of Python + ffmpeg at one instant, and its parts (older runs: the sum of peaks)."""
            if "peak_together_mb" in m:
                return m["peak_together_mb"], (
                    f"{m['peak_together_mb']:.0f} MB together (Python {m['python_at_peak_together_mb']:.0f} + ffmpeg "
                    f"{m['ffmpeg_at_peak_together_mb']:.0f} at that instant); own peaks Python "
                    f"{m['python_peak_mb']:.0f}, ffmpeg {m['ffmpeg_peak_mb']:.0f} "
                    f"({m['ffmpeg_anon_mb']:.0f} anonymous + {m['ffmpeg_file_mb']:.0f} file-backed)"
                )
            return m[
                "sum_of_peaks_mb"
            ], f"{m['sum_of_peaks_mb']:.0f} MB ({m['python_peak_mb']:.0f} + {m['ffmpeg_peak_mb']:.0f})"

        if 3600 in memory:
            peak, text = figure(memory[3600])
            add("converter peak RSS, 1-hour recording (Python + ffmpeg)", "≤ 100 MB", text, peak <= 100)
        if 14400 in memory:
            m = memory[14400]
            peak, text = figure(m)
            fits = peak <= m["configured_memory_mb"] and m["tmp_needed_mb"] <= m["configured_ephemeral_mb"]
            add(
                "converter, 4-hour recording: fits the configured memory and ephemeral storage",
                "fits",
                f"{peak:.0f} of {m['configured_memory_mb']} MB memory, {m['tmp_needed_mb']:.0f} of "
                f"{m['configured_ephemeral_mb']} MB /tmp",
                fits,
            )
            add(
                "converter peak RSS, 4-hour recording (Python + ffmpeg), audio check included",
                "≤ 100 MB",
                text,
                peak <= 100,
            )
        speeds = (
            ""
            if c.get("memory_only")
            else ", ".join(
                f"{_length(row['seconds_of_audio'])} {row['audio_s_per_s_converter']:,.0f}×" for row in c["rows"]
            )
        )
        if speeds:
            add("conversion speed (seconds of audio per second of wall time)", "report", speeds, None)
    a = results.get("audio")
    if a:
        h, hi, m = a["hour_8k"], a["ten_minutes_48k"], a["margins"]
        add(
            "audio check / one bare ffmpeg pass over the same 1-hour call (8 kHz stereo 16-bit)",
            "≤ 0.25",
            f"{h['ratio']:.2f} ({h['check_s']:.3f} s / {h['bare_ffmpeg_s']:.3f} s; runs "
            f"{', '.join(f'{r:.2f}' for r in h['ratio_all'])}); "
            f"48 kHz, 10 min: {hi['ratio']:.2f} ({hi['check_s']:.2f} s / {hi['bare_ffmpeg_s']:.2f} s); "
            f"numpy + the check imported once per container: {a['import']['import_s']:.2f} s, "
            f"+{a['import']['rss_added_mb']:.0f} MB",
            h["ratio"] <= 0.25,
        )
        t = m["thresholds"]
        add(
            "audio check thresholds against speech: correct conversions / wrong outputs",
            "margins both ways",
            f"SNR ≥ {t['min_snr_db']:g} dB: correct ≥ {m['good_lowest_window_snr_db']:.1f} dB "
            f"({m['good_lowest_window_case']}), "
            f"wrong ≤ {m['bad_highest_window_snr_db']:.1f} dB; channel loss ≤ {t['max_channel_loss_db']:g} dB: "
            "correct ≤ "
            f"{m['good_largest_channel_loss_db']:.1f} dB, cancelling ≥ {m['bad_smallest_channel_loss_db']:.1f} dB",
            m["good_lowest_window_snr_db"] >= t["min_snr_db"] > m["bad_highest_window_snr_db"]
            and m["good_largest_channel_loss_db"] <= t["max_channel_loss_db"] < m["bad_smallest_channel_loss_db"],
        )
    b = results.get("backfill")
    if b:
        add(
            f"history events of the longest execution, {b['days']:,}-day backfill",
            "< 25,000",
            f"{b['longest_history_events']:,} (parent {b['parent_history_events']:,}; {_fmt(b['child_executions'])} "
            "child executions, "
            f"largest {_fmt(b['largest_child_history_events'])}; {b['execution_status']} in {b['seconds']:.0f} s on "
            "the emulator)",
            b["longest_history_events"] < 25_000 and b["execution_status"] == "SUCCEEDED",
        )
    cost = results.get("cost")
    if cost:
        t = cost["per_1000_minutes"]
        rec = cost.get("recommended")
        add(
            "cost per 1,000 call-minutes (5-minute calls; Lambda arm64 + requests + SQS + Step Functions)",
            "≤ $0.01 (article: $0.11)",
            f"${t['total_usd']:.4f} at {t['settings']['memory_mb']} MB"
            # The recommended size only when it is another one: the same figure twice says nothing.
            + (
                f", ${rec['usd_per_1000_minutes']:.4f} at {rec['converter_memory_mb']} MB"
                if rec and rec["converter_memory_mb"] != t["settings"]["memory_mb"]
                else ""
            )
            + f" (S3 PUT ${t['items_usd']['s3_put']:.4f}; break-even at {cost['break_even_converter_s']:.1f} s of "
            "converter per 5-min call)",
            t["total_usd"] <= 0.01,
        )
    rec = (cost or {}).get("recommended")
    if rec:
        add(
            "recommended defaults (memory / batch size / max concurrency), from this run's measures",
            "report",
            recommendation(rec, results.get("configuration") or {}, quick=bool(results.get("quick"))),
            None,
        )
    return rows


SPEECH_ENCODINGS = ("u8", "s16", "s24", "s32", "s64", "f32", "f64", "alaw", "mulaw")


def _db(value: float) -> str:
    if value == float("inf"):
        return "all (digital silence)"
    return "-" if value == float("-inf") else f"{value:.1f} dB"


def recommendation(rec: dict[str, Any], configured: dict[str, Any], *, quick: bool) -> str:
    """The recommendation next to the stack's defaults, so a difference is never silent."""
    keys = ("converter_memory_mb", "converter_batch_size", "converter_max_concurrency")
    text = f"{rec[keys[0]]} MB / {rec[keys[1]]} / {rec[keys[2]]}"
    if all(k in configured for k in keys):
        defaults = f"{configured[keys[0]]} MB / {configured[keys[1]]} / {configured[keys[2]]}"
        text += (
            " = the stack's defaults"
            if all(rec[k] == configured[k] for k in keys)
            else f"; the stack's defaults: {defaults}"
        )
    if quick:
        text += " (a --quick run measures too little to set defaults: they come from the full run, docs/benchmarks.md)"
    return text


def _length(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _status(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "-"}[met]


def markdown(results: dict[str, Any]) -> str:
    out = ["| measure | goal | measured | status |", "|---|---|---|---|"]
    for row in results["goals"]:
        out.append(f"| {row['measure']} | {row['goal']} | {row['measured']} | {_status(row['met'])} |")
    c = results.get("converter")
    if c and not c.get("memory_only"):
        out += [
            "",
            "| recording | size | converter (s) | bare ffmpeg (s) | converter / bare | audio s per s (converter) | "
            "audio s per s (ffmpeg) | runs |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in c["rows"]:
            out.append(
                f"| {_length(row['seconds_of_audio'])} | {row['bytes'] / 1e6:,.1f} MB | {row['converter_s']:.3f} | "
                f"{_fmt(row['bare_ffmpeg_s'], '.3f')} | "
                f"{_fmt(row.get('converter_over_bare'), '.2f')} | {row['audio_s_per_s_converter']:,.0f} | "
                f"{_fmt(row.get('audio_s_per_s_bare'), ',.0f')} | {row['repeats']} |"
            )
    if c:
        out += [
            "",
            "| recording | Python peak | ffmpeg peak (anonymous + file) | sum of peaks | together: peak (Python + "
            "ffmpeg) | /tmp needed | configured memory / /tmp |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in c["rows"]:
            m = row.get("memory")
            if m and "peak_together_mb" in m:
                out.append(
                    f"| {_length(row['seconds_of_audio'])} | {m['python_peak_mb']:.1f} MB | "
                    f"{m['ffmpeg_peak_mb']:.1f} MB ({m['ffmpeg_anon_mb']:.1f} + {m['ffmpeg_file_mb']:.1f}) | "
                    f"{m['sum_of_peaks_mb']:.1f} MB | {m['peak_together_mb']:.1f} MB "
                    f"({m['python_at_peak_together_mb']:.1f} + {m['ffmpeg_at_peak_together_mb']:.1f}) | "
                    f"{m['tmp_needed_mb']:,.1f} MB | {m['configured_memory_mb']} / {m['configured_ephemeral_mb']} MB |"
                )
    a = results.get("audio")
    if a:
        out += [
            "",
            "| audio check cost | size | bare ffmpeg (s) | check (s) | check / bare | runs |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for label, row in (
            ("1 h, 8 kHz stereo 16-bit (tones)", a["hour_8k"]),
            ("10 min, 48 kHz stereo 16-bit (speech)", a["ten_minutes_48k"]),
        ):
            out.append(
                f"| {label} | {row['bytes'] / 1e6:,.1f} MB | {row['bare_ffmpeg_s']:.3f} | {row['check_s']:.3f} | "
                f"{row['ratio']:.2f} | {row['repeats']} |"
            )
        m = a["margins"]
        good = m["good"]
        out += [
            "",
            "| correct conversions of speech | cases | lowest SNR, whole file | lowest SNR, 3-s window | largest "
            "channel loss |",
            "|---|---:|---:|---:|---:|",
        ]
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in good:
            if "white noise" in row["encoding"]:
                key = "white noise, -20 dBFS, f32 mono (11 to 96 kHz)"
            elif "," in row["encoding"]:
                key = "8 kHz s16 stereo: quiet, loud, double talk, dual mono, silence"
            else:
                key = f"{row['rate']} Hz, {len(SPEECH_ENCODINGS)} encodings x mono/stereo"
            groups.setdefault(key, []).append(row)
        for key, rows in groups.items():
            loss = max(r["channel_loss_db"] for r in rows)
            out.append(
                f"| {key} | {len(rows)} | {min(r['snr_db'] for r in rows):.1f} dB | "
                f"{min(r['worst_window_snr_db'] for r in rows):.1f} dB | "
                f"{_db(loss)} |"
            )
        out += [
            "",
            "| wrong output (must be refused) | rate | SNR, whole file | lowest SNR, 3-s window | largest channel "
            "loss |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in m["bad"]:
            out.append(
                f"| {row['case']} | {row['rate']} Hz | {row['snr_db']:.1f} dB | {row['worst_window_snr_db']:.1f} dB "
                f"| {_db(row['channel_loss_db'])} |"
            )
    cost = results.get("cost")
    if cost:
        t = cost["per_1000_minutes"]
        out += [
            "",
            f"| item (per 1,000 call-minutes = {t['recordings']:.0f} calls of {t['call_length_minutes']:g} min) | "
            "USD |",
            "|---|---:|",
        ]
        for name, usd in t["items_usd"].items():
            out.append(f"| {name} | {usd:.6f} |")
        out.append(f"| **total** | **{t['total_usd']:.5f}** |")
        out += [
            "",
            "| converter memory | vCPU | modelled s per 5-min call | USD per 1,000 min | longest call (s) | batch of "
            "longest (s) |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for row in cost["memory_table"]:
            out.append(
                f"| {row['memory_mb']} MB | {row['vcpu']:.2f} | {row['seconds_per_recording']:.3f} | "
                f"{row['usd_per_1000_minutes']:.5f} | "
                f"{_fmt(row.get('longest_call_s'), '.1f')} | {_fmt(row.get('batch_of_longest_s'), '.0f')} |"
            )
    return "\n".join(out) + "\n"


def text(results: dict[str, Any]) -> str:
    rows = results["goals"]
    w1 = min(70, max(len(r["measure"]) for r in rows))
    w2 = max(len(r["goal"]) for r in rows)
    lines = [f"{'measure':<{w1}}  {'goal':<{w2}}  {'status':<6}  measured", "-" * (w1 + w2 + 60)]
    for r in rows:
        measure = r["measure"] if len(r["measure"]) <= w1 else r["measure"][: w1 - 1] + "…"
        lines.append(f"{measure:<{w1}}  {r['goal']:<{w2}}  {_status(r['met']):<6}  {r['measured']}")
    return "\n".join(lines) + "\n"
