"""`tears-bench serve`: a local page to edit a user's summary and watch the recommendations move.

workbench.py holds the logic (no web framework), loading.py builds it from a run folder or a
model name, app.py is the FastAPI app (optional extra `[serve]`), static/ the page.
"""
