"""Running a node: the server, graceful shutdown, health, metrics, logs and the garbage collector."""
