"""Build the typed profile (``model.ProfileModel``) from validated data with defaults filled.

Generic over the generated dataclasses: lists become tuples, nested objects their dataclass,
so the model is immutable and every attribute has the type the schema gives it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from buildkit.profile.model import ProfileModel

T = TypeVar("T")


def build_model(data: Mapping[str, Any]) -> ProfileModel:
    return _build(ProfileModel, data)


def _build(cls: type[T], data: Mapping[str, Any]) -> T:
    hints = typing.get_type_hints(cls)
    values = {
        field.name: _convert(hints[field.name], data.get(field.name))
        for field in dataclasses.fields(cls)  # type: ignore[arg-type]
    }
    return cls(**values)


def _convert(annotation: Any, value: Any) -> Any:
    if value is None:
        return None
    if dataclasses.is_dataclass(annotation) and isinstance(value, Mapping):
        return _build(annotation, value)  # type: ignore[arg-type]
    origin = typing.get_origin(annotation)
    if origin is tuple:
        item = typing.get_args(annotation)[0]
        return tuple(_convert(item, v) for v in value)
    if origin in (types.UnionType, typing.Union):
        for option in typing.get_args(annotation):
            if dataclasses.is_dataclass(option) and isinstance(value, Mapping):
                return _build(option, value)  # type: ignore[arg-type]
        return value
    if origin is Mapping or annotation is Mapping:
        return types.MappingProxyType(dict(value))
    return value
