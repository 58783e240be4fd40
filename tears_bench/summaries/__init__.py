"""User summaries: the TEARS user representation (protocol.md section 3).

    from tears_bench.summaries import get_summaries
    summaries = get_summaries(split, "template")            # or "openai:gpt-4o-mini", "file:x.json", ...
    text = summaries[user_index]; summaries.metadata; summaries.key

See registry.py for the summarizer specs and docs/summaries.md for the details.
"""
from tears_bench.summaries.prompt import PROMPT_VERSION, summary_messages
from tears_bench.summaries.registry import SummarySet, get_summaries, plan_summaries
from tears_bench.summaries.template import TEMPLATE_VERSION, template_summary

__all__ = ["PROMPT_VERSION", "TEMPLATE_VERSION", "SummarySet", "get_summaries", "plan_summaries",
           "summary_messages", "template_summary"]
