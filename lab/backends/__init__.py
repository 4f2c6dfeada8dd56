"""Search backends behind one interface: the embedded engine (default) and OpenSearch."""
