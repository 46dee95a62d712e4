"""claude-force-trio: run teams of Claude agents as DAG workflows on trio."""
