"""The converter's audio check (lambdas/optimizer/audio.py): what it costs, and how far its
thresholds sit from what it measures on speech.

- Cost: the check against one bare ffmpeg pass (the converter's command line) over the same
  1-hour Connect-style call, both on warm files, alternated, medians. The goal: at most 0.25.
  Reported too for a 10-minute 48 kHz call (resampled path) and numpy's import.
- Margins: real speech (the committed espeak-ng fixture, benchmarks/speech.py) written in every
  accepted format, rate and channel count, converted by the real ffmpeg and checked: the lowest
  SNR and the largest channel loss of the correct conversions, against the highest SNR and the
  smallest loss of the wrong outputs the check must catch.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import speech

RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000)
SILENCE = 0xD5


def _convert(ffmpeg: Path, src: Path, dst: Path) -> Path:
    from optimizer.conversion import ffmpeg_command

    subprocess.run(ffmpeg_command(str(ffmpeg), str(src), str(dst)), check=True, capture_output=True)
    return dst


def _sums(src: Path, dst: Path):
    from optimizer import audio
    from optimizer.wav import read_wav_info

    return audio.measure(str(src), read_wav_info(src), str(dst), read_wav_info(dst))


def figures(src: Path, dst: Path) -> dict[str, float]:
    """What the check's thresholds are compared with: whole-file SNR, the lowest 3-second window
    SNR (error below the floor counted as for the floor, as the check does), the largest loss of
    a channel with signal in the downmix (dB; -inf for mono)."""
    from optimizer import audio

    sums = _sums(src, dst)
    floor = 10 ** (audio.SIGNAL_FLOOR_DBFS / 10)
    width = min(audio.WINDOW_S, len(sums.samples))
    win = audio._windows
    n = win(sums.samples, width)
    ref, err = win(sums.ref, width) / n, win(sums.err, width) / n
    with np.errstate(divide="ignore"):
        window = 10 * np.log10(np.maximum(ref, floor) / err)
        total = 10 * np.log10(max(sum(sums.ref) / sum(sums.samples), floor) / (sum(sums.err) / sum(sums.samples)))
    loss = -np.inf
    if sums.stereo:
        frames = np.maximum(win(sums.frames, width), 1)
        mix = win(sums.mix, width) / frames
        for values in (sums.left, sums.right):
            channel = win(values, width) / frames
            with np.errstate(divide="ignore", invalid="ignore"):
                lost = np.where(channel >= floor, -10 * np.log10(mix / (channel / 4)), -np.inf)
            loss = max(loss, float(lost.max()))
    return {"snr_db": float(total), "worst_window_snr_db": float(window.min()), "channel_loss_db": loss}


def margins(ffmpeg: Path, work: Path, seconds: float = 10, rates: tuple[int, ...] = RATES) -> dict[str, Any]:
    from optimizer import audio

    good: list[dict[str, Any]] = []
    for rate in rates:
        for encoding in speech.ENCODINGS:
            for channels in (1, 2):
                src = speech.write(work / "in.wav", speech.call(seconds, rate, channels=channels), rate, encoding)
                row = figures(src, _convert(ffmpeg, src, work / "out.wav"))
                good.append({"rate": rate, "encoding": encoding, "channels": channels, **row})
    call8 = speech.call(seconds, 8000)
    extra = {  # 8 kHz stereo 16-bit variants of real recordings
        "quiet (-30 dB)": call8 * 10 ** (-30 / 20),
        "loud (+10 dB)": call8 * 10 ** (10 / 20),
        "double talk": call8 + np.roll(call8[:, ::-1], 8000) * 0.7,
        "dual mono": np.repeat(call8.sum(axis=1, keepdims=True), 2, axis=1),
        "silence": np.zeros_like(call8),
    }
    for name, frames in extra.items():
        src = speech.write(work / "in.wav", frames, 8000)
        good.append(
            {
                "rate": 8000,
                "encoding": f"s16, {name}",
                "channels": 2,
                **figures(src, _convert(ffmpeg, src, work / "out.wav")),
            }
        )
    # The resamplers' worst case: white noise at -20 dBFS fills the whole band, the edges of the
    # compared band and everything ffmpeg's filter must keep from aliasing into it.
    noise = np.random.default_rng(0).standard_normal
    for rate in [r for r in rates if r > 8000]:
        src = speech.write(work / "in.wav", 0.1 * noise((int(seconds * rate), 1)), rate, "f32")
        good.append(
            {
                "rate": rate,
                "encoding": "f32, white noise",
                "channels": 1,
                **figures(src, _convert(ffmpeg, src, work / "out.wav")),
            }
        )

    bad: list[dict[str, Any]] = []
    for rate in (8000, 48000):
        call = speech.call(seconds, rate)
        src = speech.write(work / "in.wav", call, rate)
        out = _convert(ffmpeg, src, work / "out.wav")
        codes = np.frombuffer(out.read_bytes()[-int(seconds * 8000) :], np.uint8)
        flipped = _convert(ffmpeg, speech.write(work / "flipped.wav", call * [1, -1], rate), work / "flipped-out.wav")
        wrong = {
            "silence over speech": np.full(len(codes), SILENCE, np.uint8),
            "first half only": np.concatenate(
                [codes[: len(codes) // 2], np.full(len(codes) - len(codes) // 2, SILENCE, np.uint8)]
            ),
            "one leg's polarity flipped": np.frombuffer(flipped.read_bytes()[-len(codes) :], np.uint8),
            "one sample late": np.roll(codes, 1),
        }
        for name, wrong_codes in wrong.items():
            bad_out = work / "bad.wav"
            bad_out.write_bytes(speech.alaw_wav_bytes(wrong_codes))
            bad.append({"rate": rate, "case": name, **figures(src, bad_out)})
        mono = call.sum(axis=1)
        for gain, name in ((-1.0, "cancelling channels"), (-0.95, "channels 95 % cancelled")):
            src = speech.write(work / "in.wav", np.stack([mono, gain * mono], axis=1), rate)
            bad.append({"rate": rate, "case": name, **figures(src, _convert(ffmpeg, src, work / "out.wav"))})

    snr_cases = [b for b in bad if "channels" not in b["case"]]
    lowest_good = min(good, key=lambda r: r["worst_window_snr_db"])
    return {
        "thresholds": {
            "min_snr_db": audio.MIN_SNR_DB,
            "signal_floor_dbfs": audio.SIGNAL_FLOOR_DBFS,
            "max_channel_loss_db": audio.MAX_CHANNEL_LOSS_DB,
            "window_s": audio.WINDOW_S,
            "band_hz": audio.BAND_HZ,
        },
        "good": good,
        "bad": bad,
        "good_lowest_snr_db": min(r["snr_db"] for r in good),
        "good_lowest_window_snr_db": lowest_good["worst_window_snr_db"],
        "good_lowest_window_case": f"{lowest_good['rate']} Hz {lowest_good['encoding']} {lowest_good['channels']} ch",
        "good_largest_channel_loss_db": max(r["channel_loss_db"] for r in good),
        "bad_highest_window_snr_db": max(r["worst_window_snr_db"] for r in snr_cases),
        "bad_smallest_channel_loss_db": min(r["channel_loss_db"] for r in bad if "channels" in r["case"]),
        "speech_seconds": seconds,
    }


def _time(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def cost(ffmpeg: Path, src: Path, work: Path, repeats: int) -> dict[str, Any]:
    """The check against a bare ffmpeg pass on the same file, alternated, medians."""
    from optimizer.audio import check_audio
    from optimizer.conversion import ffmpeg_command
    from optimizer.wav import read_wav_info

    dst = work / "out.wav"
    command = ffmpeg_command(str(ffmpeg), str(src), str(dst))
    subprocess.run(command, check=True, capture_output=True)  # warm: binary and files in the page cache
    source, output = read_wav_info(src), read_wav_info(dst)
    check_audio(str(src), source, str(dst), output)
    bare, checks = [], []
    for _ in range(repeats):
        bare += _time(lambda: subprocess.run(command, check=True, capture_output=True), 1)
        checks += _time(lambda: check_audio(str(src), source, str(dst), output), 1)
    result = check_audio(str(src), source, str(dst), output)
    return {
        "file": src.name,
        "bytes": src.stat().st_size,
        "seconds_of_audio": source.frames / source.sample_rate,
        "repeats": repeats,
        "bare_ffmpeg_s": statistics.median(bare),
        "check_s": statistics.median(checks),
        "ratio": statistics.median(checks) / statistics.median(bare),
        "ratio_all": [c / b for c, b in zip(checks, bare, strict=True)],
        "measured": result.log_field(),
    }


def import_cost() -> dict[str, float]:
    """numpy and the check imported in a fresh interpreter: what a cold start pays once."""
    code = (
        "import time; t = time.perf_counter(); import optimizer.audio; dt = time.perf_counter() - t\n"
        "rss = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:'))\n"
        "print(dt, rss)"
    )
    base = subprocess.run(
        [
            sys.executable,
            "-c",
            "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lambdas = str(Path(__file__).resolve().parent.parent / "lambdas")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": lambdas}
    ).stdout.split()
    return {"import_s": float(out[0]), "rss_added_mb": (int(out[1]) - int(base)) / 1024}


def measure(ffmpeg: Path, data_dir: Path, *, quick: bool) -> dict[str, Any]:
    from .converter_memory import write_recording

    hour = write_recording(data_dir / "connect-3600s.wav", 3600, ffmpeg)
    hi_rate = data_dir / "speech-48k-600s.wav"
    if not hi_rate.exists():
        speech.write_long(hi_rate, 600, 48000)
    with tempfile.TemporaryDirectory(prefix="bench-audio-") as tmp:
        work = Path(tmp)
        results = {
            "hour_8k": cost(ffmpeg, hour, work, repeats=3 if quick else 5),
            "ten_minutes_48k": cost(ffmpeg, hi_rate, work, repeats=1 if quick else 3),
            "import": import_cost(),
            "margins": margins(ffmpeg, work),
        }
    h = results["hour_8k"]
    print(
        f"  audio check, 1 h at 8 kHz: {h['check_s']:.3f} s against {h['bare_ffmpeg_s']:.3f} s of bare ffmpeg "
        f"({h['ratio']:.2f})",
        file=sys.stderr,
    )
    return results
