"""Pure scoring core: transcripts in, reports out. Imports no web, queue or database code."""
