"""Typed registries: clip sources, inits, downstream tasks, perturbations, image pools and stages.

An entry is a frozen dataclass (`Entry` or a subclass with the fields its kind needs), checked when it is added:
a unique name and aliases, a description, and a parameter dataclass that builds with its defaults; subclasses add
their own contract checks (`Entry.check`). A registry may name a package: every module in it is imported the first
time the registry is read (in `first` order, then alphabetically), so a new source, task or stage is one new file
in its package and nothing else.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from benchmark.errors import BenchError


@dataclass(frozen=True)
class Entry:
    name: str
    description: str
    params: type | None = None  # a dataclass of the entry's parameters, every field with a default
    aliases: tuple[str, ...] = ()

    def check(self) -> None:
        """Raise TypeError if the entry breaks its registry's contract (a programming error, not a user's)."""
        if not self.name or not self.description:
            raise TypeError(f"{type(self).__name__} needs a name and a description")
        if self.params is not None:
            if not dataclasses.is_dataclass(self.params):
                raise TypeError(f"{self.name}: params must be a dataclass, got {self.params!r}")
            try:
                self.params()
            except TypeError as e:
                raise TypeError(f"{self.name}: every field of {self.params.__name__} needs a default ({e})") from None

    @property
    def summary(self) -> str:
        """The description's first sentence, without parentheses, at most about 100 characters."""
        first = re.split(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)\.(?:\s|$)", self.description, maxsplit=1)[0]
        if len(first) > 100:
            first = re.sub(r"\s+\([^()]*\)", "", first).strip()
        if len(first) > 100:
            first = first[:100].rsplit(" ", 1)[0].rstrip(",;:") + " ..."
        return first


E = TypeVar("E", bound=Entry)


class Registry(Generic[E]):
    """Name -> entry, in registration order (the order listings show); aliases resolve to names."""

    def __init__(self, kind: str, package: str | None = None, first: tuple[str, ...] = ()):
        self.kind, self.package, self.first = kind, package, first
        self._entries: dict[str, E] = {}
        self._aliases: dict[str, str] = {}
        self._modules: dict[str, str] = {}  # entry name -> the module that registered it
        self._loaded = package is None

    def add(self, entry: E, module: str = "") -> E:
        """Register `entry`; `module` (the registering module's __name__) fixes the listing order."""
        entry.check()
        for name in (entry.name, *entry.aliases):
            if name in self._entries or name in self._aliases:
                raise TypeError(f"{self.kind} {name!r} is registered twice")
        self._entries[entry.name] = entry
        self._modules[entry.name] = module
        for alias in entry.aliases:
            self._aliases[alias] = entry.name
        return entry

    def _load(self) -> None:
        """Import every module of the package (each registers its entries as it is imported), then order the
        entries by module (`first`, then alphabetical) whatever order the modules happened to be imported in."""
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)
        found = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
        order = [m for m in self.first if m in found] + [m for m in found if m not in self.first]
        for name in order:
            importlib.import_module(f"{self.package}.{name}")
        rank = {f"{self.package}.{m}": i for i, m in enumerate(order)}
        position = {n: i for i, n in enumerate(self._entries)}
        names = sorted(position, key=lambda n: (rank.get(self._modules[n], len(rank)), position[n]))
        self._entries = {n: self._entries[n] for n in names}

    def canonical(self, name: str) -> str:
        self._load()
        name = self._aliases.get(name, name)
        if name not in self._entries:
            choices = list(self._entries) + list(self._aliases)
            close = difflib.get_close_matches(str(name), choices, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise BenchError(f"unknown {self.kind} {name!r}: {hint}choose one of {', '.join(self._entries)}")
        return name

    def get(self, name: str) -> E:
        return self._entries[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        self._load()
        return self._aliases.get(name, name) in self._entries  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[E]:
        self._load()
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def names(self) -> list[str]:
        self._load()
        return list(self._entries)
