"""One gateway for bench/keys_overhead.py: the app and server `gemgate --workers 1` runs, but with
the database only when the config names one (the command line always adds SQLite).

    python -m bench.keys_overhead_gateway CONFIG PORT [--profile FILE [--profiler yappi]]

With --profile, the serving process is profiled until it is stopped and its stats are written to
FILE in pstats format (read them with `python -m pstats FILE`): by cProfile (wall time, the event
loop's thread only), or by yappi when installed (CPU time of every thread, the journal's fsync
and SQLite's threads included).
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gemgate.proxy import create_app, load_config
from gemgate.serving import Binding, GatewayServer, bind, serve


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keys_overhead_gateway")
    parser.add_argument("config", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("--profile", type=Path, metavar="FILE")
    parser.add_argument("--profiler", choices=("cprofile", "yappi"), default="cprofile")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    app = create_app(load_config(args.config, os.environ))
    bindings = [Binding(GatewayServer(app), bind("127.0.0.1", args.port))]
    if args.profile is None:
        return serve(bindings)
    if args.profiler == "yappi":
        return _serve_under_yappi(bindings, args.profile)
    profile = cProfile.Profile()
    try:
        return profile.runcall(serve, bindings)
    finally:
        profile.dump_stats(args.profile)


def _serve_under_yappi(bindings: list[Binding], path: Path) -> int:
    try:
        import yappi  # type: ignore[import-untyped, import-not-found, unused-ignore]  # optional: pip install yappi
    except ImportError:
        print("--profiler yappi: yappi is not installed (pip install yappi)", file=sys.stderr)
        return 2
    yappi.set_clock_type("cpu")
    yappi.start(builtins=True, profile_threads=True)
    try:
        return serve(bindings)
    finally:
        yappi.stop()
        yappi.get_func_stats().save(str(path), type="pstat")


if __name__ == "__main__":
    sys.exit(main())
