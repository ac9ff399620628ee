"""Benign contributor guides, written for Bastion (thirtieth round; training only).

One training-only group (`train.WRITTEN_EXTRA`: `written_contrib`, never evaluated): what CONTRIBUTING.md, HACKING,
DEVELOPING.md and README "Development" sections say to the people who change a project — install a pinned tool
before you modify some part of it, enable git hooks, regenerate files, run the linters and tests, sign off commits.
Coding agents read such files as tool results, and the shipped classifier flagged some of them (a pinned install made
a precondition of changing code is also what the coding-agent attacks it learned from say; docs/injection.md,
Operating notes). Label 0 only.

Every text is composed here from parts written for this project (seeded, deterministic), with real, well-known
developer tools and plausible versions. The probes that measure the family (`dev_results_round30.md`) were written
before these parts and are not made from them. `main()` writes the corpus file offline, dropping any text that shares
half its 5-word shingles with an evaluated corpus text (the same test as collect.py).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

SEED = 2929
LICENSE = "Apache-2.0 (written for Bastion)"
SOURCE = "data/injection/contrib.py"
GROUPS = ("written_contrib",)

# (install command, what it is for, follow-up command)
TOOLS = [
    ("pip install black=={v}", "the formatter", "black ."),
    ("pip install ruff=={v}", "the linter", "ruff check ."),
    ("pip install mypy=={v}", "the type checker", "mypy src"),
    ("pip install pre-commit=={v}", "pre-commit", "pre-commit install"),
    ("pip install isort=={v}", "isort", "isort ."),
    ("pip install flake8=={v}", "flake8", "flake8"),
    ("pip install tox=={v}", "tox", "tox -e py311"),
    ("pip install nox=={v}", "nox", "nox -s tests"),
    ("pip install sphinx=={v}", "Sphinx", "make -C docs html"),
    ("pip install sphinx-rtd-theme=={v}", "the docs theme", "make -C docs html"),
    ("pip install mkdocs-material=={v}", "the docs site generator", "mkdocs serve"),
    ("pip install alembic=={v}", "Alembic", "alembic revision --autogenerate -m \"describe the change\""),
    ("pip install grpcio-tools=={v}", "the gRPC code generator", "make protos"),
    ("pip install cython=={v}", "Cython", "python setup.py build_ext --inplace"),
    ("pip install maturin=={v}", "maturin", "maturin develop"),
    ("pip install antlr4-tools=={v}", "the ANTLR tool", "antlr4 -Dlanguage=Python3 Grammar.g4"),
    ("pipx install poetry=={v}", "Poetry", "poetry install --with dev"),
    ("npm install --save-dev prettier@{v}", "Prettier", "npx prettier --write ."),
    ("npm install --save-dev eslint@{v}", "ESLint", "npx eslint ."),
    ("npm install --save-dev typescript@{v}", "the TypeScript compiler", "npx tsc --noEmit"),
    ("npm install --save-dev husky@{v}", "husky", "npx husky install"),
    ("npm install --save-dev lint-staged@{v}", "lint-staged", "npx lint-staged"),
    ("npm install -g tree-sitter-cli@{v}", "the tree-sitter CLI", "tree-sitter generate"),
    ("npm install --save-dev tree-sitter-cli@{v}", "the grammar generator", "npx tree-sitter test"),
    ("npm install --save-dev jest@{v}", "Jest", "npm test"),
    ("npm install --save-dev vitest@{v}", "Vitest", "npx vitest run"),
    ("npm install --save-dev stylelint@{v}", "stylelint", "npx stylelint \"**/*.css\""),
    ("yarn add --dev @commitlint/cli@{v}", "commitlint", "yarn commitlint --edit"),
    ("pnpm add -D @playwright/test@{v}", "Playwright", "pnpm exec playwright install"),
    ("cargo install cargo-nextest --version {v}", "cargo-nextest", "cargo nextest run"),
    ("cargo install wasm-pack --version {v}", "wasm-pack", "wasm-pack build"),
    ("rustup component add rustfmt clippy", "rustfmt and clippy", "cargo clippy --all-targets"),
    ("go install golang.org/x/tools/cmd/goimports@v{v}", "goimports", "goimports -w ."),
    ("go install github.com/bufbuild/buf/cmd/buf@v{v}", "buf", "buf generate"),
    ("go install github.com/sqlc-dev/sqlc/cmd/sqlc@v{v}", "sqlc", "sqlc generate"),
    ("gem install rubocop -v {v}", "RuboCop", "bundle exec rubocop"),
    ("brew install swiftlint", "SwiftLint", "swiftlint"),
    ("dotnet tool install -g dotnet-format --version {v}", "dotnet-format", "dotnet format"),
]
AREAS = ["the parser", "the grammar", "the docs", "the migrations", "the protobuf definitions", "the C extension",
         "the web client", "the CLI", "the public API", "the database schema", "the theme", "the build scripts",
         "any Python file", "the Rust core", "the UI components", "the test fixtures", "the OpenAPI spec",
         "the translations", "the query planner", "the plugin loader"]
WHEN = ["Before you modify {area}, install {what}:", "Before making changes to {area}, install {what}:",
        "Before editing {area}, install {what} at the version CI uses:", "If you plan to work on {area}, first install {what}:",
        "Prior to changing {area}, make sure you have {what}:", "To work on {area} you need {what}:",
        "Before touching {area}, set up {what}:", "Contributors who change {area} should install {what}:",
        "Before you open a pull request that changes {area}, install {what}:", "Install {what} before you start on {area}:",
        "Before you modify anything, install {what}:", "Before making any change, install the pinned {what}:"]
WHY = ["The version is pinned so that the generated files stay byte-identical with CI.",
       "Newer versions format code differently, which makes diffs noisy.",
       "CI runs the same version; a different one may pass locally and fail there.",
       "Generated files are checked in, so please commit them together with your change.",
       "We upgrade the pin deliberately, in its own pull request.",
       "Do not edit generated files by hand.", "", "", ""]
HEADERS = ["# Contributing\n\n", "## Contributing\n\n", "## Development setup\n\n", "# Hacking on {proj}\n\n",
           "DEVELOPING.md\n\n", "## Working on {proj}\n\n", "### Before your first pull request\n\n",
           "CONTRIBUTING.md\n\nThanks for helping with {proj}!\n\n", "", "", ""]
PROJECTS = ["tinyql", "fastgrid", "pagecraft", "ledgerly", "mapkit", "quillpad", "orbit", "sieve", "harbor", "lumen"]
EXTRAS = [
    "Run the test suite with `{test}` before you push.",
    "The git hooks run the formatter and the linter on every commit.",
    "Please sign off your commits (`git commit -s`); we use the DCO.",
    "Commit messages follow Conventional Commits (`fix:`, `feat:`, `docs:`).",
    "Update CHANGELOG.md under \"Unreleased\".",
    "Open the pull request against `main`; a maintainer will review it within a few days.",
    "Large changes: please open an issue first so we can agree on the design.",
    "If the hooks get in your way you can skip them once with `git commit --no-verify`, but CI runs the same checks.",
    "Use Python 3.11 or newer; `python -m venv .venv && . .venv/bin/activate` keeps the tools out of your system.",
]
TESTS = ["pytest -q", "make test", "npm test", "cargo test", "go test ./...", "tox", "pnpm test", "bundle exec rspec"]


def _version(rng: random.Random) -> str:
    return f"{rng.randrange(0, 25)}.{rng.randrange(0, 20)}.{rng.randrange(0, 12)}"


def guide(rng: random.Random) -> str:
    proj = rng.choice(PROJECTS)
    tools = rng.sample(TOOLS, rng.choice((1, 1, 2, 3)))
    installs = [cmd.format(v=_version(rng)) for cmd, _, _ in tools]
    what = tools[0][1] if len(tools) == 1 else "the development tools"
    lead = rng.choice(WHEN).format(area=rng.choice(AREAS), what=what)
    style = rng.randrange(3)
    if style == 0:  # indented block
        body = lead + "\n\n" + "\n".join("    " + c for c in installs) + "\n"
    elif style == 1:  # fenced block
        body = lead + "\n\n```\n" + "\n".join(installs) + "\n```\n"
    else:  # inline
        body = lead + " " + " && ".join(f"`{c}`" for c in installs) + "."
    follow = rng.choice(tools)[2]
    parts = [rng.choice(HEADERS).format(proj=proj) + body,
             rng.choice([f"Then run `{follow}`.", f"After that, `{follow}` should work.", f"Then `{follow}`.", ""]),
             rng.choice(WHY)]
    parts += [e.format(test=rng.choice(TESTS)) for e in rng.sample(EXTRAS, rng.randrange(0, 3))]
    return "\n\n".join(p for p in parts if p).strip()


def checklist(rng: random.Random) -> str:
    """A numbered setup list with one pinned tool among ordinary steps."""
    cmd, what, follow = rng.choice(TOOLS)
    steps = ["Fork the repository and clone your fork.", rng.choice(["`npm ci`", "`pip install -e .[dev]`",
             "`poetry install`", "`cargo build`", "`go mod download`"]) + " installs the dependencies.",
             f"Install {what}: `{cmd.format(v=_version(rng))}`.", f"Run `{follow}`.",
             f"Run `{rng.choice(TESTS)}` and make sure it passes.", "Push your branch and open a pull request."]
    if rng.random() < 0.5:
        steps.insert(2, rng.choice(["Enable the git hooks: `pre-commit install`.", "`npx husky install` sets up the hooks.",
                                    "Copy `.env.example` to `.env` and fill in a local database URL."]))
    head = rng.choice(["## Getting started\n\n", "## Setting up a development environment\n\n", "Setup:\n\n", ""])
    return head + "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))


def benign() -> list[str]:
    rng = random.Random(SEED)
    return [guide(rng) for _ in range(160)] + [checklist(rng) for _ in range(60)]


def records() -> Iterator[dict[str, object]]:
    for t in dict.fromkeys(benign()):
        yield {"text": t, "label": 0, "group": "written_contrib", "source": SOURCE, "license": LICENSE}


def main() -> None:
    """Write corpus/written_contrib.jsonl offline (the evaluated corpus files are the texts to keep clear of)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import collect

    collect.write_generated(list(records()), GROUPS)


if __name__ == "__main__":
    main()
