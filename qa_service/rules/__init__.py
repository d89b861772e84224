"""Rule packs: schema, loading, compiled matching, example checks."""
