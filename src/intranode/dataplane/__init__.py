"""The kernel side: a protocol, its Linux implementation and an in-memory fake."""
