"""The web app of `tears-bench serve`: a JSON API over a Workbench, and the page in static/.

Nothing here reads a path from a request: the page's files come from this package's static/
folder (StaticFiles refuses paths outside it) and sessions are written to one file of the run
folder. Every request is checked (body size, text length, alpha in [0, 1], known user ids) and a
refusal is one line: {"error": "..."}.
"""
# No `from __future__ import annotations`: FastAPI reads the request models of create_app from live annotations.

from pathlib import Path
from typing import Literal

from tears_bench.errors import TearsBenchError
from tears_bench.serve.workbench import MAX_N, TEXT_LIMIT, InputError

STATIC = Path(__file__).with_name("static")
MAX_BODY_BYTES = 64 * 1024


def create_app(workbench):
    """The FastAPI app serving `workbench` (fastapi comes with `pip install 'tears-bench[serve]'`)."""
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel, ConfigDict, Field

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class RecommendRequest(Strict):
        user_id: str = Field(max_length=64)
        text: str = Field(max_length=TEXT_LIMIT)
        alpha: float = Field(ge=0.0, le=1.0)
        n: int = Field(20, ge=1, le=MAX_N)

    class SimulateRequest(Strict):
        user_id: str = Field(max_length=64)
        task: Literal["flip", "rank", "guided"]
        alpha: float = Field(ge=0.0, le=1.0)
        item: int | None = None
        genre: str | None = Field(None, max_length=100)
        direction: Literal["more", "less"] = "more"

    class SessionRequest(Strict):
        user_id: str = Field(max_length=64)
        edited: str = Field(max_length=TEXT_LIMIT)
        alpha: float = Field(ge=0.0, le=1.0)
        simulated: Literal["flip", "rank", "guided"] | None = None

    app = FastAPI(title="tears-bench serve", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse({"error": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(InputError)
    async def input_error(request: Request, error: InputError):
        return JSONResponse({"error": str(error)}, status_code=error.status)

    @app.exception_handler(TearsBenchError)
    async def bench_error(request: Request, error: TearsBenchError):  # e.g. an LLM editor that failed
        return JSONResponse({"error": str(error)}, status_code=502)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        return JSONResponse({"error": validation_message(error.errors())}, status_code=422)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/info")
    def info():
        return workbench.info()

    @app.get("/api/users")
    def users(q: str = Query("", max_length=64), limit: int = Query(20, ge=1, le=200)):
        return workbench.search_users(q, limit)

    @app.get("/api/users/{user_id}")
    def user(user_id: str):
        return workbench.user(user_id)

    @app.post("/api/recommend")
    def recommend(body: RecommendRequest):
        return workbench.recommend(body.user_id, body.text, body.alpha, body.n)

    @app.post("/api/simulate")
    def simulate(body: SimulateRequest):
        return workbench.simulate(body.user_id, body.task, body.alpha, item=body.item, genre=body.genre,
                                  direction=body.direction)

    @app.post("/api/sessions")
    def sessions(body: SessionRequest):
        return workbench.save_session(body.user_id, body.edited, body.alpha, body.simulated)

    return app


def validation_message(errors: list[dict]) -> str:
    """One line from pydantic's errors: 'alpha: Input should be less than or equal to 1 (got 1.5)'."""
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = list(first.get("loc", ()))
    where = ".".join(str(part) for part in (loc[1:] if loc[:1] in (["body"], ["query"], ["path"]) else loc))
    got = first.get("input")
    shown = "" if got is None or isinstance(got, (dict, list)) else \
        f" (got {got[:40]!r})" if isinstance(got, str) else f" (got {got})"
    more = f"; and {len(errors) - 1} more problem(s)" if len(errors) > 1 else ""
    return f"{where or 'request'}: {first.get('msg', 'invalid')}{shown}{more}"


class BackgroundServer:
    """The app on a real uvicorn server in a daemon thread (the tests and the latency benchmark):
    `url` once it listens (port 0 picks a free one); `stop()` shuts it down."""

    def __init__(self, workbench, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0):
        import threading
        import time

        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(create_app(workbench), host=host, port=port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise TearsBenchError(f"the serve app did not start on {host}:{port}")
            time.sleep(0.05)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
