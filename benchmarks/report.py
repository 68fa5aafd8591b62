"""Tables, ratios, targets and the chart, shared by both runners.

A run's results are a dict::

    {"kind": "inprocess" | "wire", "meta": {...},
     "frameworks": {name: {"interface": "wsgi" | "asgi", "status": "ok" | why not,
                           "rps": {scenario: float | None},
                           "peak_rss_mib": float | None}}}
"""

from __future__ import annotations

import json
import os
import statistics
import typing as t

from .apps import BASELINE
from .apps import FLOOR
from .apps import FRAMEWORKS
from .apps.common import SCENARIO_NAMES

Results = dict[str, t.Any]

#: (what, numerator, denominator, scenarios or None for all, goal) per kind.
TARGETS: dict[str, list[tuple[str, str, str, tuple[str, ...] | None, float]]] = {
    "inprocess": [
        (
            "diota WSGI vs Flask",
            "diota-wsgi",
            "flask",
            tuple(s for s in SCENARIO_NAMES if s != "template"),
            2.0,
        ),
        ("diota WSGI vs Flask", "diota-wsgi", "flask", ("template",), 1.3),
        (
            "diota ASGI vs Starlette",
            "diota-asgi",
            "starlette",
            ("plaintext", "json", "path"),
            0.7,
        ),
        ("diota ASGI vs Quart", "diota-asgi", "quart", None, 5.0),
        ("async def view, diota WSGI vs Flask", "diota-wsgi", "flask", ("async",), 5.0),
    ],
    "wire": [
        ("diota (gunicorn) vs Flask (gunicorn)", "diota-wsgi", "flask", None, 1.3),
        (
            "diota (uvicorn) vs Starlette (uvicorn)",
            "diota-asgi",
            "starlette",
            None,
            0.8,
        ),
    ],
}


def _rps(results: Results, framework: str, scenario: str) -> float | None:
    row = results["frameworks"].get(framework)
    if not row or row.get("status") != "ok":
        return None
    value = row["rps"].get(scenario)
    return float(value) if value else None


def ratio(results: Results, num: str, den: str, scenario: str) -> float | None:
    """``num``'s requests/s over ``den``'s for ``scenario``, when both ran."""
    a, b = _rps(results, num, scenario), _rps(results, den, scenario)
    return None if a is None or b is None else a / b


def _rows(results: Results) -> list[str]:
    return [name for name in FRAMEWORKS if name in results["frameworks"]]


def _fmt_rps(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _spread(row: dict[str, t.Any]) -> str:
    spreads = [max(v) / min(v) for v in row.get("rounds", {}).values() if v]
    return f"{statistics.median(spreads):.2f}" if spreads else ""


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _status_cell(row: dict[str, t.Any]) -> str | None:
    status = row.get("status")
    return None if status == "ok" else str(status)


def markdown(results: Results, chart: str | None = None) -> str:
    """The whole report: requests/s, ratios, targets, memory."""
    meta = results["meta"]
    kind = results["kind"]
    out = [f"# {meta['title']}", "", meta["how"], ""]
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
    out += [
        f"Python {meta['python']}, {meta['cpus']} CPUs, {meta['date']}. {versions}.",
        "",
    ]
    if chart:
        out += [f"![ratios]({chart})", ""]

    names = _rows(results)
    spread_note = ""
    if any(results["frameworks"][n].get("rounds") for n in names):
        spread_note = (
            "*spread*: the median over scenarios of the fastest round over the"
            " slowest; far above 1 means the machine was busy and the row is noisy."
        )
    header = ["framework", *SCENARIO_NAMES, "peak RSS (MiB)"]
    if spread_note:
        header.append("spread")
    rows = []
    for name in names:
        row = results["frameworks"][name]
        status = _status_cell(row)
        if status:
            rows.append([name, *([status] + [""] * (len(SCENARIO_NAMES) - 1)), ""])
            continue
        rss = row.get("peak_rss_mib")
        cells = [
            name,
            *(_fmt_rps(_rps(results, name, s)) for s in SCENARIO_NAMES),
            "" if rss is None else f"{rss:.1f}",
        ]
        if spread_note:
            cells.append(_spread(row))
        rows.append(cells)
    out += ["## Requests/s", "", _table(header, rows), ""]
    if spread_note:
        out += [spread_note, ""]

    for title, against in (
        ("Ratio to Flask (WSGI rows) and to Starlette (ASGI rows)", BASELINE),
        ("Ratio to the bare floor (bare-wsgi / bare-asgi)", FLOOR),
    ):
        rows = []
        for name in names:
            row = results["frameworks"][name]
            if _status_cell(row):
                continue
            base = against[row["interface"]]
            rows.append(
                [
                    name,
                    *(
                        _fmt_ratio(ratio(results, name, base, s))
                        for s in SCENARIO_NAMES
                    ),
                ]
            )
        out += [f"## {title}", "", _table(["framework", *SCENARIO_NAMES], rows), ""]

    rows = []
    for what, num, den, scenarios, goal in TARGETS[kind]:
        for scenario in scenarios or SCENARIO_NAMES:
            value = ratio(results, num, den, scenario)
            met = "?" if value is None else ("met" if value >= goal else "MISSED")
            rows.append([what, scenario, _fmt_ratio(value), f">= {goal}x", met])
    out += [
        "## Targets",
        "",
        _table(["target", "scenario", "measured", "goal", ""], rows),
        "",
    ]

    notes = [
        f"- {f.name}: {f.note}"
        for f in FRAMEWORKS.values()
        if f.note and f.name in names
    ]
    notes += [f"- {note}" for note in meta.get("notes", ())]
    if notes:
        out += ["## Notes", "", *notes, ""]
    return "\n".join(out)


def chart(results: Results, path: str) -> None:
    """Bar charts of each row's ratio to Flask (WSGI) and Starlette (ASGI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(16, 5.5), sharey=True)
    for ax, interface in zip(axes, ("wsgi", "asgi"), strict=True):
        base = BASELINE[interface]
        names = [
            n
            for n in _rows(results)
            if results["frameworks"][n]["interface"] == interface
            and results["frameworks"][n].get("status") == "ok"
            and n != base
        ]
        width = 0.8 / max(len(names), 1)
        for i, name in enumerate(names):
            xs, ys = [], []
            for j, scenario in enumerate(SCENARIO_NAMES):
                value = ratio(results, name, base, scenario)
                if value is not None:
                    xs.append(j - 0.4 + width * (i + 0.5))
                    ys.append(value)
            ax.bar(xs, ys, width, label=name)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(SCENARIO_NAMES)), SCENARIO_NAMES, rotation=30)
        ax.set_title(f"{interface.upper()}: requests/s relative to {base}")
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("ratio (log scale)")
    fig.suptitle(results["meta"]["title"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: Results, out_dir: str, stem: str) -> str:
    """Write ``<stem>.json``, ``<stem>.png`` and ``<stem>.md``; return the markdown."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, stem + ".json"), "w") as f:
        json.dump(results, f, indent=2)
    png = stem + ".png"
    try:
        chart(results, os.path.join(out_dir, png))
    except ImportError:
        png = ""
        results["meta"].setdefault("notes", []).append(
            "matplotlib is not installed: no chart (pip install -e '.[benchmarks]')."
        )
    text = markdown(results, png or None)
    with open(os.path.join(out_dir, stem + ".md"), "w") as f:
        f.write(text)
    return text


def versions() -> dict[str, str]:
    """Installed versions of the measured frameworks and servers."""
    from importlib import metadata

    found = {}
    for name in (
        "diota",
        "flask",
        "quart",
        "starlette",
        "falcon",
        "fastapi",
        "gunicorn",
        "uvicorn",
    ):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found
