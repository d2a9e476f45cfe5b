"""One small registry, used for pretraining sources, downstream tasks and (later) perturbations."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import BenchError


@dataclass(frozen=True)
class Entry:
    name: str
    description: str
    factory: Callable[..., Any]
    params: type | None = None  # a dataclass of the entry's parameters, with defaults
    aliases: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class Registry:
    """Name -> Entry, in registration order (the order `bench sources` shows)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, description: str, params: type | None = None,
                 aliases: tuple[str, ...] = (), **extra: Any) -> Callable:
        def decorator(factory: Callable) -> Callable:
            if name in self._entries or name in self._aliases:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, description, factory, params, tuple(aliases), extra)
            for alias in aliases:
                self._aliases[alias] = name
            return factory
        return decorator

    def canonical(self, name: str) -> str:
        name = self._aliases.get(name, name)
        if name not in self._entries:
            choices = list(self._entries) + list(self._aliases)
            close = difflib.get_close_matches(name, choices, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise BenchError(f"unknown {self.kind} {name!r}: {hint}choose one of {', '.join(self._entries)} "
                             f"(list them with `bench {self.kind}s`)")
        return name

    def get(self, name: str) -> Entry:
        return self._entries[self.canonical(name)]

    def __contains__(self, name: str) -> bool:
        return self._aliases.get(name, name) in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def names(self) -> list[str]:
        return list(self._entries)
