"""Thin command modules: parse, call a stage, render. Each module registers its command(s) on the root app."""
