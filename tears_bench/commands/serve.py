"""`tears-bench serve RUN_DIR_OR_MODEL`: a local page to edit a user's summary and see the list move."""
from __future__ import annotations

from tears_bench.options import SERVE, add_options

DEFAULT_PORT = 8765


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="open a local page: edit a user's summary, move alpha, see the recommendations change",
        description="Serve one trained TEARS model on 127.0.0.1: pick a test user, edit the summary, move alpha, "
                    "and see the top-20 list, each item's rank change and gNDCG per genre; run the tasks' simulated "
                    "edits in one click and save edit sessions as JSONL (serve_sessions.jsonl) in the run folder. "
                    "TARGET is a run folder (its results.json gives the options), `latest` (the newest run folder in "
                    "results/) or a TEARS model name (trained with "
                    "the options below, or read from the cache). Needs `pip install 'tears-bench[serve]'`.")
    parser.add_argument("target", metavar="RUN_DIR_OR_MODEL", help="a run folder, latest (the newest in results/), or a model such as "
                                                                      "tears-multvae")
    parser.add_argument("--model", help="which of the run folder's models to serve (default its first)")
    parser.add_argument("--alpha", type=float, default=0.5, help="the slider's starting alpha (default 0.5)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                                                             "only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a "
                                                                         "free one)")
    add_options(parser, SERVE)  # every other flag is a field of tears_bench.options.RunConfig
    parser.set_defaults(func=main)


def main(args) -> int:
    from tears_bench.errors import TearsBenchError
    from tears_bench.options import given_options

    try:
        import uvicorn

        from tears_bench.serve.app import create_app
        create_app  # noqa: B018  (fastapi is imported when the app is built; check it is there now)
        import fastapi  # noqa: F401
    except ImportError as error:
        raise TearsBenchError(f"serve needs the web extra ({error.name} is missing): "
                              "pip install 'tears-bench[serve]'") from None
    from tears_bench.serve.loading import load_workbench
    from tears_bench.serve.workbench import check_alpha

    check_alpha(args.alpha)
    if not 0 <= args.port < 65536:
        raise TearsBenchError(f"--port must be in 0..65535, got {args.port}")
    workbench = load_workbench(args.target, given_options(args, SERVE), model=args.model, alpha=args.alpha)
    config = uvicorn.Config(create_app(workbench), host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)
    _announce(server, workbench, args.host)
    server.run()
    return 0


def _announce(server, workbench, host: str) -> None:
    """Print the address once the socket is bound (port 0 picks a free one)."""
    started = server.startup

    async def startup(sockets=None):
        await started(sockets=sockets)
        port = server.servers[0].sockets[0].getsockname()[1] if server.servers else server.config.port
        print(f"[tears-bench] serving {workbench.name} on {workbench.split.dataset}: http://{host}:{port}/ "
              f"(sessions go to {workbench.out_dir / 'serve_sessions.jsonl'}; Ctrl-C stops)", flush=True)

    server.startup = startup
