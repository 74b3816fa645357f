"""The session's vectors from the real BEAM (see etf_otp.py): Elixir runs once per session."""

import pytest
from etf_otp import read_vectors


@pytest.fixture(scope="session")
def otp_vectors() -> dict[str, tuple[bytes, bytes]]:
    """name -> (term_to_binary bytes, minor_version 2 bytes), from the installed OTP."""
    return read_vectors()
