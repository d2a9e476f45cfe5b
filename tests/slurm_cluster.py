"""A real one-node Slurm for the sweep tests: Debian's slurmctld, slurmd and munge, started in a private folder
(own munge key and socket, own slurm.conf, state and logs, free ports) and stopped by PID.

`.ci/run` installs the packages (apt-get install slurmctld slurmd slurm-client munge); where they are missing or
the daemons cannot start (no root, no munge), `start` returns the reason and the tests that need Slurm are skipped
with it. Nothing outside the folder is touched; clients find the cluster through SLURM_CONF.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    folder: Path
    conf: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *cmd: str, check: bool = True, timeout: float = 30) -> str:
        out = subprocess.run(list(cmd), capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def stop(self) -> None:
        try:
            self.run("scancel", "--full", "--user", str(os.getuid()), check=False, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for p in reversed(self.processes):  # slurmd, slurmctld, munged: each by its own PID
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.processes.clear()


def missing() -> str | None:
    """Why a local Slurm cannot run here, or None."""
    absent = [b for b in BINARIES if shutil.which(b) is None]
    if absent:
        return (f"Slurm/munge not installed ({', '.join(absent)} missing): apt-get install slurmctld slurmd "
                f"slurm-client munge")
    if os.geteuid() != 0:
        return "a private slurmd must run as root (it starts jobs as their user)"
    return None


def _wait(what: str, ok, timeout: float, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        dead = [p.args[0] for p in cluster.processes if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(map(str, dead))} exited while waiting for {what}")
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def start(folder: Path, cpus: int = 2, memory_mb: int = 4000) -> Cluster:
    """Start munged, slurmctld and slurmd in `folder`; returns when the node is idle. Raises RuntimeError (with
    the daemons' log tails) if they do not come up."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool", "munge"):
        (folder / sub).mkdir(exist_ok=True)
    key = folder / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = folder / "munge" / "munge.socket"
    host = socket.gethostname()
    conf = folder / "slurm.conf"
    conf.write_text("\n".join([
        "ClusterName=bench-test",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={sock}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SlurmUser=root",
        "SlurmdUser=root",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "ReturnToService=2",
        "JobRequeue=1",
        "KillWait=2",  # seconds between SIGTERM and SIGKILL: a requeued test job goes at once
        "MinJobAge=300",
        "SchedulerParameters=defer_batch=0",
        "MailProg=/bin/true",
        f"StateSaveLocation={folder / 'state'}",
        f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
        f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}",
        f"SlurmdLogFile={folder / 'slurmd.log'}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ]) + "\n")
    cluster = Cluster(folder, conf)
    env = cluster.env
    try:
        cluster.processes.append(subprocess.Popen(
            ["munged", "--foreground", "--force", f"--key-file={key}", f"--socket={sock}",
             f"--pid-file={folder / 'munge' / 'munged.pid'}", f"--log-file={folder / 'munged.log'}",
             f"--seed-file={folder / 'munge' / 'munged.seed'}"],
            stdout=subprocess.DEVNULL, stderr=open(folder / "munged.err", "w"), env=env))
        _wait("munged's socket", sock.exists, 15, cluster)
        for daemon in ("slurmctld", "slurmd"):
            cluster.processes.append(subprocess.Popen([daemon, "-D", "-f", str(conf)], stdout=subprocess.DEVNULL,
                                                      stderr=open(folder / f"{daemon}.err", "w"), env=env))
        _wait("the node to be idle", lambda: "idle" in cluster.run("sinfo", "--noheader", "--format=%T",
                                                                     check=False), 60, cluster)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        cluster.stop()
        tails = {n: (cluster.log(n) + (folder / f"{n}.err").read_text(errors="replace")
                     if (folder / f"{n}.err").is_file() else cluster.log(n))[-600:]
                 for n in ("munged", "slurmctld", "slurmd")}
        raise RuntimeError(f"{e}; logs: {tails}") from None
    return cluster
