"""Durable writes from Python, as the engine's ``writeDurably``: a temporary ``.NAME.tmp-PID`` in
the same folder, flushed, renamed into place, the folder flushed; what killed writes of processes
no longer alive left in the folder is removed first."""
import os


def remove_stale_temporaries(folder):
    """Removes ``.NAME.tmp-PID`` files whose process is gone."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.startswith(".") or ".tmp-" not in name:
            continue
        pid = name.rsplit(".tmp-", 1)[1]
        if not pid.isdigit() or int(pid) <= 0:
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass
        except PermissionError:
            pass  # another user's live process


def write_text(path, text):
    """Writes ``text`` to ``path`` durably (never a half-written file)."""
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(folder)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
