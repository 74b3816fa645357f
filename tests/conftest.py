import logging

import pytest


@pytest.fixture(autouse=True)
def _loud_again():
    """A test may silence expected crash reports (helpers.quiet); the next one hears them."""
    yield
    logging.getLogger("beamlet").setLevel(logging.NOTSET)
