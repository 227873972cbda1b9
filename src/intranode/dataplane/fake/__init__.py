"""In-memory twin of the Linux data plane for unit tests."""
