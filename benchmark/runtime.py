"""How code runs, shared by every layer: processes (single or torchrun), devices, autocast, torch.compile, and the
one way this project writes a file (atomically).

This is a leaf module: it imports nothing from the project but `errors`, and torch only inside the functions that
need it, so readers of records and the listing commands never pay for importing torch.

Processes: the same loops run unchanged under `torchrun --nproc_per_node N bench run ...` (or a Slurm job with
the same environment variables). Rank and world size come from RANK / WORLD_SIZE / LOCAL_RANK; NCCL on CUDA, gloo
on the CPU. Data indices are split by rank arithmetically, so no sampler state needs to be shared.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from benchmark.errors import BenchError

# ---------------------------------------------------------------------------------------------------------------
# writing files: a temporary file in the same folder, fsynced, then renamed into place


def _discard(path: Path) -> None:
    """Remove a temporary file if it is there (a read-only filesystem refuses even that: nothing to remove)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")


def _written(tmp: Path) -> int:
    try:
        return tmp.stat().st_size
    except OSError:
        return 0


def _space_error(path: Path, e: OSError, written: int = 0) -> BenchError:
    """One line for a failed write: which folder, why, how much it needed and how much room is left there."""
    folder = path.parent
    if e.errno == errno.ENOSPC:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = 0
        need = f"more than {written / 2**20:.1f} MiB needed, " if written else ""
        return BenchError(f"no space left in {folder} to write {path.name} ({need}{free / 2**20:.1f} MiB free): "
                          f"free some space or choose another folder")
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return BenchError(f"{folder} is not writable ({os.strerror(e.errno)}): choose another folder")
    return BenchError(f"cannot write {path} ({os.strerror(e.errno) if e.errno else e}): check the folder")


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write `path` through `write(binary file)` so that a reader never sees half a file: a temporary file in the
    same folder, flushed and fsynced, then renamed over `path`. On any failure (a full disk, a kill signal
    arriving as an exception) the temporary file is removed; OS errors become one-line BenchErrors."""
    path = Path(path)
    tmp = _temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        written = _written(tmp)
        _discard(tmp)
        raise _space_error(path, e, written) from None
    except RuntimeError as e:  # torch.save reports a failed write as RuntimeError, the OSError in its context
        written = _written(tmp)
        _discard(tmp)
        cause = e
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__context__ or cause.__cause__
        if cause is None and "write" not in str(e).lower():
            raise
        code = cause.errno if cause is not None and cause.errno else (errno.ENOSPC if _full(path.parent)
                                                                      else errno.EIO)
        raise _space_error(path, OSError(code, os.strerror(code)), written) from None
    except BaseException:
        _discard(tmp)
        raise
    return path


def _full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def atomic_save(obj: Any, path: Path) -> Path:
    """torch.save, atomically."""
    import torch
    return atomic_write(path, lambda f: torch.save(obj, f))


def remove_stale_temps(folder: Path) -> None:
    """Remove temporary files that a killed process left in `folder` (theirs: a pid that no longer runs)."""
    for tmp in folder.glob(".*.tmp"):
        parts = tmp.name.split(".")
        pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
        if pid is None or pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _discard(tmp)
        except PermissionError:
            pass


def check_writable(folder: Path, what: str) -> None:
    """Fail now, before any work, if `folder` could not be created or written (a file in the way, a read-only
    place). Creates nothing: the nearest existing ancestor is probed with a temporary file."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise BenchError(f"{what} {folder}: {existing} is a file, not a folder: choose another path")
    probe = _temp_name(existing / "write-probe")
    try:
        probe.write_bytes(b"")
    except OSError as e:
        raise BenchError(f"{what} {folder} is not writable ({os.strerror(e.errno) if e.errno else e} in "
                         f"{existing}): choose another folder") from None
    finally:
        _discard(probe)


# ---------------------------------------------------------------------------------------------------------------
# processes and devices


@dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    local_rank: int
    device: Any  # torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as tdist
            tdist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        import torch.distributed as tdist
        out: list[Any] = [None] * self.world
        tdist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        if self.world == 1:
            return obj
        import torch.distributed as tdist
        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]


def resolve_device(name: str, local_rank: int = 0):
    import torch
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BenchError(f"runtime.device {name!r} is not a device: use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BenchError("runtime.device is cuda but no CUDA device is visible: use --set runtime.device=cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def world_from_env() -> tuple[int, int, int]:
    """(rank, world, local rank) from torchrun's variables, else 0, 1, 0."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")), \
        int(os.environ.get("LOCAL_RANK", "0"))


def init(device_name: str = "auto") -> Dist:
    import torch
    import torch.distributed as tdist
    rank, world, local_rank = world_from_env()
    device = resolve_device(device_name, local_rank)
    if world > 1 and not tdist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        tdist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, world, local_rank, device)


def shutdown() -> None:
    import torch.distributed as tdist
    if tdist.is_initialized():
        tdist.destroy_process_group()


@contextlib.contextmanager
def processes(device_name: str) -> Iterator[Dist]:
    """The process group of a run: initialised on entry, destroyed on exit (also on errors)."""
    dist = init(device_name)
    try:
        yield dist
    finally:
        shutdown()


# ---------------------------------------------------------------------------------------------------------------
# numerics


def autocast(device, amp: str):
    """bf16 autocast on CUDA (unless amp is off); full precision on the CPU unless amp is bf16."""
    import torch
    enabled = (device.type == "cuda" and amp != "off") or amp == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def maybe_compile(model, compile_: str, device):
    """torch.compile on CUDA by default (`auto`), always with `on`, never with `off`."""
    import torch
    if compile_ == "on" or (compile_ == "auto" and device.type == "cuda"):
        return torch.compile(model)
    return model


def unwrap(model):
    """The module inside torch.compile and DistributedDataParallel wrappers."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)
