"""The report's chart: one PNG with a panel per benchmark that ran."""
from __future__ import annotations

from pathlib import Path


def draw(results: dict, path: Path) -> Path:
    """Draw what is in `results` (absent or skipped benchmarks leave their panel out) and save it as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    panels = [draw_panel for key, draw_panel in PANELS if _ran(results.get(key))]
    figure, axes = plt.subplots(1, max(len(panels), 1), figsize=(5.2 * max(len(panels), 1), 4.2), squeeze=False)
    for ax, draw_panel in zip(axes[0], panels, strict=False):
        draw_panel(ax, results)
    figure.suptitle(f"make bench · {results['when']} · {results['machine']['cpus']} CPUs", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _ran(section) -> bool:
    return bool(section) and not (isinstance(section, dict) and section.get("skipped"))


def _sign_in(ax, results: dict) -> None:
    runs = results["sso_sign_in"]
    labels = ["bare python3-saml", "returning user", "first login"]
    keys = ["reference", "returning_user", "first_login"]
    width = 0.8 / len(runs)
    for i, (database, r) in enumerate(runs.items()):
        xs = [k + i * width for k in range(len(keys))]
        bars = ax.bar(xs, [r[k]["median_ms"] for k in keys], width, label=database)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks([k + width * (len(runs) - 1) / 2 for k in range(len(keys))], labels, fontsize=8)
    ax.set_ylabel("median ms per sign-in")
    ax.set_title("1. One SSO sign-in, in process", fontsize=9)
    ax.legend(fontsize=7)


def _hostile(ax, results: dict) -> None:
    hostile = results["hostile"]
    names = ["valid sign-in", *hostile["cases"]]
    values = [hostile["valid_sign_in"]["median_ms"], *(c["median_ms"] for c in hostile["cases"].values())]
    colours = ["tab:green"] + ["tab:red"] * len(hostile["cases"])
    ax.barh(range(len(names)), values, color=colours)
    ax.set_yticks(range(len(names)), [n if len(n) < 28 else n[:26] + "…" for n in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("median ms until refused")
    ax.set_title("2. Hostile responses vs a valid one", fontsize=9)


def _storm(ax, results: dict) -> None:
    storm = results["storm"]["rounds"]
    rounds = [r for r in ("first", "again") if r in storm]
    percentiles = ["p50_ms", "p95_ms", "p99_ms"]
    width = 0.8 / max(len(rounds), 1)
    for i, name in enumerate(rounds):
        xs = [k + i * width for k in range(len(percentiles))]
        bars = ax.bar(xs, [storm[name].get(p, 0) for p in percentiles], width,
                      label=f"{name}: {storm[name].get('sign_ins_per_s', '?')}/s")
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks([k + width * (len(rounds) - 1) / 2 for k in range(len(percentiles))], ["p50", "p95", "p99"])
    ax.set_ylabel("latency ms")
    ax.set_title("3. Login storm over HTTP (PostgreSQL)", fontsize=9)
    ax.legend(fontsize=7)


def _contacts(ax, results: dict) -> None:
    contacts = results["contacts"]
    rows = contacts.get("chart") or []
    if not rows:
        ax.set_axis_off()
        return
    engines = list(rows[0]["p95_ms"])
    width = 0.8 / len(engines)
    for i, engine in enumerate(engines):
        ys = [k - 0.4 + width * (i + 0.5) for k in range(len(rows))]
        ax.barh(ys, [r["p95_ms"][engine] for r in rows], width, label=engine)
    ax.axvline(contacts["targets"]["p95_ms_under"], color="#b42318", linestyle="--", linewidth=1, label="target")
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("p95 ms through Flask")
    ax.set_title(f"4. Contacts at {contacts['targets']['judged_at']:,}", fontsize=9)
    ax.legend(fontsize=7)


def _scim(ax, results: dict) -> None:
    engines = results["scim"]["engines"]
    names = list(next(iter(engines.values()))["reads"])
    width = 0.8 / len(engines)
    for i, (database, e) in enumerate(engines.items()):
        bars = ax.bar([k + i * width for k in range(len(names))], [e["reads"][n]["p95_ms"] for n in names], width,
                      label=f"{database}: writes {e['writes']['achieved_rate']}/s, {e['writes']['errors']} errors")
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks([k + width * (len(engines) - 1) / 2 for k in range(len(names))],
                  [n.replace("_", " ") for n in names], fontsize=6, rotation=20)
    ax.axhline(20, color="tab:red", linestyle=":", linewidth=1)
    ax.axhline(100, color="tab:red", linestyle="--", linewidth=1)
    ax.set_ylabel("p95 ms (targets: filter 20, page 100)")
    ax.set_title("7. SCIM over HTTP", fontsize=9)
    ax.legend(fontsize=6)


PANELS = (("sso_sign_in", _sign_in), ("hostile", _hostile), ("storm", _storm), ("contacts", _contacts),
          ("scim", _scim))
