"""The lazy package exports (imagelist._lazy): a name is imported on first use and kept."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import pytest

import imagelist.cache
import imagelist.subscriber
import imagelist.trust
from imagelist.cache.lock import CacheLock
from imagelist.subscriber.update import Updater
from imagelist.trust.store import TrustStore


def test_names_resolve_to_their_submodules_objects_and_are_kept() -> None:
    assert imagelist.cache.CacheLock is CacheLock
    assert imagelist.subscriber.Updater is Updater
    assert imagelist.trust.TrustStore is TrustStore
    # Kept in the package, so the next use does not come back to __getattr__.
    assert vars(imagelist.trust)["TrustStore"] is TrustStore


@pytest.mark.parametrize("package", [imagelist.cache, imagelist.subscriber, imagelist.trust])
def test_an_unknown_name_is_an_attribute_error_naming_the_package(package: ModuleType) -> None:
    name = package.__name__
    with pytest.raises(AttributeError, match=rf"^module '{name}' has no attribute 'nothing'$"):
        package.nothing  # noqa: B018


def test_importing_the_package_imports_none_of_its_lazy_submodules() -> None:
    code = (
        "import sys, imagelist.cache, imagelist.trust; "
        "print(sorted(m for m in ('imagelist.cache.download', 'imagelist.cache.cache', "
        "'imagelist.trust.store', 'imagelist.trust.chain', 'sqlalchemy', 'requests') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
