"""Command-line front ends: argument parsing, output and exit codes; no policy."""
