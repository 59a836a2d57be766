"""Where an SSO sign-in's time goes: pyinstrument over many ACS requests, summed by layer and by our functions."""
from __future__ import annotations

from collections import defaultdict

from bench.sso_cost import _people, _setup, form_body, post_as_browser
from tests.saml_signer import signed_response

LAYERS = (  # the first path fragment that matches names the layer of a frame's own time
    ("/sqlalchemy/", "SQLAlchemy (ORM, statements)"),
    ("sqlite3", "database driver"),
    ("/psycopg", "database driver"),
    ("/onelogin/", "python3-saml validation"),
    ("/xmlsec", "python3-saml validation"),
    ("/lxml/", "python3-saml validation"),
    ("/isodate/", "python3-saml validation"),
    ("/crm/", "our code"),
    ("/flask", "Flask, sessions, request"),
    ("/werkzeug/", "Flask, sessions, request"),
    ("/itsdangerous/", "Flask, sessions, request"),
    ("/jinja2/", "Flask, sessions, request"),
)


def _layer(path: str | None) -> str:
    path = path or "<built-in>"
    return next((name for fragment, name in LAYERS if fragment in path), "other (stdlib, built-ins)")


def _walk(frame, layers: dict, ours: dict, parent_layer: str | None = None) -> None:
    """Own time (time minus the children's) goes to the frame's layer. Built-ins and pyinstrument's synthetic
    frames count for the layer of the frame they sit in; the benchmark's own loop counts for nothing."""
    path = frame.file_path
    if path and "/bench/" in path:
        layer = None
    elif not path or path.startswith("<"):
        layer = parent_layer
    else:
        layer = _layer(path)
    if layer is not None:
        layers[layer] += max(frame.time - sum(child.time for child in frame.children), 0.0)
    if path and "/crm/" in path:
        ours[f"{frame.function} ({path.split('/crm/', 1)[1]})"] += frame.time
    for child in frame.children:
        _walk(child, layers, ours, layer)


def run(database_url: str, count: int = 100, top: int = 12) -> dict:
    """Profile `count` returning sign-ins and `count` first logins; shares in percent of each one's time."""
    from pyinstrument import Profiler

    app = _setup(database_url)
    client = app.test_client()

    def acs(bodies: tuple[bytes, bytes]) -> None:
        post_as_browser(app, client, bodies)

    returning = _people("profiled", count)
    for spec in returning:
        acs(form_body(signed_response(spec)))
    runs = {"returning_user": [form_body(signed_response(s)) for s in returning],
            "first_login": [form_body(signed_response(s)) for s in _people("profiled-new", count)]}
    results = {}
    for name, bodies in runs.items():
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for body in bodies:
            acs(body)
        profiler.stop()
        root = profiler.last_session.root_frame()
        layers: dict[str, float] = defaultdict(float)
        ours: dict[str, float] = defaultdict(float)
        _walk(root, layers, ours)
        total = sum(layers.values()) or 1.0
        results[name] = {
            "ms_per_sign_in": round(total * 1000 / len(bodies), 2),
            "layers_percent": {k: round(v * 100 / total, 1) for k, v in sorted(layers.items(), key=lambda kv: -kv[1])},
            "our_functions_percent": {k: round(v * 100 / total, 1)
                                      for k, v in sorted(ours.items(), key=lambda kv: -kv[1])[:top]},
        }
    return results


def report_lines(results: dict) -> list[str]:
    lines = ["## Where the time goes (pyinstrument, SQLite)", ""]
    for name, r in results.items():
        label = name.replace("_", " ")
        lines += [f"**{label}** ({r['ms_per_sign_in']} ms per sign-in under the profiler)", "",
                  "| layer (own time) | % |", "|---|---|"]
        lines += [f"| {layer} | {share} |" for layer, share in r["layers_percent"].items()]
        lines += ["", "| our function (time including what it calls) | % |", "|---|---|"]
        lines += [f"| `{fn}` | {share} |" for fn, share in r["our_functions_percent"].items()]
        lines.append("")
    return lines


if __name__ == "__main__":
    import json
    import tempfile
    from pathlib import Path

    print(json.dumps(run(f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}", 60), indent=2))
