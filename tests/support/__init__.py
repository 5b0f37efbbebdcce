"""What the tests share that is not a fixture: paths, factories of rows, fakes and reference data.

Fixtures live in the ``conftest.py`` of the folder whose tests use them; these modules are
imported by name (``from tests.support.factories import add_customer``).
"""

from pathlib import Path

#: The repository's root: the shipped ``config/`` and ``templates/`` are read from here.
ROOT = Path(__file__).resolve().parents[2]
