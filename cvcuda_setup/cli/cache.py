"""``cvcuda-setup cache push|pull|ls``: built prefixes in an OCI registry, by cache key (``binarycache``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cvcuda_setup.cli.common import guard
from cvcuda_setup.console import console
from cvcuda_setup.envvars import default_prefix
from cvcuda_setup.errors import UsageError
from cvcuda_setup.oci.ref import OciRef

cache_app = typer.Typer(
    name="cache",
    help=(
        "A binary cache of built prefixes in an OCI registry (any registry: Debian's docker-registry, "
        "Harbor, GHCR ...), one artifact per cache key. `build --cache oci://HOST/REPO` uses it by itself: "
        "a hit installs in seconds, a miss builds and pushes. Credentials: $CVCUDA_SETUP_OCI_TOKEN, "
        "$CVCUDA_SETUP_OCI_USERNAME/$CVCUDA_SETUP_OCI_PASSWORD or the docker config; never printed.\n\n"
        "Examples:\n\n"
        "  cvcuda-setup cache push --prefix ~/opt/opencv-cuda oci://localhost:5000/opencv-cuda\n\n"
        "  cvcuda-setup cache ls oci://localhost:5000/opencv-cuda --json\n\n"
        "  cvcuda-setup cache pull oci://localhost:5000/opencv-cuda --key KEY --prefix ~/opt/opencv-cuda"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

RepoArg = Annotated[
    str | None,
    typer.Argument(
        metavar="oci://HOST/REPO",
        help="The registry repository [$CVCUDA_SETUP_BINARY_CACHE].",
        show_default=False,
    ),
]
PrefixOpt = Annotated[Path | None, typer.Option("--prefix", "-p", help="The prefix [$CVCUDA_SETUP_PREFIX].")]


def _repo(value: str | None) -> OciRef:
    from cvcuda_setup.binarycache import ENV_CACHE, cache_ref

    text = value or os.environ.get(ENV_CACHE, "")
    if not text:
        raise UsageError("no registry given", hint=f"pass oci://HOST/REPO or set ${ENV_CACHE}")
    return cache_ref(text)


@guard
def push(repo: RepoArg = None, prefix: PrefixOpt = None) -> None:
    """Push a prefix built by `cvcuda-setup build` under the cache key its manifest records."""
    from cvcuda_setup.binarycache import push_prefix, recorded_key

    where = (prefix or default_prefix()).expanduser().resolve()
    repo_ref, key = _repo(repo), recorded_key(where)  # bad input is named before anything is packed
    with console.step(f"push {where}"):
        moved = push_prefix(where, repo_ref, key=key)
    console.info(f"pushed {moved.size / 2**20:.1f} MiB as {moved.ref} in {moved.seconds:.1f} s")


@guard
def pull(
    repo: RepoArg = None,
    key: Annotated[str, typer.Option("--key", help="The cache key (64 hex digits, from `cache ls`).")] = "",
    prefix: PrefixOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Install into a non-empty prefix the tool did not create.")
    ] = False,
) -> None:
    """Install the binary of KEY into a prefix: every digest checked, installed atomically, paths rewritten
    where the prefix differs (refused where a library embeds the build's prefix)."""
    from dataclasses import replace

    from cvcuda_setup.binarycache import pull_prefix, tag_for

    if not key:
        raise UsageError("cache pull needs --key", hint="list the keys with `cvcuda-setup cache ls`")
    ref = replace(_repo(repo), tag=tag_for(key))
    where = (prefix or default_prefix()).expanduser().resolve()
    if where.exists() and not where.is_dir():
        raise UsageError(
            f"--prefix {where} is a file", hint="pass a directory (empty, or one cvcuda-setup built)"
        )
    with console.step(f"pull {ref}"):
        moved = pull_prefix(ref, where, force=force, key_digest=key)
    rewritten = " (paths rewritten)" if moved.relocated else ""
    console.info(f"installed {moved.size / 2**20:.1f} MiB into {where} in {moved.seconds:.1f} s{rewritten}")


@guard
def ls(
    repo: RepoArg = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the entries as JSON.")] = False,
) -> None:
    """List the binaries in the cache: key, OpenCV, recipe, arch, CUDA, size, when."""
    from cvcuda_setup.binarycache import arch_text, list_entries

    entries = list_entries(_repo(repo))
    if json_out:
        console.json({"entries": [e.to_json() for e in entries]})
        return
    table = Table(title=f"{len(entries)} binaries", title_justify="left")
    for column in ("key", "opencv", "recipe", "arch", "cuda", "size", "created"):
        table.add_column(column)
    for e in entries:
        recipe = e.parts.get("recipe")
        name = recipe.get("name", "") if isinstance(recipe, dict) else str(recipe or "")
        table.add_row(
            e.key[:16],
            str(e.parts.get("opencv_version", "")),
            name,
            arch_text(e.parts.get("arch")),
            str(e.parts.get("cuda_toolkit", "")),
            f"{e.size / 2**20:.1f} MiB",
            e.created[:16].replace("T", " "),
        )
    console.table(table)


def register(app: typer.Typer) -> None:
    cache_app.command("push")(push)
    cache_app.command("pull")(pull)
    cache_app.command("ls")(ls)
    app.add_typer(cache_app, name="cache")
