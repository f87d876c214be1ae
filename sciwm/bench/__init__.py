"""Benchmark of the world model against reference MD: metrics (`metrics`) and figures (`figures`)."""
