"""The running daemon: the composition root, features, supervision, liveness, systemd, metrics."""
