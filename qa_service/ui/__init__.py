"""The QA team's web UI (server-rendered Jinja2, plotly.js from the plotly package, a little vanilla JS)."""
