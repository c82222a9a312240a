"""The pipeline image's input hash: what changes it and what does not."""
import shutil
from pathlib import Path

import pytest

from ci.image import job_image as pipeline_image
from ci.project import REPO_ROOT


@pytest.fixture
def root(tmp_path) -> Path:
    for relative in pipeline_image.input_files():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, tmp_path / relative)
    return tmp_path


def test_the_copy_hashes_like_the_repository(root):
    assert pipeline_image.inputs_hash("b") == pipeline_image.inputs_hash("b", root)


@pytest.mark.parametrize("relative", ["requirements/ci.txt", "images/pipeline/Containerfile", "ci/cli.py",
                                      "loadtests/locustfile.py"])
def test_a_changed_input_changes_the_hash(root, relative):
    before = pipeline_image.inputs_hash("b", root)
    (root / relative).write_text((root / relative).read_text() + "\n# changed\n")
    assert pipeline_image.inputs_hash("b", root) != before


def test_base_image_is_an_input_and_caches_and_other_files_are_not(root):
    before = pipeline_image.inputs_hash("b", root)
    assert pipeline_image.inputs_hash("other", root) != before
    (root / "ci" / "__pycache__").mkdir(exist_ok=True)
    (root / "ci" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"x")
    (root / "service" / ".ruff_cache").mkdir()
    (root / "service" / ".ruff_cache" / "CACHEDIR.TAG").write_text("a tool's cache")
    (root / "README.md").write_text("not an input")
    assert pipeline_image.inputs_hash("b", root) == before
