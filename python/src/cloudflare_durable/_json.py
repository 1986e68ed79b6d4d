"""What the package accepts as JSON (shared by the clients and the value objects)."""

from __future__ import annotations

from typing import Mapping, Sequence, Union

JSONValue = Union[None, bool, int, float, str, Sequence["JSONValue"], Mapping[str, "JSONValue"]]
"""What can be sent: dict (str keys), list, tuple, str, int (64-bit), float
(finite), bool and None, nested."""
