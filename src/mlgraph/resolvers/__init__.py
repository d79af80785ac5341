"""Domain rules for mutations, one module per domain (the write side lands here)."""
