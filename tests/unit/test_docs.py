"""The documentation: the site (mkdocs.yml, docs/) builds in strict mode, so a broken link, an unknown
anchor or a page left out of the nav fails here, in seconds, not on a reader; and the README stays a
few screens long, everything else being on the site."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mkdocs.commands.build import build
from mkdocs.config import load_config
from mkdocs.exceptions import Abort

REPO = Path(__file__).resolve().parents[2]
README_MAX_LINES = 250


def build_site(root: Path, site: Path) -> None:
    """What `mkdocs build --strict` does, in process (the fast tier starts no subprocess)."""
    build(load_config(config_file=str(root / "mkdocs.yml"), strict=True, site_dir=str(site)))


def test_the_site_builds_without_a_warning(tmp_path):
    build_site(REPO, tmp_path / "site")
    assert (tmp_path / "site" / "deploy" / "index.html").is_file()


def copy_of_the_docs(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    shutil.copy2(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    return tmp_path


@pytest.mark.parametrize(("link", "named"), [("[gone](missing.md)", "missing.md"),
                                             ("[gone](deploy.md#no-such-section)", "no-such-section")])
def test_a_broken_link_fails_the_build(tmp_path, caplog, link, named):
    root = copy_of_the_docs(tmp_path)
    with (root / "docs" / "index.md").open("a") as page:
        page.write(f"\n{link}\n")
    with pytest.raises(Abort, match="strict mode"):
        build_site(root, tmp_path / "site")
    assert named in caplog.text


def test_a_page_missing_from_the_nav_fails_the_build(tmp_path, caplog):
    root = copy_of_the_docs(tmp_path)
    (root / "docs" / "orphan.md").write_text("# Orphan\n")
    with pytest.raises(Abort, match="strict mode"):
        build_site(root, tmp_path / "site")
    assert "orphan.md" in caplog.text


def test_the_readme_fits_on_a_few_screens():
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move the detail to a page under docs/"
